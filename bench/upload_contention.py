"""Searches while a large upload indexes: /v1/search latency over real HTTP on loopback, with nothing else
running and then while the API indexes an ~80 KB text (the size that held searches for 25 s in issue #9).

Starts the API in its own process over a copy of corpus/ (data/bench-upload), uploads the text, and keeps one
client searching until the upload job is done. Prints the numbers and writes bench/reports/upload_contention.{md,json}.

    .venv/bin/python bench/upload_contention.py
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "bench")]

from latency import start_api  # noqa: E402

from eval.metrics import percentile  # noqa: E402

QUERIES = ["acquedotto Oujda", "acque reflue Palestina", "esperti cooperazione internazionale", "rifiuti Kasserine",
           "progetti in Tunisia", "formazione funzionari municipalità", "ANCI Piemonte Marocco", "bando esperti"]


def big_text(words: int = 12_000) -> bytes:
    """~80 KB of varied Italian project prose (no repeated passage, so every one is embedded)."""
    places = ["Cotonou", "Ouidah", "Tozeur", "Sfax", "Scutari", "Betlemme", "Oujda", "Kukës", "Dakar", "Tunisi"]
    topics = ["acqua potabile", "rifiuti urbani", "formazione dei tecnici", "energia solare", "turismo sostenibile",
              "mobilità", "catasto", "servizi sociali", "scuole", "agricoltura"]
    out, i = [], 0
    while sum(len(p.split()) for p in out) < words:
        out.append(f"Nel {2010 + i % 15} il Comune numero {i} ha avviato con la municipalità di {places[i % 10]} un "
                   f"progetto sul tema {topics[(i * 7) % 10]}, con {i % 40 + 3} tecnici, un budget di {1000 * (i + 5)} "
                   f"euro e attività di scambio che si sono svolte in {i % 6 + 2} missioni.")
        i += 1
    return "\n\n".join(out).encode()


def search_loop(client: httpx.Client, until) -> list[float]:
    times = []
    i = 0
    while not until():
        t = time.perf_counter()
        r = client.post("/v1/search", json={"query": QUERIES[i % len(QUERIES)]})
        r.raise_for_status()
        times.append((time.perf_counter() - t) * 1000)
        i += 1
    return times


def summary(times: list[float]) -> dict:
    return {"n": len(times), "p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
            "max_ms": round(max(times), 1)}


def corpus_data(name: str):
    """A fresh data folder data/<name> with corpus/ indexed (embedded engine), and its settings."""
    from assistant.core.config import Settings
    from assistant.storage.store import Store
    from ingest.pipeline import Ingestor

    data = ROOT / "data" / name
    shutil.rmtree(data, ignore_errors=True)
    settings = Settings(data_dir=data, qdrant_url=None)
    store = Store(settings)
    Ingestor(store, settings).run([ROOT / "corpus"], echo=lambda line: None)
    store.close()
    return data, settings


def main() -> int:
    data, _ = corpus_data("bench-upload")
    proc, url = start_api({"ASSISTANT_DATA_DIR": str(data), "ASSISTANT_API_KEYS": "", "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"})
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            n = {"left": 60}

            def count() -> bool:
                n["left"] -= 1
                return n["left"] < 0

            idle = search_loop(client, count)
            payload = big_text()
            t = time.perf_counter()
            r = client.post("/v1/documents", files={"file": ("grande.txt", payload, "text/plain")})
            accepted_ms = (time.perf_counter() - t) * 1000
            job = r.json()
            state = {"job": job}

            def done() -> bool:
                state["job"] = client.get(f"/v1/jobs/{job['id']}").json()
                return state["job"]["state"] in ("done", "failed")

            busy = search_loop(client, done)
            indexing_s = (state["job"]["finished_at"] or time.time()) - state["job"]["created_at"]
    finally:
        proc.terminate()
        proc.wait(30)
    result = {"upload_bytes": len(payload), "upload_status": r.status_code, "upload_accepted_ms": round(accepted_ms, 1),
              "job_state": state["job"]["state"], "passages": (state["job"].get("document") or {}).get("passages"),
              "indexing_s": round(indexing_s, 1), "search_idle": summary(idle), "search_while_indexing": summary(busy),
              "date": time.strftime("%Y-%m-%d %H:%M"), "command": "python bench/upload_contention.py"}
    out = ROOT / "bench" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "upload_contention.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (out / "upload_contention.md").write_text(
        "# Searches while an upload indexes\n\n"
        f"`{result['command']}` on {result['date']} (2 cores). Upload: {len(payload) // 1024} KB of text → "
        f"{result['passages']} passages, HTTP {r.status_code} in {result['upload_accepted_ms']} ms, indexed in "
        f"{result['indexing_s']} s by the background job.\n\n"
        "| /v1/search | n | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|\n"
        + "".join(f"| {name} | {s['n']} | {s['p50_ms']} | {s['p95_ms']} | {s['max_ms']} |\n"
                  for name, s in (("idle", result["search_idle"]), ("while indexing", result["search_while_indexing"]))),
        encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
