"""Passages of ~120–250 words on Italian sentence boundaries, with one sentence of overlap.

Hand-written component: Haystack's DocumentSplitter splits sentences with NLTK, whose data download
fails offline; pysbd is rule-based and ships its Italian rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from haystack import Document, component

from assistant.core.text import MD_HEADING, is_heading_line, split_sentences


@dataclass
class _Sentence:
    text: str
    words: int
    heading: str
    is_heading: bool
    line: int = 0


def _sentences(text: str) -> list[_Sentence]:
    out: list[_Sentence] = []
    heading = ""
    after_label = False
    for line_no, line in enumerate(text.split("\n")):
        line = line.strip()
        if not line:
            continue
        md = MD_HEADING.match(line)
        if md:
            line = md.group(1).strip()
        # "Destinatari:" followed by its value: the value is data, not a heading.
        value_line, after_label = after_label, line.endswith(":") and len(line.split()) <= 5
        if md or (is_heading_line(line) and not value_line):
            heading = line.rstrip(":").strip()
            out.append(_Sentence(line, len(line.split()), heading, True, line_no))
            continue
        for s in split_sentences(line):
            n = len(s.split())
            if n > 250:  # a run-on "sentence" (lists, tables): cut it into word windows
                toks = s.split()
                for i in range(0, n, 100):
                    part = " ".join(toks[i : i + 100])
                    out.append(_Sentence(part, len(part.split()), heading, False, line_no))
            else:
                out.append(_Sentence(s, n, heading, False, line_no))
    return out


def chunk_text(text: str, min_words: int = 120, max_words: int = 250, overlap: int = 1) -> list[tuple[str, str]]:
    """Return (passage text, nearest heading) pairs."""
    chunks: list[list[_Sentence]] = []
    current: list[_Sentence] = []
    fresh = 0  # words in `current` not carried over from the previous chunk

    def close() -> None:
        nonlocal current, fresh
        chunks.append(current)
        tail = [x for x in current[-overlap:] if not x.is_heading] if overlap else []
        current, fresh = list(tail), 0

    for s in _sentences(text):
        count = sum(x.words for x in current)
        if fresh and count + s.words > max_words:
            close()
            count = sum(x.words for x in current)
            if s.is_heading or count + s.words > max_words:
                current = []  # a new section starts clean; an overlap that would overflow is dropped
        current.append(s)
        fresh += s.words
        if sum(x.words for x in current) >= max_words * 0.9 and not s.is_heading:
            close()
    if fresh:
        leftover = current[len(current) - _fresh_count(current, fresh):] if chunks else current
        last_words = sum(x.words for x in chunks[-1]) if chunks else 0
        if chunks and fresh < min_words / 3 and last_words + fresh <= max_words:
            chunks[-1].extend(leftover)
        else:
            chunks.append(current)
    result = []
    seen: set[str] = set()
    for chunk in chunks:
        body = _join(chunk)
        heading = next((x.heading for x in chunk if not x.is_heading and x.heading), "") or next(
            (x.heading for x in chunk if x.heading), ""
        )
        # A passage that repeats an earlier one word for word (a header on every page, a pasted block, a
        # filler line) adds nothing to find and costs its embedding: it is kept once.
        if body.strip() and body not in seen:
            seen.add(body)
            result.append((body, heading))
    return result


def _fresh_count(current: list[_Sentence], fresh_words: int) -> int:
    """How many trailing sentences of `current` hold its `fresh_words` new words."""
    n, total = 0, 0
    for s in reversed(current):
        if total >= fresh_words:
            break
        total += s.words
        n += 1
    return n


def _join(chunk: list[_Sentence]) -> str:
    """Sentences of one source line stay on one line; lines stay lines (labels, lists, headings)."""
    parts: list[str] = []
    prev_line: int | None = None
    for s in chunk:
        if prev_line is not None:
            parts.append(" " if s.line == prev_line else "\n")
        parts.append(s.text)
        prev_line = s.line
    return "".join(parts).strip()


@component
class SentenceChunker:
    """Splits each Document into passages; each keeps the source meta plus heading and position."""

    def __init__(self, min_words: int = 120, max_words: int = 250, overlap_sentences: int = 1) -> None:
        self.min_words, self.max_words, self.overlap = min_words, max_words, overlap_sentences

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        out: list[Document] = []
        for doc in documents:
            for position, (body, heading) in enumerate(
                chunk_text(doc.content or "", self.min_words, self.max_words, self.overlap)
            ):
                out.append(Document(content=body, meta={**doc.meta, "heading": heading, "position": position}))
        return {"documents": out}
