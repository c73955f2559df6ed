"""Storage engines behind the one `Store` contract: Qdrant Edge in process (the default, under `data/`) and a
Qdrant server through qdrant-client (when `QDRANT_URL` is set)."""

from __future__ import annotations

from pathlib import Path

from assistant.core.config import Settings
from assistant.storage.engines.base import Engine, EngineUnavailable, Hit, Match, Range

__all__ = ["Engine", "EngineUnavailable", "Hit", "Match", "Range", "open_engine"]


def open_engine(settings: Settings, collection: str, dim: int = 384) -> Engine:
    """`dim`: the dense vectors' size, used when the collection is created."""
    url = settings.qdrant_url
    if url:
        from assistant.storage.engines.server import ServerEngine

        if url.startswith("local:"):
            # qdrant-client's local mode: it speaks the server's client API, so the contract tests run the server
            # engine's code without a server binary. Not for production (a pure-Python scan).
            return ServerEngine.local(Path(url[len("local:") :]), collection, dim)
        return ServerEngine.remote(url, settings.qdrant_api_key, collection, dim)
    from assistant.storage.engines.edge import EdgeEngine

    return EdgeEngine(settings.data_dir / "edge", collection, hnsw_ef=settings.hnsw_ef,
                      exact_below=settings.exact_search_below, dim=dim, payload_memory=settings.edge_payload_memory)
