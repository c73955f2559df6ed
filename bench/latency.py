"""Latency benchmark of /v1/search and /v1/ask over real HTTP on loopback.

Starts the API in its own process over (a) corpus/ and (b) the squad-it-dev passages, then measures
p50/p95 with 1 and 16 concurrent clients (each a thread with its own keep-alive connection). Prints a table and writes bench/reports/latency.{md,json}.

    .venv/bin/python bench/latency.py [--requests 200] [--skip-squad]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-it-dev"
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from eval.metrics import percentile  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # Without the query cache: benchmark questions repeat, a user's rarely do.
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)], cwd=ROOT,
                            env={"ASSISTANT_QUERY_CACHE_SIZE": "0", **os.environ, **env,
                                 "ASSISTANT_LOG_LEVEL": "WARNING"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("API did not become ready")


def run(url: str, endpoint: str, payloads: list[dict], clients: int) -> dict:
    """Each client is a thread with its own keep-alive connection, as a portal backend would hold."""
    errors = 0
    times: list[float] = []
    local = threading.local()
    opened: list[httpx.Client] = []

    def one(payload: dict) -> None:
        nonlocal errors
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=60)
            opened.append(local.client)
        t = time.perf_counter()
        r = local.client.post(endpoint, json=payload)
        times.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            errors += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, payloads))
    wall = time.perf_counter() - started
    for client in opened:
        client.close()
    return {"endpoint": endpoint, "clients": clients, "requests": len(payloads), "errors": errors,
            "p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
            "throughput_rps": round(len(payloads) / wall, 1)}


def bench_corpus(queries: list[str], n: int, env: dict[str, str], label: str) -> list[dict]:
    proc, url = start_api(env)
    try:
        # warm-up, not measured
        for q in queries[:5]:
            httpx.post(f"{url}/v1/search", json={"query": q}, timeout=60)
        rows = []
        for clients in (1, 16):
            count = n if clients == 1 else 2 * n
            qs = [queries[i % len(queries)] for i in range(count)]
            rows.append({"corpus": label, **run(url, "/v1/search", [{"query": q, "k": 10} for q in qs], clients)})
            rows.append({"corpus": label, **run(url, "/v1/ask", [{"question": q} for q in qs], clients)})
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def index_squad() -> dict[str, str]:
    """The squad-it-dev store of `assistant eval --dataset` (the product's Ingestor, each passage one document,
    idempotent), so the benchmark and the evaluation share one index; returns the API's environment for it."""
    from assistant.core.config import Settings
    from eval.stores import open_dataset_store

    store, _ = open_dataset_store(SQUAD, Settings(data_dir=ROOT / "data"))
    try:
        return {"ASSISTANT_DATA_DIR": str(store.settings.data_dir), "ASSISTANT_COLLECTION": store.collection,
                "ASSISTANT_API_KEYS": "", "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"}
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--skip-squad", action="store_true")
    args = parser.parse_args()
    py = [sys.executable, "-m", "assistant.cli"]
    rows: list[dict] = []

    corpus_dir = ROOT / "data" / "bench-corpus"
    env = {"ASSISTANT_DATA_DIR": str(corpus_dir), "ASSISTANT_API_KEYS": "", "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"}
    subprocess.run([*py, "ingest", str(ROOT / "corpus"), "--sync"], cwd=ROOT, env={**os.environ, **env},
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "questions.jsonl").open(encoding="utf-8")]
    rows += bench_corpus(questions, args.requests, env, "corpus/ (5 documents, 16 passages)")
    # The same questions as officers type them (lowercase, no accents, "x", a slip: eval/chat_form.py): a slip
    # the passages' words can mend costs a second search.
    import random

    from eval.chat_form import chat_form

    rng = random.Random(7)
    chat = [chat_form(q, rng, typos=True) for q in questions]
    rows += bench_corpus(chat, args.requests, env, "corpus/, questions as typed in a chat (with a slip)")

    if not args.skip_squad and SQUAD.exists():
        # Indexed the way the product indexes (sentence vectors included).
        env = index_squad()
        squad_q = [json.loads(line)["question"] for line in (SQUAD / "queries.jsonl").open(encoding="utf-8")][:1000]
        rows += bench_corpus(squad_q, args.requests, env, "squad-it-dev (1,020 passages)")

    header = "| corpus | endpoint | clients | requests | errors | p50 ms | p95 ms | req/s |"
    lines = ["# Latency benchmark", "", f"Command: `.venv/bin/python bench/latency.py --requests {args.requests}"
             f"{' --skip-squad' if args.skip_squad else ''}`  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M')}, machine: {os.cpu_count()} cores", "",
             "Targets at 1 client: search p50 ≤ 50 ms, ask p50 ≤ 100 ms; no errors at 16 clients.",
             "The API runs in its own process; each client is a thread holding one keep-alive connection;",
             "latency is measured around each request on the client side.", "",
             header, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['corpus']} | {r['endpoint']} | {r['clients']} | {r['requests']} | {r['errors']} | "
                     f"{r['p50_ms']} | {r['p95_ms']} | {r['throughput_rps']} |")
    report = "\n".join(lines) + "\n"
    out = ROOT / "bench" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.md").write_text(report, encoding="utf-8")
    (out / "latency.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
