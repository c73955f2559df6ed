"""Reciprocal rank fusion of the dense and sparse hit lists."""

from __future__ import annotations

from assistant.storage.engines.base import Hit


def fuse(lists: list[list[Hit]], k: int) -> list[Hit]:
    """Reciprocal rank fusion as Qdrant computes it: each list adds 1 / (k + rank), rank counted from 0. Equal
    scores (frequent: ranks 1 and 4 tie with ranks 4 and 1) are ordered by the first list's ranks, then the
    next's; a passage missing from a list comes after every passage in it."""
    scores: dict[str, float] = {}
    ranks: dict[str, list[int]] = {}
    for i, hits in enumerate(lists):
        for rank, hit in enumerate(hits):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(hit.id, [len(h) for h in lists])[i] = rank
    return [Hit(pid, scores[pid], {}) for pid in sorted(scores, key=lambda pid: (-scores[pid], ranks[pid]))]
