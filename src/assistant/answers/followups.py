"""Follow-up questions: which lean on the conversation, and how a question reads as a topic."""

from __future__ import annotations

import re

from assistant.answers.candidates import TYPE_WORDS
from assistant.answers.selector import name_stems
from assistant.core.text import content_stems, words

_FOLLOWUP_START = re.compile(r"^\s*(e|ed|ma|and|anche|invece|inoltre|poi|allora|what\s+about|e\s+per)\b", re.I)
_ANAPHORA = {"esso", "essa", "essi", "esse", "lo", "la", "li", "le", "ne", "questo", "questa", "quello", "quella",
             "tale", "suo", "sua", "suoi", "loro", "stesso", "stessa", "it", "its", "this", "that", "they", "them"}
# A sentence that opens with a pronoun or "Il progetto…" needs the one before it to say what it is about.


def is_followup(question: str, has_history: bool) -> bool:
    """A question that leans on the conversation: opens with "e/ma/anche…", has a pronoun, or names nothing
    (no proper noun, acronym or number) and so cannot stand alone ("Quanti enti locali coinvolge?")."""
    if not has_history:
        return False
    if _FOLLOWUP_START.match(question):
        return True
    tokens = words(question)
    if {m.group(0).lower() for m in tokens} & _ANAPHORA:
        return True
    substantive = [s for s in content_stems(question) if s not in TYPE_WORDS]
    if len(substantive) <= 1:
        return True
    return not name_stems(question)


def topic_of(question: str) -> str:
    q = " ".join(question.strip().split()).rstrip("?!. ")
    q = re.sub(r"^(e|ed|ma|and)\s+", "", q, flags=re.I)
    return q[:1].lower() + q[1:] if q else q
