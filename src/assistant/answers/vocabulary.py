"""The words questions are read with: places (gazetteer), organisation types, roles, frequent words, and the
one-letter slips of each (typed in a chat), from `data/places.json`, `data/constraint_words.json` and
`data/common_words.txt`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from assistant.core.fuzzy import OneEdit
from assistant.core.text import strip_accents, words

YEAR = re.compile(r"^(1[5-9]\d\d|20\d\d)$")
YEAR_RANGE = re.compile(r"\b((?:1[5-9]|20)\d\d)\s*[-/–]\s*((?:1[5-9]|20)\d\d)\b")
CONNECTORS = {"di", "del", "della", "dello", "dei", "degli", "delle", "d", "of", "the"}
# Participles, infinitives (with a pronoun: "candidarmi") and plural verb forms: how a question asks, not what about.
VERB_FORM = re.compile(r"(?:ano|ono|ato|ata|ati|ate|ito|ita|iti|ite|tto|tta|tti|tte|lto|lta|lti|lte|uto|uta|uti|ute|"
                       r"are|ere|ire|ava|eva|iva|(?:ar|er|ir)(?:mi|ti|si|ci|vi|lo|la|li|le|ne))$")
# Left out when a name is compared loosely: "Reggio nell'Emilia" ~ "Reggio Emilia", "Città di Castello".
LOOSE = CONNECTORS | {"nel", "nell", "nella", "nello", "l", "la", "il", "lo", "sul", "sull", "in", "a", "al", "all"}


def norm(token: str) -> str:
    return strip_accents(token.lower())


@dataclass
class Place:
    name: str
    forms: list[tuple[str, ...]]  # token sequences: the name, the English name
    adjective_forms: set[str]  # every inflection of its adjectives: umbro, umbra, umbri, umbre


@dataclass
class Vocab:
    places: list[Place]
    by_first: dict[str, list[tuple[tuple[str, ...], Place]]]
    by_adjective: dict[str, list[Place]]
    roles: dict[str, list[tuple[str, ...]]]
    role_index: dict[tuple[str, ...], str]
    generic: set[str]
    org_types: list[tuple[str, ...]]
    role_determiners: set[str]
    place_prepositions: set[str]
    territorial: list[tuple[str, ...]]
    locative: set[str]


def tokens_of(text: str) -> list[str]:
    return [norm(m.group(0)) for m in words(text)]


@lru_cache(maxsize=1)
def vocab() -> Vocab:
    data_dir = resources.files("assistant") / "data"
    places_raw = json.loads((data_dir / "places.json").read_text(encoding="utf-8"))["places"]
    words_raw = json.loads((data_dir / "constraint_words.json").read_text(encoding="utf-8"))
    places: list[Place] = []
    by_first: dict[str, list[tuple[tuple[str, ...], Place]]] = {}
    by_adjective: dict[str, list[Place]] = {}
    for row in places_raw:
        forms = {tuple(tokens_of(row["name"])), tuple(tokens_of(row["en"]))}
        adjs = {f for a in row["adjectives"] for t in tokens_of(a) for f in inflections(t)}
        place = Place(row["name"], sorted(forms), adjs)
        places.append(place)
        for form in forms:
            by_first.setdefault(form[0], []).append((form, place))
        for a in adjs:
            by_adjective.setdefault(a, []).append(place)
    for entries in by_first.values():
        entries.sort(key=lambda e: -len(e[0]))  # longest name first: "Bosnia ed Erzegovina" before "Bosnia"
    roles = {k: [tuple(tokens_of(f)) for f in forms] for k, forms in words_raw["roles"].items()}
    role_index = {form: k for k, forms in roles.items() for form in forms}
    return Vocab(places, by_first, by_adjective, roles, role_index, {norm(w) for w in words_raw["generic"]},
                 [tuple(tokens_of(t)) for t in words_raw["org_types"]], {norm(w) for w in words_raw["role_determiners"]},
                 {norm(w) for w in words_raw["place_prepositions"]},
                 [tuple(tokens_of(t)) for t in words_raw["territorial_org_types"]],
                 {norm(w) for w in words_raw["locative_prepositions"]})


@lru_cache(maxsize=1)
def slips() -> tuple[OneEdit, OneEdit, OneEdit, OneEdit]:
    """One-slip indices of role words, institution types, one-word place names and frequent words."""
    v = vocab()
    roles = OneEdit(form[0] for form in v.role_index if len(form) == 1)
    orgs = OneEdit(t[0] for t in v.org_types if len(t) == 1)
    places = OneEdit(first for first, entries in v.by_first.items() if any(len(f) == 1 for f, _ in entries))
    return roles, orgs, places, OneEdit(common_words())


def slip_of(index: OneEdit, tok: str) -> str | None:
    """The word of `index` that `tok` is one slip from, when `tok` is no word itself ("sndaco" → "sindaco")."""
    if tok in common_words() or len(tok) < 5:
        return None
    return index.match(tok)


def near_common(tok: str) -> bool:
    """A frequent word, one with a letter dropped ("qundo"), or a verb form ("candidarmi"): not a name. (Not any
    slip: "mostar" is a city, not "mostra" mistyped.)"""
    if tok in common_words() or VERB_FORM.search(tok):
        return True
    return bool(slips()[3].restored(tok))


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Frequent Italian and English words (wordfreq, Zipf ≥ 4; built by tools/build_word_data.py)."""
    text = (resources.files("assistant") / "data" / "common_words.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.split("\n") if line and not line.startswith("#"))


def inflections(adjective: str) -> set[str]:
    """The four forms of an Italian adjective. Whole forms, not stems: the stem of "campano" is that of "campo",
    the stem of "liberiano" that of "liberare"."""
    forms = {adjective}
    if adjective.endswith(("co", "go", "ca", "ga")):
        base = adjective[:-1]
        forms |= {base + e for e in ("o", "a", "i", "e", "hi", "he")}
    elif adjective.endswith(("o", "a")):
        forms |= {adjective[:-1] + e for e in ("o", "a", "i", "e")}
    elif adjective.endswith("e"):
        forms |= {adjective[:-1] + "i"}
    return forms
