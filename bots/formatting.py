"""Telegram HTML replies: everything escaped, split under Telegram's 4,096-character limit."""

from __future__ import annotations

import html
import re
from typing import Any

TELEGRAM_LIMIT = 4096


def answer_html(answer: dict[str, Any]) -> str:
    parts = [html.escape(answer["answer"])]
    if answer.get("citations"):
        lines = ["<b>Fonti:</b>"]
        for c in answer["citations"]:
            org = f" — {html.escape(c['organisation'])}" if c.get("organisation") else ""
            page = f", p. {c['page']}" if c.get("page") else ""
            lines.append(f"[{c['n']}] {html.escape(c['title'] or c['doc_id'])}{org}{page}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def search_html(result: dict[str, Any]) -> str:
    if not result.get("results"):
        return f"Nessun documento trovato per «{html.escape(result.get('query', ''))}»."
    lines = [f"<b>Documenti per «{html.escape(result['query'])}»</b>"]
    for i, r in enumerate(result["results"], 1):
        snippet = _snippet(r["passage"]["snippet"])
        org = f" — {html.escape(r['organisation'])}" if r.get("organisation") else ""
        lines.append(f"\n{i}. <b>{html.escape(r['title'] or r['doc_id'])}</b>{org}\n{snippet}")
    return "\n".join(lines)


def sources_html(citations: list[dict[str, Any]]) -> str:
    if not citations:
        return "Non ci sono fonti da mostrare: fai prima una domanda."
    blocks = []
    for c in citations:
        org = f" — {html.escape(c['organisation'])}" if c.get("organisation") else ""
        page = f", p. {c['page']}" if c.get("page") else ""
        blocks.append(f"<b>[{c['n']}] {html.escape(c['title'] or c['doc_id'])}</b>{org}{page}\n"
                      f"<i>{html.escape(c['doc_id'])}</i>\n{html.escape(c['passage'])}")
    return "\n\n".join(blocks)


def _snippet(marked: str) -> str:
    """The API marks query words with <mark> over escaped text; Telegram knows <b>, not <mark>."""
    return marked.replace("<mark>", "<b>").replace("</mark>", "</b>")


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split at paragraph boundaries, then lines, then words; HTML tags are never cut across chunks
    because each paragraph we build opens and closes its own tags."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for para in text.split("\n\n"):
        pieces = [para] if len(para) <= limit else _split_long(para, limit)
        for piece in pieces:
            candidate = f"{current}\n\n{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def _split_long(para: str, limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for token in re.split(r"(?<=\n)|(?<= )", para):
        if len(current) + len(token) > limit and current:
            out.append(current.rstrip())
            current = ""
        while len(token) > limit:
            cut = _safe_cut(token, limit)
            out.append(token[:cut])
            token = token[cut:]
        current += token
    if current.strip():
        out.append(current.rstrip())
    return out


def _safe_cut(text: str, limit: int) -> int:
    """The last index ≤ limit that does not fall inside an HTML entity (`&amp;`) or tag (`<b>`)."""
    cut = limit
    amp, semi = text.rfind("&", 0, cut), text.rfind(";", 0, cut)
    if amp > semi and cut - amp <= 10:
        cut = amp
    lt, gt = text.rfind("<", 0, cut), text.rfind(">", 0, cut)
    if lt > gt:
        cut = lt
    return cut if cut > 0 else limit
