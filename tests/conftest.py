"""Shared fixtures: a real embedded Qdrant store over corpus/, and the real API served on loopback."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"


def make_settings(data_dir: Path, **overrides):
    from assistant.config import Settings

    env_free = {k: v for k, v in overrides.items()}
    return Settings(data_dir=data_dir, qdrant_url=None, api_keys=env_free.pop("api_keys", ""), **env_free)


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory):
    """The default corpus indexed once for the session (read-only for tests)."""
    from assistant.store import Store
    from ingest.pipeline import Ingestor

    settings = make_settings(tmp_path_factory.mktemp("corpus-data"))
    store = Store(settings)
    summary = Ingestor(store, settings).run([CORPUS])
    assert summary.failed == 0 and summary.indexed == 5
    yield store
    store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an app in a thread, on a free loopback port."""

    def __init__(self, app, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def writable_store(tmp_path):
    """A fresh store with the corpus indexed, for tests that change documents."""
    from assistant.store import Store
    from ingest.pipeline import Ingestor

    settings = make_settings(tmp_path / "data")
    store = Store(settings)
    Ingestor(store, settings).run([CORPUS])
    yield store, settings
    store.close()
