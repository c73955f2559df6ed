"""Questions as officers type them in a chat, from the well-formed ones of an eval set (seeded, so every run
asks the same): lowercase, no accents, "x" for "per", no question mark, a greeting in front of some, and with
`typos` one letter dropped from one word of six letters or more."""

from __future__ import annotations

import random
import re
import unicodedata
from typing import Any

GREETINGS = ("ciao, ", "buongiorno ", "salve, ")


def chat_form(question: str, rng: random.Random, typos: bool = False) -> str:
    text = "".join(c for c in unicodedata.normalize("NFD", question.lower()) if unicodedata.category(c) != "Mn")
    text = re.sub(r"\bper\b", "x", text).replace("?", "").strip()
    if typos:
        long_words = re.findall(r"[a-z]{6,}", text)
        if long_words:
            word = rng.choice(long_words)
            cut = rng.randrange(1, len(word) - 1)
            text = text.replace(word, word[:cut] + word[cut + 1 :], 1)
    if rng.random() < 0.3:
        text = rng.choice(GREETINGS) + text
    return text


def chat_questions(questions: list[dict[str, Any]], typos: bool = False, seed: int = 7) -> list[dict[str, Any]]:
    """The same questions (ids, gold, splits) in chat form."""
    rng = random.Random(seed)
    return [{**q, "question": chat_form(q["question"], rng, typos)} for q in questions]
