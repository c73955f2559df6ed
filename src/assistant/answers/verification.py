"""Checks a language model's answer sentence by sentence against the passages it cites.

A sentence stands only if it cites a passage of the prompt ([n]), every number, amount, date, month and proper
name it states occurs in the passages it cites (or their title, organisation or heading), and most of its words
(by stem) are theirs too: a paraphrase keeps its source's words, a claim from elsewhere does not. Numbers are
compared normalised: "182.500 euro" = "182500 €" = "182,500"; "1,5" = "1.5".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.core.text import content_stems, split_sentences, strip_accents

_CITE = re.compile(r"\[\s*(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\s*\]")
_AFTER_STOP = re.compile(r"([.!?])\s*((?:\[\s*\d{1,2}(?:\s*[,;]\s*\d{1,2})*\s*\]\s*)+)")
_NUMBER = re.compile(r"\d+(?:[.,'\u00a0 ]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?")
_NAME = re.compile(r"\b[A-ZÀ-ÖØ-Þ][\w'’.-]*", re.UNICODE)
_MONTHS = frozenset(
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre january "
    "february march april may june july august september october november december".split())
# Capitalised for grammar, not for being names: a sentence's or clause's first word, and these.
_COMMON_CAPITALISED = frozenset(
    "il lo la i gli le un uno una l un' del della dei delle nel nella con per su da di a e ed o in al alla ai "
    "the a an of and in on for to it its this that these those they he she we you i is are was were".split())


@dataclass
class Checked:
    text: str  # the sentence without its citation marks
    cites: list[int]
    ok: bool
    reason: str = ""  # why it was dropped: uncited, unknown_source, number, name, unsupported
    detail: list[str] = field(default_factory=list)  # the numbers or names not found


def numbers_in(text: str) -> set[str]:
    """Numbers normalised: thousands separators removed, decimal comma as point, no trailing zeros."""
    out = set()
    for m in _NUMBER.finditer(text):
        raw = m.group(0).replace("\u00a0", " ")
        if re.fullmatch(r"\d{1,3}(?:[.,' ]\d{3})+", raw):
            value = re.sub(r"[.,' ]", "", raw)  # 182.500 / 182,500 / 182 500
        else:
            grouped = re.fullmatch(r"(\d{1,3}(?:[.,' ]\d{3})+)([.,])(\d+)", raw)
            if grouped:  # 1.234.567,89
                value = re.sub(r"[.,' ]", "", grouped.group(1)) + "." + grouped.group(3)
            else:
                value = raw.replace(",", ".")
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        out.add(value.lstrip("0") or "0")
    return out


def split_cited(text: str) -> list[tuple[str, list[int]]]:
    """The answer's sentences, each with the passage numbers it cites; a citation standing alone ("… euro. [2]")
    belongs to the sentence before it."""
    out: list[tuple[str, list[int]]] = []
    text = _AFTER_STOP.sub(lambda m: f" {m.group(2).strip()}{m.group(1)} ", " ".join(text.split()))
    for sentence in split_sentences(text):
        cites = [int(n) for m in _CITE.finditer(sentence) for n in re.split(r"\s*[,;]\s*", m.group(1))]
        plain = " ".join(_CITE.sub(" ", sentence).split())
        plain = re.sub(r"\s+([.,;:!?])", r"\1", plain)
        if not re.search(r"\w", plain):
            if out and cites:
                out[-1][1].extend(c for c in cites if c not in out[-1][1])
            continue
        out.append((plain, list(dict.fromkeys(cites))))
    return out


def _names(sentence: str) -> list[str]:
    names = []
    for m in _NAME.finditer(sentence):
        word = m.group(0).rstrip(".’'-")
        before = sentence[: m.start()].rstrip()
        clause_start = not before or before[-1] in ".:;!?«\"(—–-"
        acronym = sum(ch.isupper() for ch in word) >= 2
        if not acronym and (clause_start or word.lower() in _COMMON_CAPITALISED):
            continue
        names.append(word)
    return names


def _known(word: str, source_words: set[str], source_stems: set[str]) -> bool:
    plain = strip_accents(word.lower())
    if plain in source_words:
        return True
    stems = content_stems(word)
    return bool(stems) and all(s in source_stems for s in stems)


def check(sentence: str, cites: list[int], sources: dict[int, str], min_support: float = 0.5) -> Checked:
    """One generated sentence against the text of the sources it cites."""
    if not cites:
        return Checked(sentence, cites, False, "uncited")
    if any(c not in sources for c in cites):
        return Checked(sentence, cites, False, "unknown_source", [str(c) for c in cites if c not in sources])
    cited = "\n".join(sources[c] for c in cites)
    missing_numbers = sorted(numbers_in(sentence) - numbers_in(cited))
    if missing_numbers:
        return Checked(sentence, cites, False, "number", missing_numbers)
    words = {strip_accents(w.lower()) for w in re.findall(r"[\w'’-]+", cited)}
    stems = set(content_stems(cited))
    months = {w for w in re.findall(r"\w+", sentence.lower()) if w in _MONTHS}
    missing_names = [w for w in [*_names(sentence), *sorted(months)] if not _known(w, words, stems)]
    if missing_names:
        return Checked(sentence, cites, False, "name", missing_names)
    own = {s for s in content_stems(sentence) if not s[:1].isdigit()}  # numbers are checked above
    foreign = sorted(own - stems)
    if min_support > 0 and own and len(foreign) > (1 - min_support) * len(own):
        return Checked(sentence, cites, False, "unsupported", foreign)
    return Checked(sentence, cites, True)


def verify(text: str, sources: dict[int, str], min_support: float = 0.5) -> list[Checked]:
    """`min_support` 0 turns the word check off (an answer in another language than its sources is held to its
    numbers and names only)."""
    return [check(sentence, cites, sources, min_support) for sentence, cites in split_cited(text)]
