"""Text cleaning for web-scraped pages (saved as HTML, Markdown or plain text).

Hand-written component: Haystack's DocumentCleaner removes empty lines and repeated substrings but knows
neither Italian web boilerplate nor headings glued to the previous sentence ("…sostenibile.L'ACCORDO").
"""

from __future__ import annotations

import re

from haystack import Document, component

from .structure import join_lists, table_rows

_INLINE_BOILERPLATE = [
    re.compile(r"Questo indirizzo (?:e-?mail|email) è protetto dagli spambots\.?\s*(?:È|E') necessario abilitare "
               r"(?:il )?JavaScript per vederlo\.?", re.IGNORECASE),
    re.compile(r"(?:Questo sito|Il sito) (?:utilizza|usa) (?:i )?cookie[^.\n]*\.?", re.IGNORECASE),
]
_LINE_BOILERPLATE = re.compile(
    r"^(?:condividi|stampa|torna su|leggi (?:tutto|di più)|aggiornato al:?|article id:?|\d{6,}|"
    r"- le newsletter|- i canali social|cookie policy|privacy policy|accetta(?: tutti)?(?: i cookie)?|"
    r"skip to content|vai al contenuto|menu|home)$",
    re.IGNORECASE,
)
# Footer and navigation pieces; a line made only of these (split at | · • /) is boilerplate in any format.
_BOILERPLATE_SEGMENTS = {
    "tutti i diritti riservati", "note legali", "privacy", "privacy policy", "informativa privacy", "cookie",
    "cookie policy", "cookie settings", "impostazioni cookie", "accessibilità", "dichiarazione di accessibilità",
    "credits", "mappa del sito", "area riservata", "contatti", "home", "login", "accedi", "vai al contenuto",
    "condividi", "stampa", "facebook", "instagram", "youtube", "x", "twitter", "whatsapp", "linkedin", "telegram",
    "rss", "newsletter", "seguici", "seguici su", "trasparenza", "amministrazione trasparente", "faq",
}
_SEGMENT_SPLIT = re.compile(r"\s*[|·•]\s*|\s+/\s+|\s*,\s*|:\s+|\s+-\s+")
_COOKIE_NOTICE = re.compile(r"\bcookie\b.*\b(accett\w*|consenso|navigazione|naviga\w*|utilizziamo|usiamo|"
                            r"utilizza|usa)\b|\b(accett\w*|consenso|navigazione|utilizziamo|usiamo|utilizza|usa)\b.*\bcookie",
                            re.IGNORECASE)
# "Home > Bandi e avvisi > Cooperazione", "Home / Giovani / FAQ": a breadcrumb trail.
_BREADCRUMB = re.compile(r"^(?:home|homepage|sei in:?)?\s*(?:[^>/»›|]{1,40}\s*[>/»›]\s*){2,}[^>/»›|]{1,60}$",
                         re.IGNORECASE)


def is_boilerplate_line(line: str) -> bool:
    """A navigation, footer, cookie or share line of a web page, whatever format the page was saved in."""
    words_ = line.split()
    if len(words_) > 60:
        return False
    if _COOKIE_NOTICE.search(line):
        return True
    if len(words_) <= 14 and _BREADCRUMB.match(line) and line.lower().lstrip().startswith(("home", "sei in")):
        return True
    if len(words_) > 20:
        return False
    segments = [seg.strip(" .;:-").lower() for seg in _SEGMENT_SPLIT.split(line) if seg.strip(" .;:-")]
    return bool(segments) and all(seg in _BOILERPLATE_SEGMENTS or seg.startswith("seguici su") for seg in segments)


# "…sostenibile.L'ACCORDO": sentence end glued to the next word; a heading if the next words are in capitals.
_GLUED = re.compile(r"(?<=[a-zà-ÿ0-9\)\]\"”’»])([.!?])(?=[A-ZÀ-Ý])")
_CAPS_HEAD = re.compile(r"^[A-ZÀ-Ý0-9][A-ZÀ-Ý0-9'’ \-–,&/]{3,}")
_BULLETS = re.compile(r"^[\s•·▪◦●\-–*]+(?=\S)")


def _unglue(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _GLUED.finditer(text):
        out.append(text[pos : m.end()])
        rest = text[m.end() : m.end() + 80]
        head = _CAPS_HEAD.match(rest)
        is_heading = head is not None and len(head.group(0).split()) >= 2 or (
            head is not None and len(head.group(0).strip()) >= 5
        )
        out.append("\n" if is_heading else " ")
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\u200b", "")
    for pattern in _INLINE_BOILERPLATE:
        text = pattern.sub(" ", text)
    text = _unglue(text)
    lines = []
    for raw in table_rows(text.split("\n")):
        line = re.sub(r"[ \t\f\v]+", " ", raw).strip()
        line = _BULLETS.sub("", line).strip() if line[:1] in "•·▪◦●" else line
        if not line or _LINE_BOILERPLATE.match(line) or line in {"“", "”", "\"", "'"} or is_boilerplate_line(line):
            lines.append("")
            continue
        lines.append(line)
    cleaned = "\n".join(_join_labels(join_lists(lines)))
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    return cleaned.strip()


def _join_labels(lines: list[str]) -> list[str]:
    """'Data Inizio:' on one line and '14/05/2010' on the next become 'Data Inizio: 14/05/2010'."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        row = " — " in nxt and nxt.endswith(".")  # a table row (structure.py) carries its own labels
        if line.endswith(":") and len(line.split()) <= 5 and nxt and not nxt.endswith(":") and len(nxt.split()) <= 20 \
                and not row:
            out.append(f"{line} {nxt}")
            i += 2
            continue
        out.append(line)
        i += 1
    return out


@component
class ItalianWebCleaner:
    """Removes web boilerplate, separates glued headings, collapses whitespace."""

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        out = [Document(content=clean_text(d.content or ""), meta=dict(d.meta)) for d in documents]
        return {"documents": out}
