"""Models from their PyPI packages: e5 embeddings, other embedders, rerankers, BM25 sparse vectors."""
