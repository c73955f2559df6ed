"""The 1-client runs of bench/scale.py again on one scale store, with other question orders: how much p50 moves
between runs on the same code (this machine's timings are noisy).

    .venv/bin/python bench/scale_repeat.py [--passages 300000] [--repeats 3] [--requests 200]

Needs data/bench-scale-<n>/ from bench/scale.py. Writes bench/reports/scale_repeat.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "bench")]

from latency import start_api  # noqa: E402
from scale import built_store, endpoint_runs, squad_questions  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    folder = built_store(args.passages)
    if folder is None:
        return 2
    questions = squad_questions()
    proc, url = start_api({"ASSISTANT_DATA_DIR": str(folder), "ASSISTANT_API_KEYS": "",
                           "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"})
    rows = []
    try:
        for q in questions[-5:]:  # warm-up, not measured
            httpx.post(f"{url}/v1/ask", json={"question": q}, timeout=120)
        for seed in range(1, args.repeats + 1):
            order = questions[:]
            random.Random(100 + seed).shuffle(order)
            for r in endpoint_runs(url, order, args.requests, 1):
                rows.append({"run": seed, **r})
                print(rows[-1], flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    out = ROOT / "bench" / "reports"
    result = {"passages": args.passages, "date": time.strftime("%Y-%m-%d %H:%M"), "runs": rows}
    (out / "scale_repeat.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    lines = [f"# Scale benchmark, 1-client runs repeated ({args.passages:,} passages)", "",
             f"Command: `.venv/bin/python bench/scale_repeat.py --passages {args.passages} --repeats {args.repeats} "
             f"--requests {args.requests}`  ", f"Date: {result['date']}; one API process, query vectors not cached, "
             "each run with its own question order.", "",
             "| run | endpoint | filter | requests | errors | p50 ms | p95 ms |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['run']} | {r['endpoint']} | {r['filter']} | {r['requests']} | {r['errors']} | {r['p50_ms']} | "
              f"{r['p95_ms']} |" for r in rows]
    (out / "scale_repeat.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
