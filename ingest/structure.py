"""Structure that must survive as text: table rows with their column headers, field blocks, lists with the line
that announces them.

Hand-written: the converters (Haystack's DOCX/HTML converters, trafilatura) flatten a table into bare rows (CSV
or Markdown pipes) and a `<dl>` into list items, so a row like "Formazione | 12.000 | 6.000" no longer says whose
money 6.000 is. No maintained library turns these into self-contained sentences for retrieval.
"""

from __future__ import annotations

import re

_PIPE_ROW = re.compile(r"^\|.*\|$")
_SEPARATOR = re.compile(r"^\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?$")
_BULLET = re.compile(r"^(?:[-–•·▪◦●*]|\d{1,2}[.)]|[a-z][)])\s+(?=\S)")
_ANNOUNCE_MIN_WORDS = 3  # "Strumenti:" is a label; "Sono stati individuati i seguenti strumenti:" announces a list
_ITEM_MAX_WORDS = 40
_LIST_MAX_WORDS = 160


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _row_text(header: list[str] | None, cells: list[str]) -> str:
    """One row as a sentence that carries its headers: 'Formazione — Regione: 12.000; Comune di Bergamo: 6.000.'"""
    cells = [c for c in cells]
    label, rest = cells[0], cells[1:]
    if header is None:
        pairs = [c for c in rest if c]
        body = "; ".join(pairs)
        return f"{label}: {body}." if label and body else (label or body)
    names = header[1:] + [""] * max(0, len(rest) - len(header) + 1)
    pairs = [f"{h}: {c}" if h else c for h, c in zip(names, rest, strict=False) if c]
    if not pairs:
        return label
    return f"{label} — {'; '.join(pairs)}." if label else f"{'; '.join(pairs)}."


def _is_data(cells: list[str]) -> bool:
    """A first row that reads as data, not headers: a number, a long value or a proper name ("Comune di Prato")
    in its second cell."""
    if len(cells) < 2:
        return False
    value = cells[1].split()
    return any(ch.isdigit() for ch in cells[1]) or len(value) > 4 or any(w[:1].isupper() for w in value[1:])


def table_rows(lines: list[str]) -> list[str]:
    """Markdown pipe tables (as the converters write them) become one line per row with its column headers; a
    two-column table whose first row is data becomes 'key: value' lines."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _PIPE_ROW.match(lines[i].strip()):
            out.append(lines[i])
            i += 1
            continue
        block = []
        while i < len(lines) and _PIPE_ROW.match(lines[i].strip()):
            block.append(lines[i].strip())
            i += 1
        rows = [_cells(r) for r in block if not _SEPARATOR.match(r)]
        rows = [r for r in rows if any(r)]
        if not rows:
            continue
        header: list[str] | None = rows[0]
        body = rows[1:]
        if len(rows[0]) == 2 and _is_data(rows[0]) or len(rows) == 1:
            header, body = None, rows
        out.extend(t for t in (_row_text(header, r) for r in body) if t)
    return out


def _item(line: str) -> str | None:
    m = _BULLET.match(line)
    return line[m.end():].strip() if m else None


def join_lists(lines: list[str]) -> list[str]:
    """A line ending with ':' and the list items under it become one line ('… strumenti: Forum; Tavoli.'), so the
    items are found, and quoted, with what they are. Items are bulleted lines, or (after a sentence that announces
    them) short lines; a list longer than a passage's worth of words stays as lines."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.endswith(":"):
            out.append(line)
            i += 1
            continue
        announces = len(line.split()) >= _ANNOUNCE_MIN_WORDS
        items: list[str] = []
        bulleted = _item(lines[i + 1]) is not None if i + 1 < len(lines) else False
        j = i + 1
        while j < len(lines) and lines[j]:
            item = _item(lines[j])
            if item is None and announces and not bulleted and len(lines[j].split()) <= 15 \
                    and not lines[j].endswith(":"):
                item = lines[j]  # a .docx list: its items lose their bullets in the conversion
            if item is None or len(item.split()) > _ITEM_MAX_WORDS:
                break
            items.append(item.rstrip(" ;,."))
            j += 1
        if len(items) >= 2 and sum(len(t.split()) for t in items) <= _LIST_MAX_WORDS:
            out.append(f"{line} {'; '.join(items)}.")
            i = j
        else:
            out.append(line)
            i += 1
    return out


def html_fields(page: str) -> str:
    """A `<dl>` of an HTML page as paragraphs 'term: definition' (trafilatura would make each a list item, and
    the date would lose its label)."""
    if "<dl" not in page.lower():
        return page
    from lxml import html as lxml_html

    try:
        tree = lxml_html.document_fromstring(page)
    except (ValueError, TypeError, lxml_html.etree.ParserError):
        return page
    changed = False
    for dl in tree.iter("dl"):
        paragraphs = []
        term = ""
        for child in dl:
            text = " ".join(child.text_content().split())
            if child.tag == "dt":
                if term:
                    paragraphs.append(term)
                term = text.rstrip(":")
            elif child.tag == "dd" and text:
                paragraphs.append(f"{term}: {text}" if term else text)
                term = ""
        if term:
            paragraphs.append(term)
        if not paragraphs:
            continue
        replacement = lxml_html.fromstring("<div>" + "".join("<p></p>" for _ in paragraphs) + "</div>")
        for p, text in zip(replacement, paragraphs, strict=True):
            p.text = text
        replacement.tail = dl.tail
        dl.getparent().replace(dl, replacement)
        changed = True
    return lxml_html.tostring(tree, encoding="unicode") if changed else page
