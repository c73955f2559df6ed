"""List questions across documents: "quali progetti ci sono in Libano?" is answered with one cited line per
matching document, each line checked against the question's constraints like any answer."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

from assistant.answers.answerability import Constraint, Evidence
from assistant.core.text import strip_accents

MAX_ITEMS = 5
# A document joins the list when its best supported sentence is at least this share as likely as the list's best.
RELATIVE_BAR = 0.05
_OPENING = re.compile(r"^\W*(?:(?:ciao|buongiorno|buonasera|salve|hello|hi)\W+)?(?:e\s+)?"
                      r"(?:quali|che|which|what|quels|quelles)\s+(?:sono\s+(?:i|gli|le|l)\W+|are\s+(?:the\s+)?)?"
                      r"([^\W\d_]+)", re.I)


class _Candidate(Protocol):
    passage: Any
    probability: float
    missing: list[Constraint]

    @property
    def text(self) -> str: ...


@lru_cache(maxsize=1)
def _nouns() -> frozenset[str]:
    raw = json.loads((resources.files("assistant") / "data" / "constraint_words.json").read_text(encoding="utf-8"))
    return frozenset(strip_accents(w.lower()) for w in raw["list_nouns"])


def is_list_question(question: str) -> bool:
    """'Quali progetti…', 'che iniziative…', 'quali sono i comuni…': things several documents may hold."""
    m = _OPENING.match(question.strip())
    return bool(m) and strip_accents(m.group(1).lower()) in _nouns()


def list_items(cands: list[_Candidate], constraints: list[Constraint]) -> list[_Candidate]:
    """The best line of each document that supports every constraint, best document first, up to MAX_ITEMS.
    When the question names places or institutions, a document joins only with a line that names them itself
    (its probability as an answer is low for a generic question, so it is not compared with the others')."""
    supported = [c for c in cands if not c.missing]
    if not supported:
        return []
    top = max(c.probability for c in supported)
    named = [c for c in constraints if c.kind != "year"]
    by_doc: dict[str, _Candidate] = {}
    for cand in sorted(supported, key=lambda c: -c.probability):
        if cand.passage.doc_id in by_doc:
            continue
        if named:
            own = Evidence.of(cand.text)
            if not all(own.has(c) for c in named):
                continue
        elif cand.probability < RELATIVE_BAR * top:
            break
        by_doc[cand.passage.doc_id] = cand
    return list(by_doc.values())[:MAX_ITEMS]
