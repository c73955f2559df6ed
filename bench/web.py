"""Web app benchmark: the search page's round trip (request → results rendered in a real browser) at 1 client,
over corpus/ and squad-it-dev, and the bytes a first visit to the search page transfers.

Starts the API in its own process (open mode, loopback), drives Debian's chromium with Playwright; each
measurement loads `/?q=…` and waits until the results (or the empty state) are in the page. Prints the numbers
and writes bench/reports/web.{md,json}.

    .venv/bin/python bench/web.py [--queries 100] [--skip-squad]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "bench")]

from latency import SQUAD, index_squad, start_api  # noqa: E402

from eval.metrics import percentile  # noqa: E402


def first_load_bytes(url: str, browser) -> int:
    """Bytes of every response a first visit to the search page loads (page, stylesheet, scripts)."""
    context = browser.new_context()
    page = context.new_page()
    urls: list[str] = []
    page.on("requestfinished", lambda r: urls.append(r.url))
    page.goto(url + "/")
    page.wait_for_load_state("networkidle")
    context.close()
    import httpx

    return sum(len(httpx.get(u).content) for u in urls)


def measure(url: str, queries: list[str], browser) -> dict:
    first_load = first_load_bytes(url, browser)
    context = browser.new_context()
    page = context.new_page()
    times = []
    for q in queries:
        t = time.perf_counter()
        page.goto(f"{url}/?q={quote_plus(q)}")
        page.wait_for_selector(".risultato, .vuoto")
        times.append((time.perf_counter() - t) * 1000)
    context.close()
    return {"queries": len(queries), "p50_ms": round(percentile(times, 50), 1),
            "p95_ms": round(percentile(times, 95), 1), "first_load_bytes": first_load}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--skip-squad", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print("error: Debian's chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    py = [sys.executable, "-m", "assistant.cli"]
    corpus_env = {"ASSISTANT_DATA_DIR": str(ROOT / "data" / "bench-corpus"), "ASSISTANT_API_KEYS": "",
                  "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"}
    subprocess.run([*py, "ingest", str(ROOT / "corpus"), "--sync"], cwd=ROOT, env={**os.environ, **corpus_env},
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    targets = [("corpus/ (5 documents)", corpus_env,
                [json.loads(line)["question"] for line in (ROOT / "eval" / "questions.jsonl").open(encoding="utf-8")])]
    if not args.skip_squad and SQUAD.exists():
        targets.append(("squad-it-dev (1,020 documents)", {**index_squad(), "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"},
                        [json.loads(line)["question"] for line in (SQUAD / "queries.jsonl").open(encoding="utf-8")]))
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        for name, env, queries in targets:
            proc, url = start_api(env)
            try:
                rows.append({"corpus": name, **measure(url, queries[: args.queries], browser)})
            finally:
                proc.terminate()
                proc.wait(30)
        browser.close()
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": f"python bench/web.py --queries {args.queries}",
              "rows": rows}
    out = ROOT / "bench" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "web.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    lines = ["# Web app benchmark", "", f"Command: `{result['command']}`, {result['date']}, {os.cpu_count()} cores, "
             "Debian chromium via Playwright, 1 client.", "",
             "Targets: search page round trip (request → results rendered) p50 ≤ 300 ms; first load < 200 KB.", "",
             "| corpus | queries | round trip p50 ms | p95 ms | first load (KB) |", "|---|---|---|---|---|"]
    lines += [f"| {r['corpus']} | {r['queries']} | {r['p50_ms']} | {r['p95_ms']} | {r['first_load_bytes'] / 1024:.1f} |"
              for r in rows]
    (out / "web.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
