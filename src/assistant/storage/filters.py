"""The one filter model of search, ask and the web app, and its engine conditions."""

from __future__ import annotations

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


def norm_key(value: str) -> str:
    return " ".join(value.lower().split())


def conditions(f: Filters | None) -> list[Match | Range]:
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
    return must
