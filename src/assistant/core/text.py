"""Italian text helpers shared by ingestion, retrieval and answering: tokens, stems, sentences, marks."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

import pysbd
import Stemmer
from stop_words import get_stop_words

from assistant.core import deadline

_WORD = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W\d_]+", re.UNICODE)

_EXTRA_STOP = {
    "quale", "quali", "quanto", "quanta", "quanti", "quante", "come", "dove", "quando", "perché", "perche",
    "cosa", "chi", "cui", "essere", "fare", "ha", "hanno", "viene", "vengono", "sono", "è", "e", "ed",
    "what", "which", "who", "where", "when", "how", "does", "did", "the", "is", "are", "of", "in",
    "po", "l", "d", "un", "dell", "dall", "nell", "sull", "all", "quell", "quest", "c", "s", "n",
}

# C0 control characters but tab, newline, carriage return: a NUL would cut an embedding there.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    # English function words only: a full English list would drop names such as "PLUS" or "Life".
    english = {"a", "an", "the", "of", "and", "or", "to", "in", "on", "at", "by", "for", "from", "with", "is", "are",
               "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "do", "does", "did", "has",
               "have", "had", "what", "which", "who", "whom", "when", "where", "how", "why", "much", "many", "there"}
    words = set(get_stop_words("italian")) | english | _EXTRA_STOP
    return frozenset(strip_accents(w.lower()) for w in words)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("italian")


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def words(text: str) -> list[re.Match[str]]:
    """Word matches (letters runs or numbers), so elisions like dell'acqua yield 'dell' and 'acqua'."""
    return list(_WORD.finditer(text))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    lowered = word.lower()
    if lowered[:1].isdigit():
        return lowered
    stemmed = strip_accents(_stemmer().stemWord(lowered))
    # Snowball keeps plural vowels on some stems (acqua/acque): drop one final vowel so they meet.
    if len(stemmed) > 3 and stemmed[-1] in "aeiou":
        stemmed = stemmed[:-1]
    return stemmed


@lru_cache(maxsize=65536)
def is_stop(word: str) -> bool:
    return strip_accents(word.lower()) in stopwords()


def content_stems(text: str) -> list[str]:
    """Stems of the content words of a text, in order, stopwords removed."""
    out = []
    for m in words(text):
        w = m.group(0)
        if is_stop(w) or (len(w) < 2 and not w.isdigit()):
            continue
        out.append(stem(w))
    return out


@lru_cache(maxsize=4)
def _segmenter(language: str) -> pysbd.Segmenter:
    return pysbd.Segmenter(language=language, clean=False)


# Italian abbreviations pysbd does not know: "n. 113", "art. 5", "pag. 3" must not end a sentence.
_ABBREV_END = re.compile(r"\b(n|nn|nr|art|artt|pag|pagg|pp|ca|cfr|dott|dott\.ssa|dr|sig|sigg|sig\.ra|prof|ing|avv|on|"
                         r"geom|rag|tel|lett|vol|cap|fig|tab|ss|p\.es|es|rif|prot|reg|d\.lgs|l)\.$", re.IGNORECASE)


PIECE_CHARS = 1000  # pysbd's time grows with the square of its input: it never sees more than this at once
_CUT = re.compile(r"[.!?;:]\s+(?=\S)")


def _pieces(line: str, size: int = PIECE_CHARS):
    """`line` in pieces of at most about `size` characters, cut after the last sentence punctuation of each
    window (else at its last space), so sentence splitting stays linear in the length of a line."""
    start = 0
    while len(line) - start > size:
        window = line[start : start + size]
        cuts = list(_CUT.finditer(window))
        end = cuts[-1].end() if cuts else (window.rfind(" ") + 1 or size)
        yield line[start : start + end]
        start += end
    yield line[start:]


def split_sentences(text: str, language: str = "it") -> list[str]:
    """Sentence split with pysbd (rule-based, offline); one line is never merged with the next. Linear in the
    input: long lines go to pysbd in bounded pieces, and joined pieces are built as lists."""
    sentences: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        merged: list[list[str]] = []
        for piece in _pieces(line):
            deadline.check()  # an upload's time budget (assistant/deadline.py), if one runs
            for s in _segmenter(language).segment(piece):
                s = s.strip()
                if not s:
                    continue
                # Italian sentences start with a capital: a piece starting lower-case followed an abbreviation
                # pysbd did not know ("EE.LL. del Mezzogiorno"), and a number after "n." is part of it too.
                # A parenthesis after a full stop ("… 2024-2026. (DGR n. 123/2024).") belongs to that sentence.
                if merged and (s[0].islower() or s[0] in "([" or (s[0].isdigit() and _ABBREV_END.search(merged[-1][-1]))):
                    merged[-1].append(s)
                else:
                    merged.append([s])
        sentences.extend(" ".join(parts) for parts in merged)
    return sentences


_EN_WORDS = frozenset("the of and to in is was what who which when where how does did do are for with from this "
                      "that it its by on at an be has have much many long".split())


# French words an Italian question does not use ("la", "le", "qui", "un" are Italian too).
_FR_WORDS = frozenset("les des du de en qui est quel quelle quels quelles quand combien pour dans avec sont où projet projets "
                      "une qu ce cette ces aux au leur".split())


def looks_english(text: str) -> bool:
    tokens = [m.group(0).lower() for m in words(text)]
    return len(tokens) >= 3 and sum(t in _EN_WORDS for t in tokens) / len(tokens) >= 0.3


def looks_french(text: str) -> bool:
    tokens = [m.group(0).lower() for m in words(text)]
    return len(tokens) >= 3 and sum(t in _FR_WORDS for t in tokens) / len(tokens) >= 0.3


@lru_cache(maxsize=256)
def _query_stems(query: str) -> frozenset[str]:
    return frozenset(content_stems(query))


def matching_words(text: str, query: str) -> frozenset[str]:
    """The distinct words of text whose stem is a content stem of query (each distinct word stemmed once)."""
    wanted = _query_stems(query)
    if not wanted:
        return frozenset()
    return frozenset(w for w in set(_WORD.findall(text)) if _word_stem(w) in wanted)


@lru_cache(maxsize=131072)
def _word_stem(word: str) -> str:
    """A word's stem, or "" for a stopword."""
    return "" if is_stop(word) else stem(word)


def mark_terms(text: str, query: str, open_tag: str = "<mark>", close_tag: str = "</mark>", escape: bool = True,
               matched: frozenset[str] | None = None) -> str:
    """Wrap the words of text whose stem matches a content word of query; escape the rest as HTML if asked.
    `matched`: `matching_words` of this text or of one holding it, when the caller has it already."""
    matched = matching_words(text, query) if matched is None else matched
    esc = html.escape if escape else (lambda t: t)
    if not matched:
        return esc(text)
    out: list[str] = []
    pos = 0
    for m in _pattern_of(matched).finditer(text):
        out += [esc(text[pos : m.start()]), open_tag, esc(m.group(0)), close_tag]
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


@lru_cache(maxsize=1024)
def _pattern_of(matched: frozenset[str]) -> re.Pattern[str]:
    """Whole occurrences of these words as `_WORD` cuts text: a letter run not touching another letter, a number
    not touching a digit or a decimal separator between digits."""
    letters = sorted((w for w in matched if not w[:1].isdigit()), key=len, reverse=True)
    numbers = sorted((w for w in matched if w[:1].isdigit()), key=len, reverse=True)
    parts = []
    if letters:
        parts.append(r"(?<![^\W\d_])(?:" + "|".join(map(re.escape, letters)) + r")(?![^\W\d_])")
    if numbers:
        parts.append(r"(?<![0-9])(?<![0-9][.,])(?:" + "|".join(map(re.escape, numbers)) + r")(?![0-9])(?![.,][0-9])")
    return re.compile("|".join(parts))


def snippet(text: str, query: str, width: int = 300, open_tag: str = "<mark>", close_tag: str = "</mark>",
            matched: frozenset[str] | None = None) -> str:
    """A window of about `width` characters around the densest run of query words, marked and HTML-escaped."""
    flat = " ".join(text.split())
    matched = matching_words(flat, query) if matched is None else matched
    if len(flat) <= width:
        return mark_terms(flat, query, open_tag, close_tag, matched=matched)
    hits = [m.start() for m in _pattern_of(matched).finditer(flat)] if matched else []
    start = 0
    if hits:
        best = max(hits, key=lambda h: sum(h <= x < h + width - 60 for x in hits))
        start = max(0, best - 60)
        start = flat.rfind(" ", 0, start) + 1 if start > 0 else 0
    end = min(len(flat), start + width)
    if end < len(flat):
        end = flat.rfind(" ", start, end) if flat.rfind(" ", start, end) > start else end
    body = mark_terms(flat[start:end], query, open_tag, close_tag, matched=matched)
    return ("…" if start > 0 else "") + body + ("…" if end < len(flat) else "")


MD_HEADING = re.compile(r"^#{1,6}\s+(.*)$")


def is_heading_line(line: str) -> bool:
    """A short line in capitals, a markdown heading, or a short title-like line without final punctuation."""
    stripped = line.strip()
    if not stripped or MD_HEADING.match(stripped):
        return bool(stripped)
    words = stripped.split()
    letters = [c for c in stripped if c.isalpha()]
    if letters and len(words) <= 14 and sum(c.isupper() for c in letters) / len(letters) > 0.8 and len(letters) > 3:
        return True
    return len(words) <= 8 and stripped[-1] not in ".,;:!?\"”)" and stripped[0].isupper() and len(letters) > 3


def is_section_heading(line: str) -> bool:
    """A heading that opens a section: not a field ("Data Fine: 30/09/2012"), however short."""
    return is_heading_line(line) and ": " not in line


def section_heads(sentences: list[str], text: str) -> list[int]:
    """For each sentence of `text`, the index of the heading that opens its section (-1 before the first
    heading). A heading is a whole line of the text; a field ("Data Fine: 30/09/2012") is not one, however
    short, nor is a sentence in capitals that opens a paragraph."""
    lines = {line.strip() for line in text.split("\n")}
    out: list[int] = []
    head = -1
    for i, sentence in enumerate(sentences):
        if sentence.strip() in lines and is_section_heading(sentence):
            head = i
        out.append(head)
    return out
