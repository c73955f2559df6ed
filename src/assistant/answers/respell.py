"""A question typed in a hurry, read with the words of the passages it retrieved: "tiroini" → "tirocini",
"maternita" → "maternità", "x" → "per". Only words no passage holds are touched, and only by one slip."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from assistant.answers.vocabulary import common_words, norm, slips, vocab
from assistant.core.fuzzy import MIN_LENGTH, OneEdit
from assistant.core.text import looks_french, strip_accents, words

_CHAT_PER = re.compile(r"(?<=\s)x(?=\s)", re.I)  # "progetti x i giovani": chat shorthand for "per"


def respell(question: str, texts: Iterable[str]) -> str:
    """`question` with each word that none of `texts` holds, and that is no frequent word, replaced by the one
    word of `texts` a slip away (the most frequent there, if several are), else by the one frequent word it is
    with a letter dropped."""
    if looks_french(question):
        return question  # its words are not Italian ones mistyped ("projet", "elle")
    question = _CHAT_PER.sub("per", question)
    spans = [(m.start(), m.end(), m.group(0)) for m in words(question)]
    common = common_words()
    places = vocab().by_first
    # a capitalised word past the first is a name as written ("con Tunisi" is not "Tunisia"); so is a place
    suspects = [(a, b, w) for k, (a, b, w) in enumerate(spans) if len(w) >= MIN_LENGTH - 1 and not w.isdigit()
                and not (k > 0 and w[:1].isupper()) and norm(w) not in places]
    if not suspects:
        return question
    counts = Counter(m.group(0).lower() for text in texts for m in words(text))
    suspects = [(a, b, w) for a, b, w in suspects
                if w.lower() not in counts and strip_accents(w.lower()) not in common]
    if not suspects:
        return question
    index = OneEdit(w for w in counts if len(w) >= MIN_LENGTH)
    frequent = slips()[3]
    out = question
    for a, b, word in reversed(suspects):
        found = index.matches(word.lower())
        if not found:  # else a frequent word with a letter dropped ("qunto", "numeo"), when only one fits
            found = frequent.restored(strip_accents(word.lower()))
            if len(found) != 1:
                continue
        ranked = sorted(found, key=lambda w: -counts[w])
        if len(ranked) > 1 and counts[ranked[0]] == counts[ranked[1]]:
            continue  # two words as likely: leave it
        fixed = ranked[0]
        if word[:1].isupper():
            fixed = fixed[:1].upper() + fixed[1:]
        out = out[:a] + fixed + out[b:]
    return out
