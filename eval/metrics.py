"""Ranking and answer metrics. Relevance is binary; a query may have several relevant items."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & relevant) / len(relevant)


def mrr_at_k(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    for i, item in enumerate(ranked[:k], 1):
        if item in relevant:
            return 1.0 / i
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    if not relevant:
        return 0.0
    seen: set[str] = set()
    dcg = 0.0
    for i, item in enumerate(ranked[:k], 1):
        if item in relevant and item not in seen:
            dcg += 1.0 / math.log2(i + 1)
            seen.add(item)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "–": "-", "—": "-"})


def normalise(text: str) -> str:
    """Lower case, one space, plain quotes and dashes, no markdown emphasis: for span and fact matching."""
    text = text.translate(_QUOTES).replace("**", "").replace("\u00a0", " ")
    return " ".join(text.lower().split())


def contains(haystack: str, needle: str) -> bool:
    return normalise(needle) in normalise(haystack)


def spans_in(passage_text: str, spans: Sequence[str]) -> set[int]:
    """Indices of the gold spans that a passage contains."""
    return {i for i, s in enumerate(spans) if contains(passage_text, s)}


def fact_coverage(answer: str, facts: Sequence[str]) -> float:
    if not facts:
        return 0.0
    answer_n = normalise(re.sub(r"\[\d+\]", " ", answer))
    return sum(normalise(f) in answer_n for f in facts) / len(facts)


def holds_answer(text: str, answers: list[str]) -> bool:
    return bool(spans_in(text, [a for a in answers if a.strip()]))
