"""Answerability: the specific constraints of a question must hold in the evidence an answer cites.

A question's constraints are the places, organisations, names, years and roles it names ("Quanto costa il
progetto del Comune di Poggibonsi in Etiopia?" → «Comune di Poggibonsi», «Etiopia»). Places match by name,
English name or Italian adjective (umbro → Umbria), from `data/places.json`; roles and generic words come from
`data/constraint_words.json`. Names and places must occur in the cited passage, its title or its document's
metadata; a role must occur in the answer sentence's window, with the name it is "of" ("sindaco di Scutari").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from assistant.answers.vocabulary import (
    CONNECTORS,
    LOOSE,
    YEAR,
    YEAR_RANGE,
    Place,
    Vocab,
    common_words,
    near_common,
    norm,
    slip_of,
    slips,
    tokens_of,
    vocab,
)
from assistant.core.fuzzy import within_one
from assistant.core.text import is_stop, stem, words


@dataclass
class Constraint:
    kind: str  # place | organisation | name | year | role
    text: str  # as the question says it
    sequences: list[tuple[str, ...]] = field(default_factory=list)  # any of these token runs satisfies it
    stems: set[str] = field(default_factory=set)  # or any of these stems (adjectives, inflected roles)
    bound: Constraint | None = None  # a role's "of whom": must be in the same sentence window

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.text}


def _place_constraint(place: Place, text: str) -> Constraint:
    return Constraint("place", place.name if text.lower() != place.name.lower() else text,
                      list(place.forms) + [(f,) for f in sorted(place.adjective_forms)])


def constraints_of(question: str) -> list[Constraint]:
    """The specific things a question names: places, organisations, names, years, roles."""
    v = vocab()
    ms = words(question)
    raw = [m.group(0) for m in ms]
    toks = [norm(w) for w in raw]
    # Capitals carry information only where the writer uses them: a question with none past its first word
    # (a chat, a phone that capitalises the first letter) is read by the gazetteers instead.
    uncased = not any(w[:1].isupper() for w in raw[1:])
    out: list[Constraint] = []
    i = 0
    while i < len(toks):
        tok, word = toks[i], raw[i]
        # an institution with its name: "Comune di Pesaro", "Regione Umbria", "ANCI Lombardia"
        org = next((t for t in v.org_types if tuple(toks[i : i + len(t)]) == t), None)
        if org is None and i + 1 < len(toks) and (slip := slip_of(slips()[1], tok)):
            org = (slip,)  # "comne di fano", "regine abruzzo"
        if org is not None:
            j = i + len(org)
            while j < len(toks) and toks[j] in CONNECTORS and toks[j] not in ("of", "the"):
                j += 1
            k = j
            while k < len(toks) and (raw[k][:1].isupper() or raw[k].isupper()) and toks[k] not in v.generic:
                k += 1
            if k > j and not raw[i][:1].isupper():
                k = j  # "associazione ANCI Piemonte": the capitalised name is the institution, not this word
            elif k == j and uncased and (i == 0 or toks[i - 1] in v.role_determiners):
                # typed in lower case, as in a chat: "al comune di sfax" (not "la causa più comune di …")
                k = j + _lowercase_name(v, toks, j, connected=j > i + len(org), territorial=org in v.territorial)
            if k > j:
                name = tuple(toks[j:k])
                cons = Constraint("organisation", " ".join(raw[i:k]), [tuple(org) + name, tuple(org) + ("di",) + name,
                                                                      tuple(org) + ("della",) + name,
                                                                      tuple(org) + ("del",) + name])
                out.append(cons)
                i = k
                continue
        # a role, and the name it is of ("il sindaco di Scutari")
        role = None
        for n in (2, 1) if i == 0 or toks[i - 1] in v.role_determiners else ():
            key = tuple(toks[i : i + n])
            if len(key) == n and key in v.role_index:
                role = (v.role_index[key], n)
                break
            if n == 1 and (slip := slip_of(slips()[0], tok)):
                role = (v.role_index[(slip,)], 1)  # "il sndaco di scutari"
        if role is not None:
            name, n = role
            cons = Constraint("role", " ".join(raw[i : i + n]),
                              stems={stem(t) for form in v.roles[name] for t in form if len(form) == 1})
            cons.sequences = [form for form in v.roles[name] if len(form) > 1]
            j = i + n
            if j < len(toks) and toks[j] in CONNECTORS:
                k = j + 1
                while k < len(toks) and toks[k] in CONNECTORS:
                    k += 1
                # "referente del Comune di Rovereto": the institution is checked on its own, in the passage
                if k < len(toks) and raw[k][:1].isupper() and toks[k] not in v.generic:
                    cons.bound = _name_at(v, raw, toks, k)
                elif uncased and k < len(toks) and toks[k] in v.by_first and _lowercase_name(v, toks, k, True):
                    cons.bound = _name_at(v, raw, toks, k)  # "il sindaco di tunisi": a place of the gazetteer
                elif uncased and k < len(toks) and len(toks[k]) >= 4 and not is_stop(toks[k]) \
                        and toks[k] not in v.generic and not near_common(toks[k]):
                    # "il sindaco di scutari": a rare word is a name; a frequent one may be what the role is of
                    # ("il tutor dei tirocinanti", "il responsabile del procedimento")
                    cons.bound = Constraint("name", raw[k], [(toks[k],)], {stem(toks[k])} if len(toks[k]) >= 6
                                            else set())
            out.append(cons)
            i += n
            continue
        if YEAR.match(tok):
            out.append(Constraint("year", word, [(tok,)]))
            i += 1
            continue
        # a place by name or English name (any case), or by adjective ("umbro", "emiliano-romagnoli")
        placed = False
        for form, place in v.by_first.get(tok, []):
            if tuple(toks[i : i + len(form)]) == form and (raw[i][:1].isupper() or len(form) > 1 or (
                    uncased and i > 0 and toks[i - 1] in v.place_prepositions)):
                out.append(_place_constraint(place, " ".join(raw[i : i + len(form)])))
                i += len(form)
                placed = True
                break
        if not placed and tok not in v.by_first and (raw[i][:1].isupper() or (
                uncased and i > 0 and toks[i - 1] in v.place_prepositions)) and (slip := slip_of(slips()[2], tok)):
            for form, place in v.by_first[slip]:
                if len(form) == 1:  # "in lebaon", "della regione ligria": one slip from a place's name
                    out.append(_place_constraint(place, word))
                    placed = True
                    i += 1
                    break
        if placed:
            continue
        if not raw[i][:1].isupper() and tok in v.by_adjective and len(tok) > 3:
            for place in v.by_adjective[tok][:1]:
                out.append(_place_constraint(place, word))
            i += 1
            continue
        if uncased and i > 0 and toks[i - 1] in v.locative and len(tok) >= 4 and not tok.isdigit() \
                and not is_stop(tok) and tok not in v.generic and not near_common(tok):
            # "a valona", "in cabo delgado": in lower case a rare word after "a"/"in" is a place the gazetteer
            # does not hold; a one-letter slip on a long name still matches its document ("a durazo")
            out.append(Constraint("name", word, [(tok,)], {stem(tok)} if len(tok) >= 6 else set()))
            i += 1
            continue
        # a proper name or acronym anywhere but at the start of the question; a capitalised common word ("il
        # Media Day", "Chi" in a translated title) is not one. Inflected forms match by stem ("Normanni"/"normanna")
        if i > 0 and (word[:1].isupper() or (len(word) > 1 and word.isupper())) and tok not in v.generic \
                and not word.isdigit() and not is_stop(word) and tok not in common_words():
            out.append(Constraint("name", word, [(tok,)], {stem(tok)} if len(tok) >= 6 else set()))
        i += 1
    return _dedupe(out)


def _lowercase_name(v: Vocab, toks: list[str], j: int, connected: bool, territorial: bool = False) -> int:
    """How many tokens from `j` name an institution in a lower-case question: a place of the gazetteer (its
    whole name: "regione umbria", "comune di prato"); else, after "di"/"del"…, one word that is neither a
    stopword nor a generic word, when the institution is territorial (a comune is named by its place, and many
    comuni are also common words: "comune di alba"), or a rare word for the others ("associazione di
    migranti" is no name). 0 for none: "comune coordina", "municipalità libanesi"."""
    if j >= len(toks):
        return 0
    for form, _place in v.by_first.get(toks[j], []):
        if tuple(toks[j : j + len(form)]) == form:
            return len(form)
    tok = toks[j]
    if (slip := slip_of(slips()[2], tok)) and any(len(f) == 1 for f, _ in v.by_first[slip]):
        return 1  # "regione ligria"
    if len(tok) < 3 or tok.isdigit() or is_stop(tok) or tok in v.generic:
        return 0
    if not connected:
        return 0
    return 1 if territorial or tok not in common_words() else 0


def _name_at(v: Vocab, raw: list[str], toks: list[str], k: int) -> Constraint:
    for form, place in v.by_first.get(toks[k], []):
        if tuple(toks[k : k + len(form)]) == form:
            return _place_constraint(place, " ".join(raw[k : k + len(form)]))
    end = k
    while end < len(toks) and raw[end][:1].isupper():
        end += 1
    return Constraint("name", " ".join(raw[k:end]), [tuple(toks[k:end])])


def _dedupe(items: list[Constraint]) -> list[Constraint]:
    seen: set[tuple[str, str]] = set()
    out = []
    for c in items:
        key = (c.kind, c.text.lower())
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


# ------------------------------------------------------------------------------------------- evidence


@dataclass
class Evidence:
    """Tokens of a text, for constraint matching: the token sequence, its set, its stems, its years."""

    tokens: list[str]
    token_set: set[str]
    stems: set[str]
    years: set[str]
    _loose: tuple[str, ...] | None = None  # the tokens without articles and prepositions, made when first needed

    @classmethod
    def of(cls, *texts: str, years: list[int] | None = None) -> Evidence:
        toks = [t for text in texts for t in tokens_of(text)]
        found = {t for t in toks if YEAR.match(t)}
        for text in texts:
            for a, b in YEAR_RANGE.findall(text):
                if int(a) < int(b) <= int(a) + 20:
                    found |= {str(y) for y in range(int(a), int(b) + 1)}
        found |= {str(y) for y in years or []}
        return cls(toks, set(toks), {stem(t) for t in toks}, found)

    def has(self, c: Constraint) -> bool:
        if c.kind == "year":
            return c.text in self.years
        if c.stems & self.stems:
            return True
        if any(self._has_run(seq) for seq in c.sequences):
            return True
        if c.kind == "organisation":  # "comune di poggibons": one letter off in the name, as typed in a hurry
            return any(self._has_run(seq, fuzzy_last=True) or self._has_loose_run(seq) for seq in c.sequences)
        return c.kind == "name" and len(c.text) >= 6 and " " not in c.text and self._has_variant(norm(c.text))

    def _has_loose_run(self, seq: tuple[str, ...]) -> bool:
        """`seq` in the text when articles and prepositions are left out of both: "Comune di Reggio Emilia" in
        "Comune di Reggio nell'Emilia"."""
        want = tuple(t for t in seq if t not in LOOSE)
        if len(want) < 2:
            return False
        if self._loose is None:
            self._loose = tuple(t for t in self.tokens if t not in LOOSE)
        n = len(want)
        return any(self._loose[i : i + n] == want for i, t in enumerate(self._loose) if t == want[0])

    def _has_variant(self, name: str) -> bool:
        """A one-letter spelling variant of a long name ("Moncalm" / "Montcalm", "Karistadt" / "Karlstadt")."""
        return any(_variant(t, name) for t in self.token_set)

    def _has_run(self, seq: tuple[str, ...], fuzzy_last: bool = False) -> bool:
        """`seq` in the text; with `fuzzy_last`, its last token (a name of 6 letters or more) may be a variant."""
        if not seq or seq[0] not in self.token_set:
            return False
        n = len(seq)
        if n == 1:
            return not fuzzy_last
        last = seq[-1]
        for i, t in enumerate(self.tokens):
            if t != seq[0] or tuple(self.tokens[i : i + n - 1]) != seq[:-1] or i + n > len(self.tokens):
                continue
            found = self.tokens[i + n - 1]
            if found == last or (fuzzy_last and len(last) >= 5 and (within_one(found, last) or _variant(found, last))):
                return True
        return False


def _variant(token: str, name: str) -> bool:
    return token[:1] == name[:1] and abs(len(token) - len(name)) <= 2 and \
        SequenceMatcher(None, token, name).ratio() >= 0.85


def passage_evidence(content: str, meta: dict[str, Any]) -> Evidence:
    """A passage with its title, heading, its document's opening words and metadata (organisation, countries,
    themes, years)."""
    extra = [meta.get("title", ""), meta.get("heading", ""), meta.get("lead", ""), meta.get("organisation", ""),
             " ; ".join(meta.get("countries") or []), " ; ".join(meta.get("themes") or [])]
    return Evidence.of(content, *extra, years=meta.get("year") or [])


def missing(constraints: list[Constraint], passage: Evidence, window: Evidence,
            item: Evidence | None = None) -> list[Constraint]:
    """Constraints the evidence does not support. Roles (and what they are of) must be in the sentence window;
    places and institutions in the `item` the sentence belongs to (its section, the document's title and
    metadata) when one is given, so that another news of the same page does not count; names and years anywhere
    in the passage (a project's name is often a heading or two above what is said of it)."""
    out = []
    for c in constraints:
        if c.kind == "role":
            if not window.has(c) or (c.bound is not None and not window.has(c.bound)):
                out.append(c)
        elif not passage.has(c) or (item is not None and c.kind in ("place", "organisation") and not item.has(c)):
            out.append(c)
    return out


def _spaced(text: str, a: re.Match[str], b: re.Match[str]) -> bool:
    return not text[a.end() : b.start()].strip()


def same_kind_values(c: Constraint, content: str, meta: dict[str, Any]) -> list[str]:
    """What a passage holds in place of a missing constraint: its places, years, or institutions."""
    if c.kind == "year":
        years = sorted(Evidence.of(content, meta.get("title", ""), years=meta.get("year") or []).years)
        return years[:4]
    if c.kind in ("place", "organisation"):
        v = vocab()
        toks = tokens_of(content + " . " + meta.get("title", ""))
        raw = [m.group(0) for m in words(content + " . " + meta.get("title", ""))]
        found: list[str] = []
        if c.kind == "place":
            for i, tok in enumerate(toks):
                for form, place in v.by_first.get(tok, []):
                    if tuple(toks[i : i + len(form)]) == form and raw[i][:1].isupper() and place.name not in found:
                        found.append(place.name)
                        break
            for name in meta.get("countries") or []:
                if name not in found:
                    found.append(name)
        else:
            text = content + " . " + meta.get("title", "")
            ms = words(text)
            org_words = {t[0] for t in v.org_types}
            seen = set()
            for i, m in enumerate(ms):
                if toks[i] in org_words and raw[i][:1].isupper():
                    j = i + 1
                    while j < len(toks) and toks[j] in CONNECTORS and _spaced(text, ms[j - 1], ms[j]):
                        j += 1
                    k = j
                    # the name runs over capitalised words separated by spaces only ("Scutari (Albania)" stops)
                    while (k < len(toks) and raw[k][:1].isupper() and toks[k] not in v.generic
                           and _spaced(text, ms[k - 1], ms[k])):
                        k += 1
                    phrase = " ".join(raw[i:k])
                    if k > j and phrase.lower() not in seen:
                        seen.add(phrase.lower())
                        found.append(phrase)
        return found[:4]
    return []
