"""Hybrid retrieval: dense + BM25 fused with RRF, optional reranking, filters."""
