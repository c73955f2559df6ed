"""Worst-case uploads within the limits (issue #22): each must finish or fail within 60 s, and searches meanwhile
stay within 1.5x of idle.

- a text of one line of abbreviations ("art. n. pag. " repeated) at the word limit (300,000 words): sentence
  splitting used to grow with the square of a line's length (hours at the limit);
- a PDF at the page limit (1,000 pages) whose pages all draw one shared content stream: text extraction used to
  run page by page over the same stream (108 s before a 413).

Starts the API in its own process over a copy of corpus/ (data/bench-worst), uploads each file, keeps one client
searching until the job ends. Prints the numbers and writes bench/reports/worst_upload.{md,json}.

    .venv/bin/python bench/worst_upload.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "bench")]

from latency import start_api  # noqa: E402
from upload_contention import corpus_data, search_loop, summary  # noqa: E402

from tests.filemakers import make_pdf  # noqa: E402


def abbreviation_line(words: int) -> bytes:
    return ("art. n. pag. " * (words // 3)).encode()


def shared_stream_pdf(path: Path, pages: int) -> bytes:
    lines = [f"Art. {i}. Il Comune di Fano e la municipalità di Scutari collaborano sul tema {i} (pag. {i})."
             for i in range(15)]  # ~250 words a page: 1,000 pages stay under the word limit
    return make_pdf(path, lines, pages=pages).read_bytes()


def main() -> int:
    data, settings = corpus_data("bench-worst")
    files = {"abbreviazioni.txt": abbreviation_line(settings.max_document_words),
             "verbale.pdf": shared_stream_pdf(data / "verbale.pdf", settings.max_pdf_pages)}
    proc, url = start_api({"ASSISTANT_DATA_DIR": str(data), "ASSISTANT_API_KEYS": "",
                           "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"})
    runs = {}
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            left = {"n": 60}
            idle = search_loop(client, lambda: (left.__setitem__("n", left["n"] - 1), left["n"] < 0)[1])
            for name, payload in files.items():
                started = time.perf_counter()
                job = client.post("/v1/documents", files={"file": (name, payload, "application/octet-stream")}).json()
                state = {"job": job}

                def ended() -> bool:
                    state["job"] = client.get(f"/v1/jobs/{job['id']}").json()
                    return state["job"]["state"] in ("done", "failed")

                busy = search_loop(client, ended)
                seconds = time.perf_counter() - started
                final = state["job"]
                runs[name] = {"bytes": len(payload), "state": final["state"], "seconds": round(seconds, 1),
                              "passages": (final.get("document") or {}).get("passages"),
                              "error": (final.get("error") or {}).get("message"), "search_while": summary(busy)}
    finally:
        proc.terminate()
        proc.wait(30)
    idle_s = summary(idle)
    for run in runs.values():
        run["p50_vs_idle"] = round(run["search_while"]["p50_ms"] / idle_s["p50_ms"], 2)
    result = {"search_idle": idle_s, "uploads": runs, "date": time.strftime("%Y-%m-%d %H:%M"),
              "command": "python bench/worst_upload.py"}
    out = ROOT / "bench" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "worst_upload.json").write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    rows = "".join(f"| {name} | {r['bytes'] // 1024} KB | {r['state']} | {r['passages']} | {r['seconds']} | "
                   f"{r['search_while']['p50_ms']} ({r['p50_vs_idle']}x) | {r['search_while']['p95_ms']} |\n"
                   for name, r in runs.items())
    (out / "worst_upload.md").write_text(
        "# Worst-case uploads\n\n"
        f"`{result['command']}` on {result['date']} (2 cores). Targets: each upload done or failed within 60 s; "
        "/v1/search p50 meanwhile within 1.5x of idle.\n\n"
        f"Idle /v1/search: p50 {idle_s['p50_ms']} ms, p95 {idle_s['p95_ms']} ms ({idle_s['n']} searches).\n\n"
        "| file | size | job | passages | seconds to done/failed | /v1/search p50 ms meanwhile | p95 ms |\n"
        "|---|---|---|---|---|---|---|\n" + rows, encoding="utf-8")
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
