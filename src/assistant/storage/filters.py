"""The one filter model of search, ask and the web app, and its engine conditions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from assistant.storage.engines.base import Match, Range


@dataclass
class Filters:
    """Search filters; text values match case-insensitively."""

    organisations: list[str] | None = None
    doc_ids: list[str] | None = None
    countries: list[str] | None = None
    themes: list[str] | None = None
    year_from: int | None = None
    year_to: int | None = None
    kinds: list[str] | None = None  # document kinds ("bando", "delibera", "scheda progetto")


def norm_key(value: str) -> str:
    return " ".join(value.lower().split())


NO_KIND = "\x00"  # matches no passage: a kind filter naming only kinds no document has


def conditions(f: Filters | None, known_kinds: Iterable[str] = ()) -> list[Match | Range]:
    """The engine conditions of `f`. Kinds are matched case-insensitively against `known_kinds` (the spellings the
    stored documents use: passages carry their kind as written, so no store needs indexing again)."""
    if f is None:
        return []
    must: list[Match | Range] = []
    for key, values in (("meta.org_key", f.organisations), ("meta.country_keys", f.countries),
                        ("meta.theme_keys", f.themes)):
        if values:
            must.append(Match(key, tuple(norm_key(v) for v in values)))
    if f.doc_ids:
        must.append(Match("meta.doc_id", tuple(f.doc_ids)))
    if f.year_from is not None or f.year_to is not None:
        must.append(Range("meta.year", f.year_from, f.year_to))
    if f.kinds:
        wanted = {norm_key(k) for k in f.kinds}
        spelled = sorted({k for k in known_kinds if k and norm_key(k) in wanted})
        must.append(Match("meta.source_kind", tuple(spelled) or (NO_KIND,)))
    return must
