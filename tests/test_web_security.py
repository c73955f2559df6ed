"""Web sessions live on the server: logout, key removal and a new login end them (HTTP level; the pages
themselves are driven in a browser by tests/test_web.py)."""

from __future__ import annotations

import re

import httpx

from assistant.app import create_app

from .conftest import LiveServer, make_settings

READ, ADMIN = "web-read-key", "web-admin-key"


class Browser(httpx.Client):
    """One browser per session: the cookie is given per request, never kept in the client's jar (a login
    replaces the session of the cookie the browser sends)."""

    def request(self, method, url, *, cookies=None, **kw):  # type: ignore[override]
        self.cookies.clear()
        if cookies:
            kw["headers"] = {**(kw.get("headers") or {}), "Cookie": f"coop_session={cookies['coop_session']}"}
        return super().request(method, url, **kw)


def _login(client: httpx.Client, key: str, cookie: str | None = None) -> str:
    r = client.post("/login", data={"key": key, "next": "/"}, cookies={"coop_session": cookie} if cookie else None)
    assert r.status_code == 303, r.text
    return r.cookies["coop_session"]


def _csrf(client: httpx.Client, cookie: str) -> str:
    page = client.get("/", cookies={"coop_session": cookie}).text
    return re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page).group(1)


def test_sessions_end_at_logout_at_key_removal_and_change_at_login(corpus_store, tmp_path):
    data = tmp_path / "data"
    settings = make_settings(data, api_keys=f"{READ}:read,{ADMIN}:admin")
    with LiveServer(create_app(settings, store=corpus_store)) as server, \
            Browser(base_url=server.url, timeout=30) as client:
        admin = _login(client, ADMIN)
        reader = _login(client, READ)
        assert client.get("/gestione", cookies={"coop_session": admin}).status_code == 200
        # a new login gets a new id, and the cookie it replaces ends
        again = _login(client, ADMIN, cookie=admin)
        assert again != admin
        assert client.get("/gestione", cookies={"coop_session": admin}).headers.get("location", "").startswith("/login")
        # logout deletes the record: a copy of the cookie no longer works
        token = _csrf(client, again)
        r = client.post("/logout", data={"csrf": token}, cookies={"coop_session": again})
        assert r.status_code == 303
        copied = client.get("/gestione", cookies={"coop_session": again})
        assert copied.status_code == 303 and copied.headers["location"].startswith("/login")
        admin = _login(client, ADMIN)
        assert client.get("/gestione", cookies={"coop_session": admin}).status_code == 200
    # restarted without the admin key: its session ends at once; the read key's session lives on
    settings = make_settings(data, api_keys=f"{READ}:read")
    with LiveServer(create_app(settings, store=corpus_store)) as server, \
            Browser(base_url=server.url, timeout=30) as client:
        gone = client.get("/gestione", cookies={"coop_session": admin})
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
        r = client.post("/gestione/elimina/003_0fefe2eb825e6ecf", cookies={"coop_session": admin})
        assert r.status_code == 401
        assert client.get("/", cookies={"coop_session": reader}).status_code == 200
    # and a key whose role changed does not keep the old role's session
    settings = make_settings(data, api_keys=f"{READ}:admin")
    with LiveServer(create_app(settings, store=corpus_store)) as server, \
            Browser(base_url=server.url, timeout=30) as client:
        assert client.get("/", cookies={"coop_session": reader}).status_code == 303


def test_feedback_csv_cells_never_run_as_formulas(corpus_store, tmp_path):
    import csv
    import io

    settings = make_settings(tmp_path / "data", api_keys=f"{ADMIN}:admin")
    H = {"Authorization": f"Bearer {ADMIN}"}
    attacks = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", "normale -1"]
    with LiveServer(create_app(settings, store=corpus_store)) as server, \
            Browser(base_url=server.url, timeout=60) as client:
        for text in attacks:
            ans = client.post("/v1/ask", headers=H, json={"question": text + " acqua Palestina"}).json()
            client.post("/v1/feedback", headers=H, json={"answer_id": ans["answer_id"], "rating": "down",
                                                          "comment": text})
        admin = _login(client, ADMIN)
        body = client.get("/gestione/riscontri.csv", cookies={"coop_session": admin}).text
    rows = list(csv.reader(io.StringIO(body)))[1:]
    comments = [r[3] for r in rows]
    assert sorted(comments) == sorted(("'" + a if a[0] in "=+-@\t\r" else a) for a in attacks)
    for r in rows:
        for cell in r:
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), cell


def test_security_headers_on_pages_api_and_errors_and_originals_are_downloads(writable_store):
    store, base = writable_store
    settings = make_settings(base.data_dir, api_keys=f"{ADMIN}:admin")
    H = {"Authorization": f"Bearer {ADMIN}"}
    page = "<html><body><script>alert(1)</script>Il Comune di Siena aiuta Kindia.</body></html>"
    with LiveServer(create_app(settings, store=store)) as server, \
            Browser(base_url=server.url, timeout=120) as client:
        admin = _login(client, ADMIN)
        responses = [client.get("/", cookies={"coop_session": admin}), client.get("/login"),
                     client.post("/v1/search", headers=H, json={"query": "acqua"}),
                     client.post("/v1/search", json={"query": "acqua"}),  # 401 from the guard
                     client.get("/non-esiste")]
        for r in responses:
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, r.url
            assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"]
        from .conftest import upload_and_wait

        job = upload_and_wait(client, "kindia.html", page.encode(), H)
        assert job["state"] == "done"
        r = client.get("/documenti/kindia/originale", cookies={"coop_session": admin})
        assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"].startswith("attachment")
        client.delete("/v1/documents/kindia", headers=H)


def test_wrong_keys_and_logins_are_throttled_per_address(corpus_store, tmp_path):
    import time

    settings = make_settings(tmp_path / "data", api_keys=f"{ADMIN}:admin", auth_failures_free=3,
                             auth_block_max_seconds=4)
    good, bad = {"Authorization": f"Bearer {ADMIN}"}, {"Authorization": "Bearer indovina"}
    with LiveServer(create_app(settings, store=corpus_store)) as server, \
            Browser(base_url=server.url, timeout=30) as client, \
            Browser(base_url=server.url, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        assert [client.get("/v1/documents", headers=bad).status_code for _ in range(4)] == [401] * 4
        blocked = client.get("/v1/documents", headers=bad)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert "Troppi tentativi" in blocked.json()["error"]["message"]
        assert client.get("/v1/documents", headers=good).status_code == 429  # this address waits, whatever key
        assert client.post("/login", data={"key": ADMIN}).status_code == 429  # the web login shares the count
        assert other.get("/v1/documents", headers=good).status_code == 200  # other addresses are not affected
        time.sleep(int(blocked.headers["retry-after"]) + 0.2)
        assert client.get("/v1/documents", headers=good).status_code == 200
        # each further failure doubles the wait: 2 s now
        assert client.post("/login", data={"key": "sbagliata"}).status_code == 401
        r = client.get("/v1/documents", headers=good)
        assert r.status_code == 429 and int(r.headers["retry-after"]) == 2


def test_login_from_another_origin_is_refused_and_pages_share_the_rate_limit(corpus_store, tmp_path):
    settings = make_settings(tmp_path / "data", api_keys=f"{ADMIN}:admin", rate_limit_per_minute=6)
    with LiveServer(create_app(settings, store=corpus_store)) as server, \
            Browser(base_url=server.url, timeout=30) as client:
        r = client.post("/login", data={"key": ADMIN}, headers={"Origin": "https://altro-sito.example"})
        assert r.status_code == 403
        cookie = client.post("/login", data={"key": ADMIN}, headers={"Origin": server.url}).cookies["coop_session"]
        H = {"Authorization": f"Bearer {ADMIN}"}
        statuses = [client.get("/v1/documents", headers=H).status_code for _ in range(3)]
        statuses += [client.get("/", cookies={"coop_session": cookie}).status_code for _ in range(4)]
        assert statuses == [200] * 6 + [429], statuses  # one budget per key: API calls and pages together


def test_originals_are_kept_under_their_exact_names(writable_store):
    from .conftest import upload_and_wait

    store, base = writable_store
    settings = make_settings(base.data_dir, api_keys=f"{ADMIN}:admin")
    H = {"Authorization": f"Bearer {ADMIN}"}
    uploads = base.data_dir / "uploads"
    files = {"bilancio.txt": "Bilancio del Comune di Arezzo per Gaza.",
             "bilancio.interno.txt": "Nota interna sul bilancio di Arezzo, riservata.",
             "report.txt": "Rapporto di Cortona su Haiti.", "report.v2.txt": "Rapporto di Cortona, seconda versione."}
    with LiveServer(create_app(settings, store=store)) as server, \
            Browser(base_url=server.url, timeout=120) as client:
        for name, text in files.items():
            assert upload_and_wait(client, name, text.encode(), H)["state"] == "done"
        admin = _login(client, ADMIN)

        def original(doc_id: str) -> httpx.Response:
            return client.get(f"/documenti/{doc_id}/originale", cookies={"coop_session": admin})

        assert original("bilancio").text == files["bilancio.txt"]
        assert original("bilancio.interno").text == files["bilancio.interno.txt"]
        assert client.delete("/v1/documents/bilancio.interno", headers=H).status_code == 200
        assert not (uploads / "bilancio.interno.txt").exists() and original("bilancio.interno").status_code == 404
        assert original("bilancio").text == files["bilancio.txt"]  # never the other document's file
        # replacing "report" with a .md removes exactly its old .txt, not report.v2's
        job = upload_and_wait(client, "report.md", b"# Rapporto\n\nCortona e Haiti, testo nuovo.", H,
                              {"replace": "true"})
        assert job["state"] == "done"
        assert not (uploads / "report.txt").exists() and (uploads / "report.md").exists()
        assert original("report.v2").text == files["report.v2.txt"]
