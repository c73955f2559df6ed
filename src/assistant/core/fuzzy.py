"""Words one typing slip apart: a letter dropped, added, changed or two swapped ("sndaco", "lebaon", "comne").

Hand-written with the symmetric-delete method (as SymSpell does): every word and each of its one-letter
deletions index the word, so a lookup costs a few dictionary reads. The maintained spelling libraries
(symspellpy, pyspellchecker) bring their own frequency dictionaries and need more than this one distance.
"""

from __future__ import annotations

from collections.abc import Iterable

MIN_LENGTH = 5  # shorter words are too close to too many others ("bra", "alba", "come")


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def within_one(a: str, b: str) -> bool:
    """Damerau–Levenshtein distance of at most one."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


class OneEdit:
    """Finds the words of a vocabulary within one slip of a token."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        self.words: set[str] = set()
        self.index: dict[str, set[str]] = {}
        for word in vocabulary:
            if len(word) < MIN_LENGTH:
                continue
            self.words.add(word)
            for key in _deletes(word) | {word}:
                self.index.setdefault(key, set()).add(word)

    def matches(self, token: str) -> set[str]:
        """The vocabulary words within one slip of `token` (itself, if it is one)."""
        if len(token) < MIN_LENGTH - 1:
            return set()
        if token in self.words:
            return {token}
        found: set[str] = set()
        for key in _deletes(token) | {token}:
            found |= self.index.get(key, set())
        return {w for w in found if within_one(token, w)}

    def restored(self, token: str) -> set[str]:
        """The vocabulary words that are `token` with one letter put back ("qundo" → "quando")."""
        return {w for w in self.index.get(token, ()) if len(w) == len(token) + 1}

    def match(self, token: str) -> str | None:
        """The one word within one slip of `token`, or None when there is none or the slip is ambiguous."""
        found = self.matches(token)
        return next(iter(found)) if len(found) == 1 else None
