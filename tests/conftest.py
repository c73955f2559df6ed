"""Shared fixtures: a real embedded Qdrant store over corpus/, and the real API served on loopback."""

from __future__ import annotations

import contextlib
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
# Which engine the suite runs on: "edge" (the embedded default) or "server" (the server engine's code over
# qdrant-client's local mode, which speaks the server's client API; there is no server binary here).
ENGINE = os.environ.get("COOP_TEST_ENGINE", "edge")


# Markers without decorating every test: the quality gate and browser tests by what they use, "integration" for a
# test needing any fixture beyond pytest's own (a store, a server, a model), "unit" for the rest (`make test-fast`).
_PYTEST_OWN = {"tmp_path", "tmp_path_factory", "monkeypatch", "request", "capsys", "capfd", "caplog", "recwarn"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = set(getattr(getattr(item, "callspec", None), "params", {}) or {})
        used = set(item.fixturenames) - _PYTEST_OWN - params
        if item.module.__name__.endswith("test_quality_gate"):
            item.add_marker("gate")
        elif "browser" in used:
            item.add_marker("browser")
        elif used:
            item.add_marker("integration")
        else:
            item.add_marker("unit")


def make_settings(data_dir: Path, **overrides):
    from assistant.core.config import Settings

    env_free = {k: v for k, v in overrides.items()}
    env_free.setdefault("rate_limit_per_minute", 0)  # the suite asks fast; test_hardening checks the limit
    url = f"local:{data_dir / 'qdrant-local'}" if ENGINE == "server" else None
    url = env_free.pop("qdrant_url", url)
    return Settings(data_dir=data_dir, qdrant_url=url, api_keys=env_free.pop("api_keys", ""), **env_free)


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory):
    """The default corpus indexed once for the session (read-only for tests)."""
    from assistant.storage.store import Store
    from ingest.pipeline import Ingestor

    settings = make_settings(tmp_path_factory.mktemp("corpus-data"))
    store = Store(settings)
    summary = Ingestor(store, settings).run([CORPUS])
    assert summary.failed == 0 and summary.indexed == 5
    enrich(store)
    yield store
    store.close()


def enrich(store) -> None:
    """Sentence vectors for every document, as the API adds them after indexing; then the index rebuild."""
    from assistant.models.e5 import embed_passages

    while store.enrich_step(embed_passages):
        pass
    store.optimize()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an app in a thread, on a free loopback port."""

    def __init__(self, app, port: int | None = None) -> None:
        import uvicorn

        from assistant.api.server import uvicorn_config

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        from assistant.core.config import Settings

        settings = getattr(app.state, "settings", None) or Settings()  # fake services have no settings
        config = uvicorn_config(app, settings, "127.0.0.1", self.port)
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


@pytest.fixture(scope="session")
def indexed_corpus(tmp_path_factory) -> Path:
    """A data folder with the corpus indexed (and closed), made once: writable stores start from copies of it."""
    from assistant.storage.store import Store
    from ingest.pipeline import Ingestor

    data = tmp_path_factory.mktemp("indexed-corpus") / "data"
    settings = make_settings(data)
    store = Store(settings)
    try:
        Ingestor(store, settings).run([CORPUS])
        enrich(store)
    finally:
        store.close()
    return data


@pytest.fixture
def writable_store(tmp_path, indexed_corpus):
    """A fresh store with the corpus indexed, for tests that change documents (a copy of the indexed folder)."""
    import shutil

    from assistant.storage.store import Store

    shutil.copytree(indexed_corpus, tmp_path / "data")
    settings = make_settings(tmp_path / "data")
    store = Store(settings)
    yield store, settings
    store.close()


@contextlib.contextmanager
def api_client(settings, store, timeout: float = 60):
    """The real API over `store`, served on loopback, with a keep-alive client for it: (server, client)."""
    import httpx

    from assistant.app import create_app

    with LiveServer(create_app(settings, store=store)) as server:
        with httpx.Client(base_url=server.url, timeout=timeout) as client:
            yield server, client


def upload_and_wait(client, name: str, data: bytes, headers: dict, form: dict | None = None,
                    timeout: float = 120) -> dict:
    """POST /v1/documents (202 + job), then poll the job until it is done or failed; returns the job."""
    r = client.post("/v1/documents", headers=headers, params=form or {}, files={"file": (name, data, "text/plain")})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    deadline = time.time() + timeout
    while job["state"] not in ("done", "failed"):
        assert time.time() < deadline, job
        time.sleep(0.1)
        job = client.get(f"/v1/jobs/{job['id']}", headers=headers).json()
    return job


def refused(response, status: int) -> str:
    """An upload accepted as a job that failed its quick checks at once: the job's error status and message."""
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "failed" and job["error"]["status"] == status, job
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    return job["error"]["message"]
