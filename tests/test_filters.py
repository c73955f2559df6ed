"""One filter model for search, ask and the web app: a document-kind filter is applied in the store's query, so it
finds a document that ranks far below the 50 a search page reads (it used to be applied to those 50 afterwards)."""

from __future__ import annotations

import httpx
import pytest

from assistant.app import create_app
from assistant.storage.store import Store
from ingest.pipeline import Ingestor

from .conftest import LiveServer, make_settings

QUERY = "acquedotto rurale nei villaggi"
DECOYS = 60
RESOLUTION = "Delibera sul bilancio della cooperazione"


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """60 news items about rural aqueducts, and one resolution that mentions an aqueduct once, in passing."""
    settings = make_settings(tmp_path_factory.mktemp("kinds"))
    store = Store(settings)
    ingestor = Ingestor(store, settings)
    for i in range(DECOYS):
        text = (f"Notizia {i}. L'acquedotto rurale dei villaggi della valle {i} porta acqua potabile a "
                f"{100 + i} famiglie. Un secondo acquedotto rurale serve i villaggi vicini; i villaggi hanno "
                "formato un comitato per l'acquedotto.")
        ingestor.index_bytes(text.encode(), f"notizia-{i:02d}.txt",
                             meta={"title": f"Acquedotto rurale {i}", "source_kind": "notizia"})
    ingestor.index_bytes(("La Giunta approva il bilancio 2024 della cooperazione decentrata: 40.000 euro per la "
                          "formazione dei tecnici comunali, 25.000 euro per le borse di studio e il resto per un "
                          "piccolo acquedotto. Il dirigente è incaricato degli atti conseguenti.").encode(),
                         "delibera-bilancio.txt", meta={"title": RESOLUTION, "source_kind": "Delibera"})
    store.optimize()
    with LiveServer(create_app(settings, store=store)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
    store.close()


def _search(client: httpx.Client, filters: dict | None = None) -> list[str]:
    body = {"query": QUERY, "k": 50, **({"filters": filters} if filters else {})}
    r = client.post("/v1/search", json=body)
    assert r.status_code == 200, r.text
    return [h["doc_id"] for h in r.json()["results"]]


def test_the_resolution_ranks_below_the_first_50(crowded):
    found = _search(crowded)
    assert len(found) == 50 and "delibera-bilancio" not in found


def test_kind_filter_through_the_api_finds_it_case_insensitively(crowded):
    assert _search(crowded, {"kind": "delibera"}) == ["delibera-bilancio"]
    assert _search(crowded, {"kind": ["DELIBERA", "bando"]}) == ["delibera-bilancio"]
    assert _search(crowded, {"kind": "bando"}) == []  # a kind no document has finds nothing, not everything
    assert len(_search(crowded, {"kind": "Notizia"})) == 50


def test_kind_filter_on_the_web_page_finds_it(crowded):
    plain = crowded.get("/", params={"q": QUERY})
    assert plain.status_code == 200 and RESOLUTION not in plain.text and "Acquedotto rurale 1<" in plain.text
    page = crowded.get("/", params={"q": QUERY, "kind": "Delibera"})
    assert page.status_code == 200 and RESOLUTION in page.text
    assert "Acquedotto rurale 1<" not in page.text  # only the resolution is listed


def test_kind_filter_when_asking(crowded):
    r = crowded.post("/v1/ask", json={"question": "Quanto va al piccolo acquedotto nel bilancio?",
                                      "filters": {"kind": "delibera"}})
    assert r.status_code == 200, r.text
    assert {c["doc_id"] for c in r.json()["citations"]} <= {"delibera-bilancio"}
