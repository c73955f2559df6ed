"""The OpenAPI document is what the API does: Schemathesis (all checks, all phases, fixed seed) against the real
API on loopback, in open mode and with keys; plus the points it found, pinned one by one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import api_client, make_settings

ADMIN, READ = "contract-admin-key", "contract-read-key"
KEYS = f"{ADMIN}:admin,{READ}:read"


def schemathesis(url: str, *extra: str, cwd: Path, seed: int = 20261207) -> subprocess.CompletedProcess:
    st = Path(sys.executable).with_name("st")
    if not st.exists():
        pytest.fail("schemathesis is missing: it is in the test extra (pip install -e '.[test]')")
    return subprocess.run([str(st), "run", f"{url}/openapi.json", "--checks", "all", "--max-examples", "40",
                           "--seed", str(seed), "--no-color", *extra],
                          capture_output=True, text=True, timeout=600, cwd=cwd)  # its replay files go there


@pytest.fixture
def contract_store(tmp_path):
    """The corpus in a store of its own: the fuzzer uploads and deletes documents."""
    from assistant.storage.store import Store
    from ingest.pipeline import Ingestor

    from .conftest import CORPUS

    settings = make_settings(tmp_path / "data")
    store = Store(settings)
    Ingestor(store, settings).run([CORPUS])
    yield store, tmp_path / "data"
    store.close()


@pytest.mark.parametrize("keys", ["", KEYS], ids=["open-mode", "with-keys"])
def test_schemathesis_finds_nothing(contract_store, keys, tmp_path):
    store, data = contract_store
    # The rate limit and the throttle of wrong keys stay on, high enough for the fuzzer's burst (this test only).
    settings = make_settings(data, api_keys=keys, rate_limit_per_minute=1_000_000, auth_failures_free=1_000_000)
    with api_client(settings, store) as (server, _):
        auth = ["-H", f"Authorization: Bearer {ADMIN}"] if keys else []
        run = schemathesis(server.url, *auth, cwd=tmp_path)
    summary = run.stdout[run.stdout.rfind("SUMMARY"):] if "SUMMARY" in run.stdout else run.stdout[-3000:]
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
    assert "Tested: 13" in summary and "failure" not in summary.splitlines()[-1], summary


@pytest.fixture(scope="module")
def served(corpus_store, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("contract"), api_keys=KEYS)
    with api_client(settings, corpus_store) as (server, client):
        yield client, client.get("/openapi.json").json()


H = {"Authorization": f"Bearer {ADMIN}"}


def test_keys_configured_schema_declares_bearer_and_401(served):
    _, doc = served
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1/"):
                assert op["security"] and {"401", "403", "429", "503", "500"} <= set(op["responses"]), (method, path)


def test_open_mode_schema_has_no_authentication(corpus_store, tmp_path):
    with api_client(make_settings(tmp_path / "d"), corpus_store) as (_, client):
        doc = client.get("/openapi.json").json()
        assert "securitySchemes" not in doc.get("components", {})
        assert all("security" not in op and "401" not in op["responses"]
                   for ops in doc["paths"].values() for op in ops.values())
        assert client.get("/v1/documents").status_code == 200  # and indeed none is asked for


def test_every_status_the_api_returns_is_declared(served):
    client, doc = served
    paths = doc["paths"]
    seen = {
        ("/v1/documents/{doc_id}", "get"): client.get("/v1/documents/nessuno", headers=H),
        ("/v1/jobs/{job_id}", "get"): client.get("/v1/jobs/nessuno", headers=H),
        ("/v1/conversations/{conversation_id}", "delete"): client.delete("/v1/conversations/x", headers=H),
        ("/v1/feedback", "post"): client.post("/v1/feedback", headers=H, json={"answer_id": "x", "rating": "up"}),
        ("/v1/feedback", "get"): client.get("/v1/feedback", headers={"Authorization": f"Bearer {READ}"}),
        ("/v1/search", "post"): client.post("/v1/search", json={"query": "acqua"}),
    }
    for (path, method), response in seen.items():
        assert response.status_code >= 400
        assert str(response.status_code) in paths[path][method]["responses"], (path, response.status_code)
        assert set(response.json()) == {"error"}


def test_what_the_api_refuses_the_schema_refuses(served):
    client, doc = served
    schemas = doc["components"]["schemas"]
    for model, field in (("SearchRequest", "query"), ("AskRequest", "question")):
        prop = schemas[model]["properties"][field]
        assert prop["minLength"] == 1 and prop["maxLength"] == 1000 and prop["pattern"]
    for body in ({"query": ""}, {"query": " \t\n"}, {"query": "\u0000\u0001"}, {"query": "acqua", "k": "5"},
                 {"query": "acqua", "per_document": 0}, {"query": "acqua", "k": True},
                 {"query": "acqua", "filters": {"year_to": 999}}, {"query": "acqua", "offset": 1.5}):
        r = client.post("/v1/search", headers=H, json=body)
        assert r.status_code == 422, body
    assert client.post("/v1/search", headers=H, json={"query": "acqua", "k": 5.0, "filters": {"year_from": 2012.0}}
                       ).status_code == 200  # JSON Schema's integer includes 5.0
    r = client.post("/v1/ask", headers=H, json={"question": "x" * 1001})
    assert r.status_code == 422 and "al massimo 1000 caratteri" in r.json()["error"]["message"]
    offset = {p["name"]: p for p in doc["paths"]["/v1/feedback"]["get"]["parameters"]}["offset"]["schema"]
    assert offset["maximum"] == 1_000_000
    r = client.get("/v1/feedback", headers=H, params={"offset": 9999999999999999999})
    assert r.status_code == 422  # was a 500: SQLite's integers stop at 2**63-1
    r = client.post("/v1/documents", headers=H, params={"replace": "1"},
                    files={"file": ("a.txt", b"testo", "text/plain")})
    assert r.status_code == 422  # a boolean is true or false


def test_405_lists_every_method_of_the_path(served):
    client, _ = served
    r = client.put("/v1/documents", headers=H)
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    r = client.post("/v1/documents/x", headers=H)
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "DELETE"}
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_stream_events_are_described(served):
    client, doc = served
    event = doc["paths"]["/v1/ask/stream"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    names = {branch["properties"]["event"]["const"] for branch in event["oneOf"]}
    with client.stream("POST", "/v1/ask/stream", headers=H,
                       json={"question": "Chi guida il progetto sulle acque reflue in Palestina?"}) as r:
        sent = {line[len("event: "):] for line in r.iter_lines() if line.startswith("event: ")}
    assert sent and sent <= names
