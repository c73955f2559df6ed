"""Passages of a PDF keep the page they start on; citations in the API, the bot and the web page say "p. N"."""

from __future__ import annotations

from bots.formatting import answer_html, sources_html

from .conftest import api_client, upload_and_wait
from .filemakers import make_paged_pdf

FILLER = ("Il comitato di pilotaggio si riunisce ogni tre mesi per esaminare lo stato di avanzamento delle attività "
          "previste dal programma.")
FACT = "Il pozzo di Kalaban Coro è stato completato il 14 ottobre 2024 con una spesa di 61.200 euro."


def _report(tmp_path) -> bytes:
    pages = [[f"RELAZIONE ANNUALE 2024 - PAGINA {i}"] + [f"{FILLER} Nota {i}.{k}." for k in range(12)]
             for i in range(1, 5)]
    pages[2].insert(5, FACT)
    return make_paged_pdf(tmp_path / "relazione-2024.pdf", pages).read_bytes()


def test_passages_know_their_page_and_citations_show_it(writable_store, tmp_path):
    store, settings = writable_store
    with api_client(settings, store, timeout=120) as (_, client):
        job = upload_and_wait(client, "relazione-2024.pdf", _report(tmp_path), {})
        assert job["state"] == "done", job
        passages = store.passages_of("relazione-2024")
        pages = [p.meta["page"] for p in passages]
        assert pages == sorted(pages) and pages[0] == 1 and pages[-1] == 4
        for p in passages:  # each passage's page holds its opening (the page label starts every page)
            labels = [int(w) for w in p.content.split("PAGINA ")[1:2] if w[:1].isdigit() for w in [w.split()[0]]]
            assert not labels or labels[0] in (p.meta["page"], p.meta["page"] + 1)
        r = client.post("/v1/ask", json={"question": "quanto è costato il pozzo di kalaban coro?"})
        assert r.status_code == 200, r.text
        ans = r.json()
        assert not ans["abstained"] and "61.200 euro" in ans["answer"]
        [citation] = ans["citations"]
        assert citation["doc_id"] == "relazione-2024" and citation["page"] == 3
    assert ", p. 3" in answer_html(ans) and ", p. 3" in sources_html(ans["citations"])


def test_citations_of_documents_without_pages_say_none():
    ans = {"answer": "Sì [1]", "citations": [{"n": 1, "doc_id": "a", "title": "A", "organisation": "", "page": None,
                                               "passage": "Sì."}]}
    assert "p." not in answer_html(ans) and "p." not in sources_html(ans["citations"])
