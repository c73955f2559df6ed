"""How long `assistant migrate` takes to convert a Qdrant Edge store of the earlier layout (sentence vectors in the
passage payloads) to the current one, and what it changes on disk.

    .venv/bin/python bench/layout_upgrade.py [--passages 50000]

Builds a synthetic store of the earlier layout in a temporary folder: random unit dense vectors, sparse vectors of
40 Zipf-drawn terms, about 700 characters of text and 5 packed e5-sized sentence vectors per passage (the shape of
squad-it-dev's passages); then times the engine's conversion (copy, then HNSW/IDF optimisation) and reads the
payloads of 10 random passages before and after. Writes bench/reports/layout_upgrade.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import qdrant_edge as qe  # noqa: E402
from haystack import Document  # noqa: E402
from haystack.dataclasses import SparseEmbedding  # noqa: E402

from assistant.models.e5 import pack_vectors  # noqa: E402
from assistant.storage.engines import edge  # noqa: E402
from assistant.storage.engines.base import point_id  # noqa: E402

WORDS = ("progetto comune cooperazione acqua rifiuti scuola formazione partenariato regione sviluppo territorio "
         "municipalità servizi gestione comunità sostenibile bando esperti avviso finanziamento").split()


def legacy_config(dim: int, payload_memory: str = "pinned") -> qe.EdgeConfig:
    """The passages shard as the earlier version made it: no sentence multivector, payload on disk."""
    return qe.EdgeConfig(vectors={edge.DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
                         sparse_vectors={edge.SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)})


def synthetic(n: int, seed: int = 0) -> list[Document]:
    rng = np.random.default_rng(seed)
    words = random.Random(seed)
    docs = []
    for i in range(n):
        dense = rng.standard_normal(384).astype(np.float32)
        terms = np.unique(np.minimum(rng.zipf(1.3, 40), 30_000))
        text = " ".join(words.choice(WORDS) for _ in range(95))
        doc_id = f"d{i // 8}"
        docs.append(Document(
            id=f"{doc_id}:v1:{i % 8}", content=text, embedding=(dense / np.linalg.norm(dense)).tolist(),
            sparse_embedding=SparseEmbedding(indices=terms.tolist(), values=[1.0] * len(terms)),
            meta={"doc_id": doc_id, "version": "v1", "position": i % 8, "title": f"Documento {i // 8}",
                  "org_key": f"org {i % 40}", "organisation": f"Org {i % 40}", "year": [2000 + i % 26],
                  "country_keys": [], "theme_keys": [], "sentences": [text[:140]] * 5,
                  "sentence_vectors": pack_vectors(rng.standard_normal((5, 384)).astype(np.float32) / 20)}))
    return docs


def read_ms(engine: edge.EdgeEngine, ids: list[str], reps: int = 50) -> float:
    rng = random.Random(1)
    times = []
    for _ in range(reps):
        sample = [point_id(i) for i in rng.sample(ids, 10)]
        started = time.perf_counter()
        engine.payloads(sample)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def du_mib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=50_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="layout-upgrade-", dir=ROOT / "data" if (ROOT / "data").exists() else None))
    try:
        root = tmp / "edge"
        original = edge.passages_config
        edge.passages_config = legacy_config
        try:
            engine = edge.EdgeEngine(root, "passages")
            started = time.perf_counter()
            docs = synthetic(args.passages)
            for k in range(0, len(docs), 500):
                engine.write_passages(docs[k : k + 500])
            engine.passages.optimize()
            build_s = time.perf_counter() - started
            ids = [d.id for d in docs]
            del docs
            engine.close()
        finally:
            edge.passages_config = original
        engine = edge.EdgeEngine(root, "passages")
        assert not engine.vectors_apart
        before = {"disk_mib": du_mib(root / "passages"), "read_10_ms": read_ms(engine, ids)}
        started = time.perf_counter()
        converted = engine.upgrade_layout(progress=False)
        seconds = time.perf_counter() - started
        after = {"disk_mib": du_mib(root / "passages"), "read_10_ms": read_ms(engine, ids)}
        engine.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {platform.python_version()}",
              "passages": args.passages, "converted": converted, "seconds": round(seconds, 1),
              "passages_per_s": round(converted / seconds, 1), "build_seconds": round(build_s, 1),
              "before": before, "after": after}
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "layout_upgrade.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "layout_upgrade.md").write_text(
        "# Converting an Edge store of the earlier layout (`assistant migrate`)\n\n"
        f"Synthetic store of {args.passages:,} passages, {result['machine']}, "
        "`.venv/bin/python bench/layout_upgrade.py`"
        f"{'' if args.passages == 50_000 else f' --passages {args.passages}'} on {result['date']}.\n\n"
        "| | earlier layout | current layout |\n|---|---|---|\n"
        f"| passages shard on disk | {before['disk_mib']} MiB | {after['disk_mib']} MiB |\n"
        f"| payloads of 10 random passages (warm, median) | {before['read_10_ms']} ms | {after['read_10_ms']} ms |\n\n"
        f"Conversion (copy into a new shard, then HNSW graph and IDF): {result['seconds']} s, "
        f"{result['passages_per_s']} passages/s; the earlier store stays in use until the copy is complete.\n",
        encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
