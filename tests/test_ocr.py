"""Scanned PDFs (a page that is only a picture of typed text, as many municipal acts are published) are read by
Tesseract in Italian; without Tesseract the upload is refused with a clear Italian message and nothing changes."""

from __future__ import annotations

import pytest

from ingest import pdf

from .conftest import api_client, upload_and_wait
from .filemakers import make_scanned_pdf

LINES = ["COMUNE DI LECCE - DELIBERA DI GIUNTA N. 87 DEL 12/03/2025",
         "Oggetto: restauro della porta Bab Diwan nella medina di Sfax.",
         "La Giunta delibera di destinare al restauro della porta Bab Diwan",
         "un contributo di 37.500 euro, a carico del bilancio 2025.",
         "Il responsabile del procedimento e l'architetto Carla Montinari."]

pytestmark = pytest.mark.skipif(not pdf.ocr_available(), reason="Tesseract with Italian data is not installed "
                                "(.ci/run installs tesseract-ocr-ita)")


@pytest.fixture
def scan(tmp_path) -> bytes:
    return make_scanned_pdf(tmp_path / "delibera-87-scansione.pdf", LINES).read_bytes()


def test_a_fact_only_in_a_scanned_pdf_is_answered_with_its_citation(writable_store, scan):
    store, settings = writable_store
    with api_client(settings, store, timeout=120) as (_, client):
        job = upload_and_wait(client, "delibera-87-scansione.pdf", scan, {})
        assert job["state"] == "done", job
        [passage] = [p for p in store.passages_of("delibera-87-scansione")][:1]
        assert passage.meta["ocr_pages"] == [1]  # marked as read by OCR
        r = client.post("/v1/ask", json={"question": "quanto ha messo il comune di lecce x la porta bab diwan?"})
        assert r.status_code == 200, r.text
        ans = r.json()
        assert not ans["abstained"] and "37.500 euro" in ans["answer"]
        assert [c["doc_id"] for c in ans["citations"]] == ["delibera-87-scansione"]


def test_without_tesseract_the_scan_is_refused_in_italian_and_nothing_changes(writable_store, scan,
                                                                                 monkeypatch):
    store, settings = writable_store
    before = {d.doc_id: d.version for d in store.documents()}
    monkeypatch.setattr(pdf, "OCR_LANG", "zzz")  # a language Tesseract does not have: as if not installed
    with api_client(settings, store, timeout=120) as (_, client):
        job = upload_and_wait(client, "delibera-87-scansione.pdf", scan, {})
    assert job["state"] == "failed" and job["error"]["status"] == 422
    assert "Tesseract" in job["error"]["message"] and "tesseract-ocr-ita" in job["error"]["message"]
    assert {d.doc_id: d.version for d in store.documents()} == before
