"""Which PDF page each passage starts on, so that a citation can say "p. N" and link to that page.

Cleaning, unwrapping and chunking rewrite the text (joined lines, tables, lists), so offsets do not survive them;
instead each passage's opening words are looked up, in order, in the words of the pages as extracted. Hand-written:
Haystack's splitters count pages only on their own input, which here is the cleaned text without page breaks.
"""

from __future__ import annotations

from dataclasses import replace

from haystack import Document

from assistant.core.text import strip_accents, words
PROBE = 5  # consecutive words that place a passage: few enough to survive cleaning, enough to be unambiguous
SCAN = 120  # how far into a passage to look for a probe found only once


def _words(text: str) -> list[str]:
    return [m.group(0).lower() for m in words(strip_accents(text))]


def assign_pages(passages: list[Document], pages: list[str]) -> list[Document]:
    """`passages` with meta `page` (from 1), the page where each one's text starts, and `sentence_pages`, the page
    of each of its sentences. A sentence not found gets the page of the one before it (pages only move forward)."""
    if len(pages) < 2:
        return [replace(p, meta={**p.meta, "page": 1}) for p in passages] if pages else passages
    doc_words: list[str] = []
    page_of: list[int] = []
    for number, text in enumerate(pages, 1):
        found = _words(text)
        doc_words += found
        page_of += [number] * len(found)
    index: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(doc_words) - PROBE + 1):
        index.setdefault(tuple(doc_words[i : i + PROBE]), []).append(i)
    out, cursor, page = [], 0, 1
    for passage in passages:
        sentences = passage.meta.get("sentences") or [passage.content or ""]
        ws: list[str] = []
        starts = []
        for sentence in sentences:
            starts.append(len(ws))
            ws += _words(sentence)
        found = _place(ws, index, cursor)
        if found is None:  # nothing of it is in the extracted pages: it stays on the page of the one before
            pages_of_sentences = [page] * len(sentences)
        else:
            at, offset = found
            base = max(at - offset, cursor)  # where the passage's first word is in the document
            pages_of_sentences = [page_of[min(base + s, len(page_of) - 1)] for s in starts]
            cursor = base  # the next passage starts here or later (passages overlap by a sentence)
        out.append(replace(passage, meta={**passage.meta, "page": pages_of_sentences[0],
                                          "sentence_pages": pages_of_sentences}))
        page = pages_of_sentences[-1]
    return out


def _place(ws: list[str], index: dict[tuple[str, ...], list[int]], cursor: int) -> tuple[int, int] | None:
    """Where the passage's words are in the document, as (word index of a probe, the probe's offset in the
    passage): the first probe found only once from `cursor` on (boilerplate repeats), else the first found."""
    first = None
    for offset in range(0, max(min(len(ws) - PROBE + 1, SCAN), 1)):
        hits = [i for i in index.get(tuple(ws[offset : offset + PROBE]), ()) if i >= cursor]
        if len(hits) == 1:
            return hits[0], offset
        if hits and first is None:
            first = (hits[0], offset)
    return first
