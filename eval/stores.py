"""The evaluation stores: a folder's (data/eval-NAME, synced with it) and a data set's (one document per passage)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from assistant.core.config import Settings
from assistant.storage.store import Store


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ------------------------------------------------------------------------------------------ retrieval


def article_split(passages: list[dict[str, Any]]) -> dict[str, str]:
    """passage id → "train" or "heldout": alternate article titles in sorted order."""
    titles = sorted({p.get("title", "") for p in passages})
    half = {t: ("train" if i % 2 == 0 else "heldout") for i, t in enumerate(titles)}
    return {p["id"]: half[p.get("title", "")] for p in passages}


def enrich(store: Store, settings: Settings) -> None:
    """Sentence vectors for every document, as the API adds them in the background after indexing."""
    if settings.sentence_vectors == "off":
        return
    from assistant.models.e5 import embed_passages

    while store.enrich_step(embed_passages):
        pass


def open_corpus_store(corpus: Path, settings: Settings, name: str):
    """A folder's own evaluation store under data/eval-NAME, synced with the folder (idempotent)."""
    from ingest.pipeline import Ingestor

    eval_settings = settings.model_copy(update={"data_dir": settings.data_dir / f"eval-{name}"})
    store = Store(eval_settings, collection=f"eval_{name}")
    try:
        summary = Ingestor(store, eval_settings).run([corpus], sync=True, echo=lambda line: None)
        store.optimize()  # as the product does after each batch: HNSW graphs and fresh sparse IDF
        enrich(store, eval_settings)
    except BaseException:
        store.close()
        raise
    return store, eval_settings, summary


def open_dataset_store(dataset: Path, settings: Settings) -> tuple[Store, float]:
    """The data set's own store, each passage indexed as one document (idempotent: unchanged ones are skipped)."""
    from tqdm import tqdm

    from ingest.pipeline import Ingestor

    name = dataset.name
    eval_settings = settings.model_copy(update={"data_dir": settings.data_dir / f"eval-{name}"})
    store = Store(eval_settings, collection=f"dataset_{name.replace('-', '_')}")
    try:
        ingestor = Ingestor(store, eval_settings)
        started = time.perf_counter()
        for p in tqdm(load_jsonl(dataset / "corpus.jsonl"), desc="indexing", unit="passage", file=sys.stderr):
            ingestor.index_bytes(p["text"].encode("utf-8"), f"{p['id']}.txt", meta={"title": p.get("title", "")},
                                 source=f"dataset:{name}", doc_id=p["id"])
        store.optimize()
        enrich(store, eval_settings)
    except BaseException:
        store.close()
        raise
    return store, time.perf_counter() - started
