"""What every adapter accepts as text from a person: valid Unicode, no control characters, not only blanks."""

from __future__ import annotations

import re

from assistant.core.text import CONTROL_CHARS

# A text holds something besides whitespace and control characters: the rule the API applies (in Python) and the
# pattern the OpenAPI document states, the same string, spelled without engine-dependent classes like \s.
NON_BLANK = r"[^\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_NON_BLANK = re.compile(NON_BLANK)
MAX_QUESTION = 1000


def non_blank(value: str, what: str) -> str:
    """`value` cleaned (see clean_text) and stripped; ValueError when nothing but blanks is left."""
    if not _NON_BLANK.search(value):
        raise ValueError(f"{what} è vuota")
    return clean_text(value, what).strip()


def clean_text(value: str, what: str) -> str:
    """Refuse text that is not valid Unicode (a lone surrogate cannot be encoded) and drop control characters
    (a NUL would cut the embedding there)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} contiene caratteri non validi") from None
    return CONTROL_CHARS.sub(" ", value)
