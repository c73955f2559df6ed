"""Issue #9's probes, each re-run against the real API on loopback: hostile or careless clients get a clear
error, never a 500, never someone else's data, and never a store changed by what they sent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from assistant.app import create_app

from .conftest import ROOT, LiveServer, api_client, free_port, make_settings, refused, upload_and_wait
from .filemakers import make_docx_bomb, make_pdf

READ, READ2, ADMIN = "chiave-lettura-1", "chiave-lettura-2", "chiave-admin"
KEYS = f"{READ}:read,{READ2}:read,{ADMIN}:admin"
H1, H2, HA = ({"Authorization": f"Bearer {k}"} for k in (READ, READ2, ADMIN))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture(scope="module")
def keyed(corpus_store, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("hardening"), api_keys=KEYS, header_timeout_seconds=1.0,
                             body_timeout_seconds=1.0)
    with api_client(settings, corpus_store) as (server, client):
        yield server, client


@pytest.fixture
def writable_api(writable_store):
    store, settings = writable_store
    settings = make_settings(settings.data_dir, api_keys=KEYS, max_upload_mb=2)
    with api_client(settings, store, timeout=120) as (_, client):
        yield client, store


def _raw(server, data: bytes, read_timeout: float = 5.0, then: bytes = b"") -> bytes:
    """Send raw bytes; return what the server answers (b'' when it closes without answering)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as s:
        s.sendall(data)
        if then:
            time.sleep(0.2)
            try:
                s.sendall(then)
            except OSError:
                pass
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
                if b"\r\n\r\n" in out and b"}" in out:
                    break
        except (socket.timeout, ConnectionResetError):
            pass
        return out


# ------------------------------------------------------------------------------------ conversations


def test_conversations_are_private_to_their_caller(keyed):
    _, api = keyed
    first = api.post("/v1/ask", headers=H1, json={"question": "Quali progetti ha seguito la Toscana in Marocco?"})
    cid = first.json()["conversation_id"]
    assert len(cid) >= 20  # server-issued, unguessable
    # another key that learns the id gets a fresh conversation: no echo, no continued topic
    other = api.post("/v1/ask", headers=H2, json={"question": "E quanto è costato?", "conversation_id": cid}).json()
    assert other["conversation_id"] != cid
    assert "Marocco" not in other["answer"] and "218.000" not in other["answer"]
    assert api.delete(f"/v1/conversations/{cid}", headers=H2).status_code == 404
    # the owner continues it, then deletes it
    mine = api.post("/v1/ask", headers=H1, json={"question": "E quanto è costato?", "conversation_id": cid}).json()
    assert mine["conversation_id"] == cid and "218.000" in mine["answer"]
    assert api.delete(f"/v1/conversations/{cid}", headers=H1).status_code == 200
    # a made-up id is never adopted
    made_up = api.post("/v1/ask", headers=H1, json={"question": "Chi guida il progetto?", "conversation_id": "tg-1-0"})
    assert made_up.json()["conversation_id"] != "tg-1-0"


# ----------------------------------------------------------------------------------------- uploads


def test_docx_bomb_is_refused_without_memory_growth(writable_api, tmp_path):
    client, store = writable_api
    bomb = make_docx_bomb(tmp_path / "bomba.docx", paragraphs=3_000_000)  # ~110 MB of XML
    data = bomb.read_bytes()
    assert len(data) < 2 * 1024 * 1024
    before_docs = {(r.doc_id, r.version) for r in store.documents()}
    rss = _rss_mb()
    t = time.perf_counter()
    r = client.post("/v1/documents", headers=HA, files={"file": ("bomba.docx", data, "application/octet-stream")})
    assert "troppo grande" in refused(r, 413)
    assert time.perf_counter() - t < 30
    assert _rss_mb() - rss < 300
    # many elements under the size cap are refused too
    many = make_docx_bomb(tmp_path / "elementi.docx", paragraphs=300_000, text="")
    r = client.post("/v1/documents", headers=HA, files={"file": ("elementi.docx", many.read_bytes(), "x")})
    assert "XML" in refused(r, 413)
    assert {(r.doc_id, r.version) for r in store.documents()} == before_docs


def test_mislabelled_binary_is_refused_at_once(writable_api, tmp_path):
    client, _ = writable_api
    pdf = make_pdf(tmp_path / "vero.pdf", ["Un PDF con il nome sbagliato."]).read_bytes()
    t = time.perf_counter()
    r = client.post("/v1/documents", headers=HA, files={"file": ("finto.txt", pdf, "text/plain")})
    assert "il contenuto è PDF" in refused(r, 422)
    assert time.perf_counter() - t < 5


def test_upload_is_a_job_and_searches_go_on_while_it_indexes(writable_api):
    client, store = writable_api
    paragraphs = [f"Paragrafo {i}: il Comune di Empoli finanzia il progetto numero {i} sull'acqua potabile "
                  f"in Benin, con attività di formazione e manutenzione degli impianti nei villaggi." for i in range(80)]
    text = "\n\n".join(paragraphs).encode()
    t = time.perf_counter()
    r = client.post("/v1/documents", headers=HA, files={"file": ("empoli.txt", text, "text/plain")})
    assert r.status_code == 202 and time.perf_counter() - t < 5  # the request does not wait for indexing
    job = r.json()
    served_while_running = 0
    while job["state"] in ("queued", "running"):
        s = time.perf_counter()
        hits = client.post("/v1/search", headers=HA, json={"query": "acquedotto Oujda"})
        assert hits.status_code == 200 and time.perf_counter() - s < 5
        job = client.get(f"/v1/jobs/{job['id']}", headers=HA).json()
        served_while_running += job["state"] == "running"
    assert job["state"] == "done" and job["document"]["passages"] > 5, job
    assert served_while_running > 0
    # another caller cannot read the job
    assert client.get(f"/v1/jobs/{job['id']}", headers=H1).status_code == 403  # read keys may not upload
    assert client.get("/v1/jobs/nope", headers=HA).status_code == 404


def test_too_many_words_fail_the_job_clearly(writable_store):
    store, settings = writable_store
    settings = make_settings(settings.data_dir, api_keys=KEYS, max_document_words=500)
    with LiveServer(create_app(settings, store=store)) as server, httpx.Client(base_url=server.url) as client:
        job = upload_and_wait(client, "lungo.txt", ("parola " * 600).encode(), HA)
    assert job["state"] == "failed" and job["error"]["status"] == 413 and "500" in job["error"]["message"]
    assert store.get("lungo") is None


def test_upload_ids_are_sanitised_and_never_replace_silently(writable_api):
    client, store = writable_api
    text = "Il Comune di Vinci sostiene una scuola di falegnameria a Kukës in Albania.".encode()
    job = upload_and_wait(client, "..\\..\\\u202etxt.exe.txt", text, HA)
    assert job["state"] == "done" and job["doc_id"] == "txt.exe"
    # a corpus document is not replaced by an upload with the same stem, unless asked to
    r = client.post("/v1/documents", headers=HA, files={"file": ("003_0fefe2eb825e6ecf.md", text, "text/plain")})
    assert r.status_code == 409 and "replace=true" in r.json()["error"]["message"]
    assert store.get("003_0fefe2eb825e6ecf").source_path.endswith(".txt")
    job = upload_and_wait(client, "003_0fefe2eb825e6ecf.md", text, HA, {"replace": "true"})
    assert job["state"] == "done" and store.get("003_0fefe2eb825e6ecf").source_path == "upload:003_0fefe2eb825e6ecf.md"


def test_utf16_and_nul_in_text_files(writable_api):
    client, store = writable_api
    text = "Il Comune di Certaldo gemellato con Ouidah in Benin dal 2019."
    job = upload_and_wait(client, "certaldo.txt", text.encode("utf-16"), HA)
    assert job["state"] == "done", job
    job = upload_and_wait(client, "nul.txt", ("Prima parte.\x00 Il Comune di Lastra a Signa coopera con "
                                             "Tozeur per il turismo sostenibile.").encode(), HA)
    assert job["state"] == "done"
    [p] = store.passages_of("nul")
    assert "\x00" not in p.content and "Tozeur" in p.content
    hits = client.post("/v1/search", headers=HA, json={"query": "gemellaggio Certaldo Ouidah"}).json()["results"]
    assert hits[0]["doc_id"] == "certaldo"


def test_form_years_with_odd_digits_is_422(writable_api):
    client, _ = writable_api
    for years in ("²", "٢٠٢١", "20 21", "-2021"):
        r = client.post("/v1/documents", headers=HA, params={"years": years},
                        files={"file": ("a.txt", b"testo di prova abbastanza lungo", "text/plain")})
        assert r.status_code == 422 and "Anni non validi" in r.json()["error"]["message"], years


# ------------------------------------------------------------------------------------- bad requests


def test_lone_surrogate_and_nul_in_questions(keyed):
    _, api = keyed
    for path in ("/v1/ask", "/v1/ask/stream"):
        r = api.post(path, headers={**H1, "Content-Type": "application/json"},
                     content=b'{"question": "Chi guida il progetto \\ud800?"}')
        assert r.status_code == 422 and "caratteri non validi" in r.json()["error"]["message"]
    r = api.post("/v1/search", headers={**H1, "Content-Type": "application/json"},
                 content=b'{"query": "\\udfff acqua"}')
    assert r.status_code == 422
    a = api.post("/v1/ask", headers=H1, json={"question": "Chi guida il progetto sulle acque\u0000 reflue in Palestina?"})
    assert a.status_code == 200 and "Prato" in a.json()["answer"]


def test_filter_lists_are_capped(keyed):
    _, api = keyed
    r = api.post("/v1/search", headers=H1, json={"query": "acqua", "filters": {"document_ids": ["x"] * 101}})
    assert r.status_code == 422
    r = api.post("/v1/search", headers=H1, json={"query": "acqua", "filters": {"country": ["x" * 201]}})
    assert r.status_code == 422


def test_limits_apply_before_the_body_is_read(keyed):
    server, _ = keyed
    head = (b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 209715200\r\n")
    t = time.perf_counter()
    no_key = _raw(server, head + b"\r\n" + b"{" * 1000)
    assert no_key.startswith(b"HTTP/1.1 401") and time.perf_counter() - t < 3
    too_big = _raw(server, head + f"Authorization: Bearer {READ}\r\n\r\n".encode() + b"{" * 1000)
    assert too_big.startswith(b"HTTP/1.1 413")
    # chunked bodies have no length: counted as they arrive
    chunked = (b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               + f"Authorization: Bearer {READ}\r\n".encode() + b"Transfer-Encoding: chunked\r\n\r\n")
    body = b"".join(b"%x\r\n%s\r\n" % (8192, b" " * 8192) for _ in range(10))
    assert _raw(server, chunked + body).startswith(b"HTTP/1.1 413")
    # headers are bounded
    big_headers = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: " + b"a" * 200_000 + b"\r\n\r\n"
    answer = _raw(server, big_headers)
    assert answer == b"" or answer.split(b" ")[1] in (b"400", b"431")


def test_slow_clients_are_cut_off(keyed):
    server, _ = keyed
    # headers trickling in: the connection is closed after the header deadline (1 s here)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        t = time.perf_counter()
        assert s.recv(100) == b""  # closed by the server
        assert time.perf_counter() - t < 5
    # a body that stalls gets 408
    head = (b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {READ}\r\n".encode() + b"Content-Length: 100\r\n\r\n{\"query\"")
    assert _raw(server, head, read_timeout=10).startswith(b"HTTP/1.1 408")


def test_rate_limit_answers_429_with_retry_after(corpus_store, tmp_path):
    settings = make_settings(tmp_path, api_keys=KEYS, rate_limit_per_minute=3)
    with LiveServer(create_app(settings, store=corpus_store)) as server, httpx.Client(base_url=server.url) as c:
        codes = [c.post("/v1/search", headers=H1, json={"query": "acqua"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.post("/v1/search", headers=H1, json={"query": "acqua"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "Troppe richieste" in r.json()["error"]["message"]
        assert c.post("/v1/search", headers=H2, json={"query": "acqua"}).status_code == 200  # per key
        assert c.get("/healthz").status_code == 200


# ---------------------------------------------------------------------------------------- open mode


def test_open_mode_checks_host_and_origin(corpus_store, tmp_path):
    settings = make_settings(tmp_path)  # no keys
    with LiveServer(create_app(settings, store=corpus_store)) as server, httpx.Client(base_url=server.url) as c:
        assert c.post("/v1/search", json={"query": "acqua"}).status_code == 200
        rebinding = c.post("/v1/search", json={"query": "acqua"}, headers={"Host": "attacker.example"})
        assert rebinding.status_code == 421
        cross = c.post("/v1/documents", headers={"Origin": "https://evil.example"},
                       files={"file": ("x.txt", b"testo", "text/plain")})
        assert cross.status_code == 403
        same = c.post("/v1/search", json={"query": "acqua"}, headers={"Origin": server.url})
        assert same.status_code == 200


def test_serve_refuses_open_mode_on_the_network(tmp_path):
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path), "ASSISTANT_API_KEYS": ""}
    out = subprocess.run([sys.executable, "-m", "assistant.cli", "serve", "--host", "0.0.0.0", "--port",
                          str(free_port())], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert out.returncode == 2 and "without API keys" in out.stderr


# ------------------------------------------------------------------------------ feedback and storage


def test_one_vote_per_caller_and_retention(tmp_path):
    from assistant.services.feedback import FeedbackStore

    fb = FeedbackStore(tmp_path / "f.sqlite3")
    fb.record_answer("a1", "c1", "Domanda?", "Risposta.", False, [])
    first = fb.add("a1", "up", None, caller="key:1")
    assert fb.add("a1", "down", "sbagliata", caller="key:1") == first  # changed their mind: one vote
    fb.add("a1", "up", None, caller="key:2")
    total, rows = fb.list()
    assert total == 2 and {r.rating for r in rows} == {"down", "up"}
    assert fb.prune(90, now=time.time() + 89 * 86400) == 0
    assert fb.prune(90, now=time.time() + 91 * 86400) == 3  # the answer (with its question) and both votes
    assert not fb.has_answer("a1") and fb.list()[0] == 0
    fb.close()


def test_api_start_collects_orphan_passages(writable_store):
    from haystack import Document
    from haystack.dataclasses import SparseEmbedding

    store, settings = writable_store
    before = store.count_passages()
    orphan = [Document(id=f"x:{i}", content=f"frammento {i}", embedding=[0.1] * 384,
                       sparse_embedding=SparseEmbedding(indices=[1], values=[1.0]),
                       meta={"doc_id": "003_0fefe2eb825e6ecf", "version": "deadbeef", "position": i})
              for i in range(3)]
    store.engine.write_passages(orphan)  # a crash after the passages, before the record
    store._writing.touch()  # which leaves its mark
    assert store.count_passages() == before + 3
    with LiveServer(create_app(make_settings(settings.data_dir), store=store)):
        deadline = time.time() + 30
        while store.count_passages() != before and time.time() < deadline:
            time.sleep(0.1)
    assert store.count_passages() == before


def test_ingest_stays_inside_its_folder(tmp_path):
    from assistant.storage.store import Store
    from ingest.pipeline import Ingestor

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "dentro.txt").write_text("Il Comune di Greve coopera con Betlemme sulla viticoltura.")
    secret = tmp_path / "segreto.txt"
    secret.write_text("Password dell'amministratore: 1234")
    (folder / "fuori.txt").symlink_to(secret)
    (folder / "rotto.txt").symlink_to(tmp_path / "non-esiste.txt")
    os.mkfifo(folder / "tubo.txt")
    settings = make_settings(tmp_path / "data")
    store = Store(settings)
    lines: list[str] = []
    try:
        done = threading.Event()
        summary = None

        def run():
            nonlocal summary
            summary = Ingestor(store, settings).run([folder], echo=lines.append)
            done.set()

        threading.Thread(target=run, daemon=True).start()
        assert done.wait(120), "ingest blocked on a FIFO"
        assert [d.doc_id for d in store.documents()] == ["dentro"]
        text = "\n".join(lines)
        assert "outside the folder" in text and "broken link" in text and "not a regular file" in text
        assert summary.failed == 3
    finally:
        store.close()


def test_html_elements_and_pdf_pages_are_capped(tmp_path):
    from ingest.loading import Limits, TooLarge, precheck

    with pytest.raises(TooLarge, match="HTML elements"):
        precheck(b"<div><p>x</p></div>" * 100, "pagina.html", Limits(max_xml_elements=300))
    precheck(b"<div><p>x</p></div>" * 10, "pagina.html", Limits(max_xml_elements=300))
    pdf = make_pdf(tmp_path / "p.pdf", ["Una pagina."]).read_bytes()
    with pytest.raises(TooLarge, match="pages"):
        precheck(pdf, "p.pdf", Limits(max_pdf_pages=0))
    precheck(pdf, "p.pdf", Limits(max_pdf_pages=1))


def test_sentence_vectors_are_added_after_the_upload_when_the_api_is_idle(writable_api):
    client, store = writable_api
    text = ("Il Comune di Greve in Chianti sostiene la cooperativa femminile di Kasserine, in Tunisia. "
            "Il progetto forma trenta produttrici di olio e costa 84.000 euro, finanziati dalla Regione Toscana.")
    job = upload_and_wait(client, "kasserine.txt", text.encode(), HA)
    assert job["state"] == "done"
    # committed and searchable at once; the sentence vectors come afterwards, on the upload worker when idle
    deadline = time.time() + 120
    doc = client.get("/v1/documents/kasserine", headers=HA).json()
    while not doc["sentence_vectors"]:
        assert time.time() < deadline, doc
        time.sleep(0.2)
        doc = client.get("/v1/documents/kasserine", headers=HA).json()
    passages = store.passages_of("kasserine")
    assert passages and all(p.meta.get("sentence_vectors") for p in passages)
    from assistant.models.e5 import unpack_vectors

    vectors = unpack_vectors(passages[0].meta["sentence_vectors"])
    assert vectors.shape == (len(passages[0].meta["sentences"]), 384)
    answer = client.post("/v1/ask", headers=HA, json={"question": "Quanto costa il progetto a Kasserine?"}).json()
    assert "84.000" in answer["answer"] and not answer["abstained"]


# ------------------------------------------------------------------------------------- connection exhaustion


def test_half_open_connections_cannot_starve_real_requests(corpus_store, tmp_path):
    """200 sockets that send a request line and a Host header, then nothing: /healthz and an authenticated
    search still answer 200 within a second, from the same address and from another one."""
    import socket

    settings = make_settings(tmp_path / "data", api_keys=KEYS)
    with LiveServer(create_app(settings, store=corpus_store)) as server:
        held = []
        try:
            for _ in range(200):
                s = socket.create_connection(("127.0.0.1", server.port))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
                held.append(s)
            time.sleep(0.3)
            for source in ("127.0.0.1", "127.0.0.2"):
                transport = httpx.HTTPTransport(local_address=source)
                with httpx.Client(base_url=server.url, timeout=5, transport=transport) as client:
                    for method, path, kw in (("GET", "/healthz", {}),
                                             ("POST", "/v1/search", {"headers": H1, "json": {"query": "acqua"}})):
                        t = time.perf_counter()
                        r = client.request(method, path, **kw)
                        assert r.status_code == 200 and time.perf_counter() - t < 1.0, (source, path, r.status_code)
            conns = server.server.config.http_protocol_class.connections
            assert len(conns.by_address.get("127.0.0.1", [])) <= settings.max_connections_per_address
        finally:
            for s in held:
                s.close()


def test_requests_in_progress_are_bounded_idle_sockets_are_not(corpus_store, tmp_path):
    settings = make_settings(tmp_path / "data", api_keys=KEYS, max_requests_in_progress=1, body_timeout_seconds=2)
    with LiveServer(create_app(settings, store=corpus_store)) as server, \
            httpx.Client(base_url=server.url, timeout=10) as client:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]  # sockets, no request
        assert client.get("/healthz").status_code == 200
        busy = socket.create_connection(("127.0.0.1", server.port))
        busy.sendall(b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + READ.encode() +
                     b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\"")  # body stalls
        time.sleep(0.3)
        r = client.get("/healthz")
        assert r.status_code == 503 and r.headers["retry-after"] and r.json()["error"]["code"] == "unavailable"
        assert busy.recv(100).startswith(b"HTTP/1.1 408")  # the stalled body ends, and its slot with it
        assert client.get("/healthz").status_code == 200
        for s in [*idle, busy]:
            s.close()


# ------------------------------------------------------------------------------------- jobs across a crash


def test_jobs_survive_a_kill_9(tmp_path):
    """Four uploads queued and one running when the server is killed: after the restart every job id answers,
    and each ends done (the files waited on disk) or failed — never 404."""
    import signal

    port = free_port()
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path / "data"), "ASSISTANT_API_KEYS": KEYS,
           "ASSISTANT_PORT": str(port), "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0", "HAYSTACK_TELEMETRY_ENABLED": "False"}
    cli = [sys.executable, "-m", "assistant.cli", "serve"]

    def start():
        proc = subprocess.Popen(cli, env=env, cwd=tmp_path, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("server did not start")

    proc = start()
    text = " ".join(f"Il Comune numero {i} finanzia un pozzo nel villaggio {i} con {i * 10} euro." for i in range(400))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=HA) as client:
        ids = [client.post("/v1/documents", files={"file": (f"scheda{i}.txt", text.encode(), "text/plain")}).json()["id"]
               for i in range(5)]
        states = [client.get(f"/v1/jobs/{i}").json()["state"] for i in ids]
    assert states.count("queued") >= 3, states
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc = start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=HA) as client:
            final = {}
            deadline = time.time() + 400
            while len(final) < len(ids) and time.time() < deadline:
                for job_id in ids:
                    r = client.get(f"/v1/jobs/{job_id}")
                    assert r.status_code == 200, (job_id, r.status_code)
                    if r.json()["state"] in ("done", "failed"):
                        final[job_id] = r.json()
                time.sleep(0.5)
            assert len(final) == len(ids), final
            assert all(j["state"] == "done" for j in final.values()), final  # the spooled files were indexed
            assert {j["document"]["doc_id"] for j in final.values()} == {f"scheda{i}" for i in range(5)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


# ------------------------------------------------------------------------------------- worst-case uploads


def test_sentence_splitting_works_in_bounded_pieces_and_keeps_sentences():
    from assistant.core.text import PIECE_CHARS, _pieces, split_sentences

    line = "art. n. pag. " * 5000
    pieces = list(_pieces(line))
    assert "".join(pieces) == line and max(map(len, pieces)) <= PIECE_CHARS
    assert split_sentences(line) == [line.strip()]  # lower-case continuations still join across pieces
    prose = " ".join(f"Il Comune numero {i} finanzia un pozzo." for i in range(300))
    assert split_sentences(prose) == [f"Il Comune numero {i} finanzia un pozzo." for i in range(300)]


def test_an_upload_past_its_time_budget_fails_cleanly(writable_store, tmp_path):
    store, base = writable_store
    settings = make_settings(base.data_dir, api_keys=KEYS, upload_timeout_seconds=0.5)
    before = ({(r.doc_id, r.version) for r in store.documents()}, store.count_passages())
    text = " ".join(f"Il Comune numero {i} finanzia un pozzo nel villaggio {i}." for i in range(3000))
    with api_client(settings, store) as (_, client):
        job = upload_and_wait(client, "lungo.txt", text.encode(), HA)
    assert job["state"] == "failed" and job["error"]["status"] == 413
    assert "secondi" in job["error"]["message"]
    assert ({(r.doc_id, r.version) for r in store.documents()}, store.count_passages()) == before


def test_a_pdf_of_shared_pages_is_read_once_per_stream(tmp_path, monkeypatch):
    from pypdf import PageObject

    from ingest.loading import Limits, TooLarge, load_bytes

    from .filemakers import make_pdf

    calls = []
    extract = PageObject.extract_text
    monkeypatch.setattr(PageObject, "extract_text", lambda self, *a, **k: calls.append(1) or extract(self, *a, **k))
    pdf = make_pdf(tmp_path / "x.pdf", ["Verbale della giunta di Fano, seduta del 3 marzo."], pages=1000).read_bytes()
    loaded = load_bytes(pdf, "x.pdf")
    assert loaded.text.count("Verbale della giunta") == 1000 and len(calls) == 1
    with pytest.raises(TooLarge):  # the text limit is checked page by page, not after the last page
        load_bytes(pdf, "x.pdf", Limits(max_chars=5_000))
