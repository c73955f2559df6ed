"""Ingestion over the real embedded Qdrant store and the real e5 model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from assistant.search.retrieval import Searcher
from assistant.storage.store import Store
from ingest.pipeline import Ingestor

from .conftest import CORPUS, ROOT, make_settings
from .filemakers import make_docx, make_html, make_pdf

BOUGAINVILLE = ("Il Comune di Pontedera ha avviato un gemellaggio con la municipalità di Tozeur per la gestione "
                "delle palme da dattero e dell'irrigazione a goccia.")


@pytest.fixture
def empty(tmp_path):
    settings = make_settings(tmp_path / "data")
    store = Store(settings)
    yield store, settings, tmp_path
    store.close()


def _texts(store: Store, doc_id: str) -> str:
    return " ".join(p.content for p in store.passages_of(doc_id))


def test_each_format_is_loaded_and_searchable(empty):
    store, settings, tmp = empty
    docs = tmp / "docs"
    docs.mkdir()
    make_pdf(docs / "tozeur.pdf", [BOUGAINVILLE, "Il progetto dura due anni e costa 45.000 euro."])
    make_docx(docs / "kairouan.docx", "Progetto Kairouan",
              ["ANCI Toscana sostiene la biblioteca comunale di Kairouan con libri e formazione dei bibliotecari."])
    make_html(docs / "sfax.html", "Scuole a Sfax",
              ["La Regione Toscana finanzia la ristrutturazione di tre scuole primarie a Sfax, in Tunisia, "
               "con il contributo dei comuni di Livorno e Pisa e di alcune associazioni di migranti."])
    (docs / "gabes.md").write_text("# Oasi di Gabès\n\nUn progetto di **agricoltura sostenibile** nelle oasi di "
                                   "Gabès coordinato da una ONG fiorentina.\n", encoding="utf-8")
    (docs / "monastir.txt").write_text("Il porto di Monastir ospita un corso di formazione per pescatori.",
                                       encoding="utf-8")
    summary = Ingestor(store, settings).run([docs])
    assert summary.failed == 0, [f.line() for f in summary.failures]
    assert summary.indexed == 5
    searcher = Searcher(store)
    for query, doc_id in [("palme da dattero Tozeur", "tozeur"), ("biblioteca di Kairouan", "kairouan"),
                          ("scuole primarie Sfax", "sfax"), ("oasi agricoltura sostenibile", "gabes"),
                          ("formazione pescatori porto", "monastir")]:
        assert searcher.search(query, k=1).hits[0].doc_id == doc_id, query
    assert "Home | Chi siamo" not in _texts(store, "sfax")  # trafilatura drops navigation
    assert "**" not in _texts(store, "gabes")
    rec = store.get("kairouan")
    assert rec.title and rec.passages == 1


def test_rerun_is_idempotent_and_embeds_nothing(writable_store, monkeypatch):
    store, settings = writable_store
    before = {r.doc_id: r.version for r in store.documents()}
    count = store.count_passages()

    def boom(*a, **k):
        raise AssertionError("embedding must not run for unchanged files")

    monkeypatch.setattr("assistant.models.e5.embed_passages", boom)
    summary = Ingestor(store, settings).run([CORPUS])
    assert (summary.indexed, summary.unchanged, summary.failed) == (0, 5, 0)
    assert {r.doc_id: r.version for r in store.documents()} == before
    assert store.count_passages() == count


def test_changed_file_replaces_exactly_its_passages(tmp_path, empty):
    store, settings, _ = empty
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    ing = Ingestor(store, settings)
    ing.run([corpus])
    others = {r.doc_id: r.version for r in store.documents() if not r.doc_id.startswith("003")}
    target = corpus / "003_0fefe2eb825e6ecf.txt"
    target.write_text(target.read_text(encoding="utf-8").replace("ACAL", "ZORBAL") + "\n" + BOUGAINVILLE,
                      encoding="utf-8")
    summary = ing.run([corpus])
    assert (summary.indexed, summary.unchanged) == (1, 4)
    text = _texts(store, "003_0fefe2eb825e6ecf")
    assert "ZORBAL" in text and "ACAL" not in text and "Tozeur" in text
    assert {r.doc_id: r.version for r in store.documents() if not r.doc_id.startswith("003")} == others
    # no passage of the old version is left anywhere
    assert store.count_passages() == sum(r.passages for r in store.documents())
    assert Searcher(store).search("palme da dattero Tozeur", k=1).hits[0].doc_id == "003_0fefe2eb825e6ecf"


def test_sync_removes_documents_whose_files_are_gone(tmp_path, empty):
    store, settings, _ = empty
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    ing = Ingestor(store, settings)
    ing.run([corpus])
    (corpus / "002_dec2f4423c44d8fd.txt").unlink()
    assert ing.run([corpus]).removed == 0  # without --sync nothing is removed
    assert store.get("002_dec2f4423c44d8fd") is not None
    summary = ing.run([corpus], sync=True)
    assert summary.removed == 1
    assert store.get("002_dec2f4423c44d8fd") is None
    hits = Searcher(store).search("acquedotto Oujda", k=5).hits
    assert all(h.doc_id != "002_dec2f4423c44d8fd" for h in hits)
    assert store.count_passages() == sum(r.passages for r in store.documents())


def test_latin1_text_is_decoded(empty):
    store, settings, tmp = empty
    f = tmp / "latin.txt"
    f.write_bytes("La città di Perù e la società cooperativa però è già attiva a Gafsa.".encode("latin-1"))
    summary = Ingestor(store, settings).run([f])
    assert summary.failed == 0
    assert "città" in _texts(store, "latin") and "già" in _texts(store, "latin")


def test_bad_inputs_fail_one_line_each_and_keep_what_was_indexed(empty):
    store, settings, tmp = empty
    docs = tmp / "docs"
    docs.mkdir()
    (docs / "buono.txt").write_text(BOUGAINVILLE, encoding="utf-8")
    ing = Ingestor(store, settings)
    assert ing.run([docs]).indexed == 1
    good_version = store.get("buono").version
    # now every kind of bad input, including a good file turned bad
    (docs / "buono.txt").write_bytes(b"\x00\x01\x02\x03binary\x00")
    (docs / "vuoto.txt").write_text("   \n", encoding="utf-8")
    (docs / "rotto.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    (docs / "finto.docx").write_bytes(b"not a zip at all")
    (docs / "foglio.xls").write_bytes(b"whatever")
    lines: list[str] = []
    summary = ing.run([docs], echo=lines.append)
    assert summary.failed == 5
    assert len(lines) == 5
    reasons = {line.split(":")[0].split("/")[-1]: line for line in lines}
    assert "binary" in reasons["buono.txt"]
    assert "empty" in reasons["vuoto.txt"]
    assert "pdf" in reasons["rotto.pdf"]
    assert "docx" in reasons["finto.docx"]
    assert "unsupported" in reasons["foglio.xls"]
    assert all(line.startswith("FAILED ") and "\n" not in line for line in lines)
    # the previously indexed version of buono.txt is untouched and still found
    assert store.get("buono").version == good_version
    assert Searcher(store).search("palme da dattero Tozeur", k=1).hits[0].doc_id == "buono"


def _cli(*args: str, data_dir, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_LOG_LEVEL": "WARNING"}
    env.pop("QDRANT_URL", None)
    if make_settings(data_dir).qdrant_url:
        env["QDRANT_URL"] = make_settings(data_dir).qdrant_url
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, **kw)


def test_cli_exit_code_summary_and_search(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(CORPUS, docs)
    (docs / "vuoto.txt").write_text("", encoding="utf-8")
    run = _cli("ingest", str(docs), data_dir=tmp_path / "data")
    assert run.returncode == 1
    assert "FAILED" in run.stdout and "vuoto.txt: empty file" in run.stdout
    assert "indexed: 5" in run.stdout and "failed: 1" in run.stdout and "seconds:" in run.stdout
    (docs / "vuoto.txt").unlink()
    again = _cli("ingest", str(docs), data_dir=tmp_path / "data")
    assert again.returncode == 0 and "unchanged: 5" in again.stdout
    found = _cli("search", "acquedotto Oujda", "--k", "2", data_dir=tmp_path / "data")
    assert found.returncode == 0
    first = [line for line in found.stdout.splitlines() if line.startswith("1. ")][0]
    assert "002_dec2f4423c44d8fd" in first
    assert "**Oujda**" in found.stdout
    orgs = _cli("search", "progetti", "--org", "anci piemonte", "--json", data_dir=tmp_path / "data")
    import json

    hits = json.loads(orgs.stdout)["hits"]
    assert hits and {h["organisation"] for h in hits} == {"ANCI Piemonte"}


def test_kill_midway_leaves_each_document_old_or_new(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    sentences = [f"La frase numero {i} descrive un'attività del partenariato con la municipalità." for i in range(40)]
    for i in range(12):
        (docs / f"doc{i:02d}.txt").write_text("VERSIONEUNO. " + " ".join(sentences), encoding="utf-8")
    data = tmp_path / "data"
    assert _cli("ingest", str(docs), data_dir=data).returncode == 0
    for i in range(12):
        (docs / f"doc{i:02d}.txt").write_text("VERSIONEDUE. " + " ".join(reversed(sentences)), encoding="utf-8")
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data), "ASSISTANT_LOG_LEVEL": "INFO"}
    if make_settings(data).qdrant_url:
        env["QDRANT_URL"] = make_settings(data).qdrant_url
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "ingest", str(docs)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    indexed = 0
    deadline = time.time() + 300
    while indexed < 3 and time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        try:
            entry = json.loads(line)  # the structured log: one JSON object per line
        except ValueError:
            continue
        indexed += entry.get("msg") == "indexed" and "doc_id" in entry
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert indexed >= 3

    settings = make_settings(data)
    store = Store(settings)
    try:
        versions = {}
        for rec in store.documents():
            texts = [p.content for p in store.passages_of(rec.doc_id)]
            assert len(texts) == rec.passages
            markers = {("UNO" if "VERSIONEUNO" in t else "DUE") for t in texts if "VERSIONE" in t}
            assert len(markers) == 1, rec.doc_id
            versions[rec.doc_id] = markers.pop()
        assert len(versions) == 12
        assert "DUE" in versions.values() and "UNO" in versions.values()
        # search only ever shows live versions
        for hit in Searcher(store).search("VERSIONEUNO VERSIONEDUE", k=50, per_document=False).hits:
            assert (("VERSIONEUNO" in hit.text) and versions[hit.doc_id] == "UNO") or (
                ("VERSIONEDUE" in hit.text) and versions[hit.doc_id] == "DUE") or "VERSIONE" not in hit.text
    finally:
        store.close()
    assert _cli("ingest", str(docs), data_dir=data).returncode == 0
    store = Store(settings)
    try:
        assert all("VERSIONEDUE" in _texts(store, r.doc_id) for r in store.documents())
        assert store.count_passages() == sum(r.passages for r in store.documents())
    finally:
        store.close()


def test_sync_keeps_uploaded_documents(tmp_path, empty):
    store, settings, _ = empty
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    ing = Ingestor(store, settings)
    ing.index_bytes(BOUGAINVILLE.encode(), "caricato.txt", source="upload:caricato.txt")
    summary = ing.run([corpus], sync=True)
    assert summary.removed == 0 and store.get("caricato") is not None


def test_a_second_process_on_the_embedded_store_gets_a_clear_error(empty):
    store, settings, tmp = empty
    (tmp / "a.txt").write_text(BOUGAINVILLE, encoding="utf-8")
    run = _cli("ingest", str(tmp / "a.txt"), data_dir=settings.data_dir)
    assert run.returncode == 3
    assert "open in another process" in run.stderr and "Traceback" not in run.stderr


def test_latin1_html_declaring_its_charset_is_decoded(empty):
    store, settings, tmp = empty
    page = ("<html><head><meta charset='iso-8859-1'><title>Città</title></head><body><article><h1>Attività a Gafsa"
            "</h1><p>La società cooperativa di Gafsa è già attiva nella formazione professionale dei giovani della "
            "città, con il sostegno del Comune di Empoli.</p></article></body></html>")
    (tmp / "gafsa.html").write_bytes(page.encode("latin-1"))
    assert Ingestor(store, settings).run([tmp / "gafsa.html"]).failed == 0
    text = _texts(store, "gafsa")
    assert "società cooperativa" in text and "già" in text and "Ã" not in text


def test_a_store_sees_documents_committed_by_another_writer(tmp_path):
    """Two API processes on one Qdrant server: each one's registry cache catches up with the other's writes.
    (Embedded mode has one process per folder, so two Store objects share one client here.)"""
    settings = make_settings(tmp_path / "data", qdrant_url=f"local:{tmp_path / 'server'}")
    writer = Store(settings)
    try:
        reader = Store.__new__(Store)
        reader.__dict__.update(writer.__dict__)
        reader._live = dict(writer._live)
        reader._owners = dict(writer._owners)
        reader._loaded_at = 0.0
        Ingestor(writer, settings).index_bytes(BOUGAINVILLE.encode(), "tozeur.txt")
        assert reader.get("tozeur") is None  # not yet seen
        hits = Searcher(reader).search("palme da dattero Tozeur", k=1).hits
        assert hits and hits[0].doc_id == "tozeur"
    finally:
        writer.close()
