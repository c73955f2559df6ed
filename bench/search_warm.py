"""/v1/search at 1 client on a scale store, cold against warm page cache: the payloads of a store opened just now
are read from disk (its files are mapped, not loaded), so the first searches wait on page faults.

    .venv/bin/python bench/search_warm.py [--passages 300000] [--requests 600]

Needs data/bench-scale-<n>/ from bench/scale.py. Prints p50/p95 of the first and last third of the requests.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "bench")]

from latency import run, start_api  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=600)
    args = parser.parse_args()
    squad = ROOT.parent / "shared" / "datasets" / "squad-it-dev"
    questions = [json.loads(line)["question"] for line in (squad / "queries.jsonl").open(encoding="utf-8")]
    random.Random(1).shuffle(questions)  # another order than bench/scale.py's
    folder = ROOT / "data" / f"bench-scale-{args.passages}"
    proc, url = start_api({"ASSISTANT_DATA_DIR": str(folder), "ASSISTANT_API_KEYS": "",
                           "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"})
    try:
        third = args.requests // 3
        out = {}
        for label, qs in (("first", questions[:third]), ("middle", questions[third : 2 * third]),
                          ("last", questions[2 * third : 3 * third])):
            r = run(url, "/v1/search", [{"query": q, "k": 10} for q in qs], 1)
            out[label] = {k: r[k] for k in ("requests", "errors", "p50_ms", "p95_ms")}
        print(json.dumps({"passages": args.passages, **out}, indent=2))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
