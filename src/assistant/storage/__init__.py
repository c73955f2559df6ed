"""Qdrant behind one store contract: engines, document registry, term statistics, layout, reindex."""
