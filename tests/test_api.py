"""The real API app served by uvicorn on loopback, over the real store, called with real HTTP."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from assistant.app import create_app

from .conftest import LiveServer, api_client, free_port, make_settings, refused, upload_and_wait
from .filemakers import make_pdf

READ, ADMIN = "read-key-123", "admin-key-456"
KEYS = f"{READ}:read,{ADMIN}:admin"
H_READ = {"Authorization": f"Bearer {READ}"}
H_ADMIN = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def api(corpus_store, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("api-data"), api_keys=KEYS,
                             cors_origins="https://portale.example.it")
    with api_client(settings, corpus_store) as (_, client):
        yield client


@pytest.fixture
def admin_api(writable_store):
    store, settings = writable_store
    settings = make_settings(settings.data_dir, api_keys=KEYS, max_upload_mb=0.05)
    with api_client(settings, store, timeout=120) as (_, client):
        yield client, store


def _no_trace(resp: httpx.Response) -> None:
    assert "Traceback" not in resp.text and 'File "' not in resp.text


def test_health_endpoints_are_open(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["store"] and ready.json()["model"]
    assert api.get("/docs").status_code == 200
    spec = api.get("/openapi.json").json()
    assert {"/v1/search", "/v1/ask", "/v1/ask/stream", "/v1/documents", "/v1/feedback"} <= set(spec["paths"])


@pytest.mark.parametrize("method,path,body", [
    ("post", "/v1/search", {"query": "acqua"}), ("post", "/v1/ask", {"question": "Chi guida?"}),
    ("get", "/v1/documents", None), ("post", "/v1/feedback", {"answer_id": "x", "rating": "up"}),
])
def test_no_key_is_401_and_wrong_key_is_401(api, method, path, body):
    kw = {"json": body} if body else {}
    r = getattr(api, method)(path, **kw)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = getattr(api, method)(path, headers={"Authorization": "Bearer nope"}, **kw)
    assert r.status_code == 401
    _no_trace(r)


def test_read_key_cannot_do_admin_things(api):
    assert api.get("/v1/feedback", headers=H_READ).status_code == 403
    assert api.delete("/v1/documents/000_f83177014e1fe298", headers=H_READ).status_code == 403
    r = api.post("/v1/documents", headers=H_READ, files={"file": ("a.txt", b"ciao mondo", "text/plain")})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_search_grouped_with_total_and_filters(api):
    r = api.post("/v1/search", headers=H_READ, json={"query": "acquedotto Oujda", "k": 3})
    body = r.json()
    assert r.status_code == 200 and body["total"] == 5 and len(body["results"]) == 3
    assert body["results"][0]["doc_id"] == "002_dec2f4423c44d8fd"
    assert "<mark>Oujda</mark>" in body["results"][0]["passage"]["highlighted"]
    r = api.post("/v1/search", headers=H_READ, json={"query": "progetti", "filters": {"organisation": "ANCI Piemonte"}})
    assert [x["doc_id"] for x in r.json()["results"]] == ["003_0fefe2eb825e6ecf"]
    r = api.post("/v1/search", headers=H_READ,
                 json={"query": "progetti", "filters": {"document_ids": ["000_f83177014e1fe298", "004_1678c57870a75ba5"]}})
    assert {x["doc_id"] for x in r.json()["results"]} == {"000_f83177014e1fe298", "004_1678c57870a75ba5"}
    r = api.post("/v1/search", headers=H_READ, json={"query": "cooperazione", "k": 2, "offset": 4})
    assert r.json()["total"] == 5 and len(r.json()["results"]) == 1


@pytest.mark.parametrize("body,status", [
    ({"query": "acqua", "k": 0}, 422), ({"query": "acqua", "k": 51}, 422), ({"query": "   "}, 422),
    ({"query": "acqua", "filters": {"paese": "Tunisia"}}, 422), ({"query": "acqua", "colore": 1}, 422),
    ({"k": 3}, 422),
])
def test_search_rejects_bad_input(api, body, status):
    r = api.post("/v1/search", headers=H_READ, json=body)
    assert r.status_code == status and r.json()["error"]["message"]
    _no_trace(r)


def test_malformed_json_is_400(api):
    r = api.post("/v1/ask", headers={**H_READ, "Content-Type": "application/json"}, content=b'{"question": "ciao"')
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("question", ["", "   \n\t", "x" * 1001])
def test_ask_rejects_empty_and_long_questions(api, question):
    r = api.post("/v1/ask", headers=H_READ, json={"question": question})
    assert r.status_code == 422
    msg = r.json()["error"]["message"]
    assert "vuot" in msg or "1000" in msg


def test_ask_answers_with_citations(api):
    r = api.post("/v1/ask", headers=H_READ, json={"question": "Chi guida il progetto sulle acque reflue in Palestina?"})
    body = r.json()
    assert r.status_code == 200 and not body["abstained"]
    assert "Prato" in body["answer"] and body["citations"][0]["doc_id"] == "000_f83177014e1fe298"
    assert body["conversation_id"] and body["answer_id"]


def test_five_turn_conversation_with_followups(api):
    turns = [
        ("Quali progetti ha seguito la Toscana in Marocco?", False, "Oujda"),
        ("E quanto è costato?", False, "218.000 euro"),
        ("Chi guida il progetto sulle acque reflue in Palestina?", False, "Prato"),
        ("Quanti abitanti ha Oujda?", True, "Nei documenti disponibili"),
        ("Con chi ha siglato il primo accordo ANCI Piemonte?", False, "ACAL"),
    ]
    cid = None
    for question, abstained, expected in turns:
        payload = {"question": question} | ({"conversation_id": cid} if cid else {})
        body = api.post("/v1/ask", headers=H_READ, json=payload).json()
        assert body["abstained"] is abstained, question
        assert expected in body["answer"], (question, body["answer"])
        cid = cid or body["conversation_id"]
        assert body["conversation_id"] == cid
    assert api.delete(f"/v1/conversations/{cid}", headers=H_READ).json()["forgotten"] is True


def test_stream_sends_the_same_answer_as_events(api):
    q = {"question": "Con chi ha siglato il primo accordo ANCI Piemonte?"}
    plain = api.post("/v1/ask", headers=H_READ, json=q).json()
    with api.stream("POST", "/v1/ask/stream", headers=H_READ, json=q) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    events = [(b.split("\n")[0][7:], json.loads(b.split("\n")[1][6:])) for b in raw.strip().split("\n\n")]
    names = [e for e, _ in events]
    assert names[0] == "meta" and names[-1] == "done" and "delta" in names and "citations" in names
    text = "".join(d["text"] for e, d in events if e == "delta")
    assert text == plain["answer"] == events[-1][1]["answer"]


def test_documents_list_get_and_404(api):
    r = api.get("/v1/documents", headers=H_READ, params={"limit": 2, "offset": 1})
    body = r.json()
    assert body["total"] == 5 and len(body["documents"]) == 2
    assert body["documents"][0]["doc_id"] == "001_252956eb12610fe1" and body["documents"][0]["passages"] >= 1
    one = api.get("/v1/documents/003_0fefe2eb825e6ecf", headers=H_READ).json()
    assert one["organisation"] == "ANCI Piemonte" and len(one["passage_texts"]) == one["passages"]
    missing = api.get("/v1/documents/nope", headers=H_READ)
    assert missing.status_code == 404 and "non trovato" in missing.json()["error"]["message"]
    assert api.get("/v1/documents", headers=H_READ, params={"limit": 0}).status_code == 422


def test_feedback_stored_and_listed(api):
    ans = api.post("/v1/ask", headers=H_READ, json={"question": "Dove si trova l'ufficio regionale?"}).json()
    r = api.post("/v1/feedback", headers=H_READ, json={"answer_id": ans["answer_id"], "rating": "down",
                                                     "comment": "manca l'indirizzo"})
    assert r.status_code == 201
    assert api.post("/v1/feedback", headers=H_READ, json={"answer_id": "sconosciuto", "rating": "up"}).status_code == 404
    assert api.post("/v1/feedback", headers=H_READ, json={"answer_id": ans["answer_id"], "rating": "meh"}).status_code == 422
    listed = api.get("/v1/feedback", headers=H_ADMIN).json()
    item = next(i for i in listed["items"] if i["answer_id"] == ans["answer_id"])
    assert item["rating"] == "down" and item["comment"] == "manca l'indirizzo"
    assert item["question"] == "Dove si trova l'ufficio regionale?"


def test_concurrent_asks_match_sequential(api):
    questions = [
        "Chi guida il progetto sulle acque reflue in Palestina?", "Quali progetti ha seguito la Toscana in Marocco?",
        "Con chi ha siglato il primo accordo ANCI Piemonte?", "Quanti abitanti ha Oujda?",
        "Chi ha donato i cassonetti a Kasserine?", "Quando è iniziato il progetto delle Regioni Obiettivo Convergenza?",
        "Quanto dura l'elenco di esperti di ANCI Toscana?", "Dove si trova l'ufficio regionale?",
    ]

    def ask(q):
        return api.post("/v1/ask", headers=H_READ, json={"question": q}).json()

    sequential = [ask(q) for q in questions]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(ask, questions * 2))
    for i, got in enumerate(parallel):
        want = sequential[i % len(questions)]
        assert (got["answer"], got["abstained"]) == (want["answer"], want["abstained"])
        assert [c["passage_id"] for c in got["citations"]] == [c["passage_id"] for c in want["citations"]]


def test_cors_allows_configured_origin(api):
    r = api.options("/v1/search", headers={"Origin": "https://portale.example.it",
                                          "Access-Control-Request-Method": "POST"})
    assert r.headers.get("access-control-allow-origin") == "https://portale.example.it"
    r = api.options("/v1/search", headers={"Origin": "https://altro.example.com",
                                          "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_upload_search_delete(admin_api):
    client, store = admin_api
    text = ("Il Comune di Pontedera ha avviato un gemellaggio con la municipalità di Tozeur per la gestione delle "
            "palme da dattero e dell'irrigazione a goccia. Il progetto costa 45.000 euro.")
    form = {"title": "Gemellaggio Pontedera–Tozeur", "organisation": "Comune di Pontedera", "countries": "Tunisia",
            "years": "2024,2025"}
    job = upload_and_wait(client, "tozeur.txt", text.encode(), H_ADMIN, form)
    assert job["state"] == "done" and job["changed"] is True and job["document"]["doc_id"] == "tozeur"
    assert job["document"]["organisation"] == "Comune di Pontedera"
    assert job["document"]["years"] == [2024, 2025]
    hits = client.post("/v1/search", headers=H_ADMIN, json={"query": "palme da dattero Tozeur"}).json()["results"]
    assert hits[0]["doc_id"] == "tozeur" and hits[0]["title"] == "Gemellaggio Pontedera–Tozeur"
    only = client.post("/v1/search", headers=H_ADMIN, json={"query": "progetto", "filters": {
        "organisation": "comune di pontedera", "year_from": 2025}}).json()["results"]
    assert [h["doc_id"] for h in only] == ["tozeur"]
    bad = client.post("/v1/documents", headers=H_ADMIN, params={"years": "duemila"},
                      files={"file": ("x.txt", b"testo di prova", "text/plain")})
    assert bad.status_code == 422
    again = upload_and_wait(client, "tozeur.txt", text.encode(), H_ADMIN, form)
    assert again["state"] == "done" and again["changed"] is False
    ans = client.post("/v1/ask", headers=H_ADMIN, json={"question": "Quanto costa il progetto di Tozeur?"}).json()
    assert "45.000 euro" in ans["answer"]
    assert client.delete("/v1/documents/tozeur", headers=H_ADMIN).json() == {"doc_id": "tozeur", "deleted": True}
    hits = client.post("/v1/search", headers=H_ADMIN, json={"query": "palme da dattero Tozeur"}).json()["results"]
    assert all(h["doc_id"] != "tozeur" for h in hits)
    assert client.delete("/v1/documents/tozeur", headers=H_ADMIN).status_code == 404


def test_rejected_uploads_leave_the_index_unchanged(admin_api, tmp_path):
    client, store = admin_api
    before = ({(r.doc_id, r.version) for r in store.documents()}, store.count_passages())
    big = b"parola " * 10_000  # over the 0.05 MB limit of this app
    r = client.post("/v1/documents", headers=H_ADMIN, files={"file": ("grande.txt", big, "text/plain")})
    assert r.status_code == 413
    # A well-formed upload of a file that cannot be indexed gets a job that is already failed, in this response.
    message = refused(client.post("/v1/documents", headers=H_ADMIN,
                                  files={"file": ("foglio.xlsx", b"PK..", "application/zip")}), 415)
    assert "tipo di file non supportato" in message and ".docx" in message
    message = refused(client.post("/v1/documents", headers=H_ADMIN,
                                  files={"file": ("rotto.pdf", b"%PDF-1.4 rotto", "application/pdf")}), 422)
    assert "PDF" in message
    # a corrupt file replacing an indexed document does not touch the indexed version
    message = refused(client.post("/v1/documents", headers=H_ADMIN, params={"replace": "true"},
                                  files={"file": ("003_0fefe2eb825e6ecf.txt", b"\x00\x01binario", "text/plain")}), 422)
    assert "binario" in message and "binary" in message  # the English reason rides along
    refused(client.post("/v1/documents", headers=H_ADMIN, files={"file": ("vuoto.txt", b"", "text/plain")}), 422)
    assert ({(r.doc_id, r.version) for r in store.documents()}, store.count_passages()) == before
    pdf = make_pdf(tmp_path / "gafsa.pdf", ["Un corso di ceramica per artigiani di Gafsa finanziato da Sesto Fiorentino."])
    job = upload_and_wait(client, "gafsa.pdf", pdf.read_bytes(), H_ADMIN)
    assert job["state"] == "done" and job["document"]["doc_id"] == "gafsa"


def test_a_file_without_extension_is_typed_by_its_content(admin_api, tmp_path):
    client, _ = admin_api
    job = upload_and_wait(client, "scheda", "Il Comune di Empoli finanzia un pozzo a Kayes nel 2024.".encode(),
                          H_ADMIN)
    assert job["state"] == "done" and job["doc_id"] == "scheda" and job["file"] == "scheda.txt"
    pdf = make_pdf(tmp_path / "x.pdf", ["Il Comune di Vinci sostiene una scuola a Thies."]).read_bytes()
    job = upload_and_wait(client, "relazione", pdf, H_ADMIN)
    assert job["state"] == "done" and job["file"] == "relazione.pdf"
    hits = client.post("/v1/search", headers=H_ADMIN, json={"query": "scuola Thies"}).json()["results"]
    assert hits[0]["doc_id"] == "relazione"


def test_deleting_a_document_cancels_its_waiting_uploads(admin_api):
    """An upload accepted before a deletion never brings the deleted document back."""
    client, store = admin_api
    text = "Il Comune di Lucca sostiene un ambulatorio a Ouagadougou. " * 40
    jobs = [client.post("/v1/documents", headers=H_ADMIN, params={"replace": "true"},
                        files={"file": (f"lucca-{i}.txt" if i else "lucca.txt", text.encode(), "text/plain")}).json()
            for i in range(4)]  # the first three keep the worker busy, so lucca.txt waits in the queue
    jobs.append(client.post("/v1/documents", headers=H_ADMIN, params={"replace": "true"},
                            files={"file": ("lucca.txt", (text + "Seconda versione.").encode(), "text/plain")}).json())
    assert client.delete("/v1/documents/lucca", headers=H_ADMIN).status_code == 200
    for job in jobs:
        while job["state"] in ("queued", "running"):
            job = client.get(f"/v1/jobs/{job['id']}", headers=H_ADMIN).json()
        if job["doc_id"] == "lucca" and job["state"] == "failed":
            assert job["error"]["status"] == 409 and "eliminato" in job["error"]["message"]
    assert store.get("lucca") is None
    assert client.get("/v1/documents/lucca", headers=H_ADMIN).status_code == 404


def test_store_unreachable_is_503_json(tmp_path):
    settings = make_settings(tmp_path / "data", api_keys=KEYS)
    settings.qdrant_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with LiveServer(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
        for r in (client.post("/v1/search", headers=H_READ, json={"query": "acqua"}),
                  client.post("/v1/ask", headers=H_READ, json={"question": "Chi guida il progetto?"})):
            assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
            _no_trace(r)
