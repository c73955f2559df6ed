"""Scale benchmark: the embedded store (Qdrant Edge) at 10k, 100k and 300k passages, measured through the real
HTTP API, plus the ingestion rate of `assistant ingest` against the embedder's raw rate.

Stores are built from the squad-it-dev passages as `assistant eval --dataset` indexed them (real text, sentences,
sentence vectors, dense and sparse vectors). Beyond its 1,020 passages, each synthetic passage copies a real one
picked at random: same text, sentences and sparse terms (so term statistics and answers stay realistic), with
its dense vector moved by Gaussian noise to a cosine of about 0.9 from the original (so HNSW sees a spread
cloud around each real passage, not duplicates), and metadata drawn at random: one of 40 organisations, a year
in 2000-2025, 10 passages per document. Questions are squad-it-dev questions; filtered runs add an organisation
and a year range.

    .venv/bin/python bench/scale.py [--sizes 10000 100000 300000] [--requests 200] [--skip-ingest]

Writes bench/reports/scale.{md,json,png}. Stores are kept in data/bench-scale-<n>/ (rebuilt with --rebuild).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-it-dev"
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "bench")]

from latency import run, start_api  # noqa: E402

ORGS = [f"Organizzazione {i:02d}" for i in range(40)]
NOISE_COS = 0.9
# The filtered runs' filter, as /v1/search and /v1/ask take it: 2 of the 40 organisations, 6 of the 26 years.
FILTER = {"organisation": [ORGS[3], ORGS[17]], "year_from": 2010, "year_to": 2015}


def squad_questions() -> list[str]:
    return [json.loads(line)["question"] for line in (SQUAD / "queries.jsonl").open(encoding="utf-8")]


def store_folder(n: int) -> Path:
    return ROOT / "data" / f"bench-scale-{n}"


def built_store(n: int) -> Path | None:
    """The scale store of n passages, or None (with a message) when bench/scale.py has not built it."""
    folder = store_folder(n)
    if not folder.exists():
        print(f"{folder} is missing: run bench/scale.py first", file=sys.stderr)
        return None
    return folder


def endpoint_runs(url: str, questions: list[str], count: int, clients: int) -> list[dict]:
    """/v1/search and /v1/ask, without and with FILTER, `count` requests each at `clients` clients. Each run asks
    questions no earlier one asked (the API caches query vectors): 4 × count of `questions`, in order."""
    rows = []
    start = 0
    for label, extra in (("none", {}), ("org + years", {"filters": FILTER})):
        for endpoint in ("/v1/search", "/v1/ask"):
            qs = questions[start : start + count]
            start += count
            body = [{"query": q, "k": 10, **extra} if endpoint == "/v1/search" else {"question": q, **extra}
                    for q in qs]
            rows.append({"filter": label, **run(url, endpoint, body, clients)})
    return rows


def base_passages() -> list[dict]:
    """The squad-it-dev passages with their vectors, from the evaluation's own store (indexed if missing)."""
    import qdrant_edge as qe

    from assistant.core.config import Settings
    from assistant.models.e5 import pack_vectors
    from eval.stores import open_dataset_store

    store, _ = open_dataset_store(SQUAD, Settings(data_dir=ROOT / "data"))
    try:
        shard = store.engine.passages
        out, offset = [], None
        while True:
            points, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=500, with_payload=True,
                                                           with_vector=True))
            for p in points:
                payload = p.payload
                rec = store._live_record(payload)
                if rec is None:
                    continue
                vec = p.vector
                sparse = vec.get("text-sparse")
                if vec.get("sentences"):  # a store of the current layout: sentence vectors beside the payload
                    payload["meta"]["sentence_vectors"] = pack_vectors(np.asarray(vec["sentences"]))
                out.append({"payload": payload, "dense": np.asarray(vec["text-dense"], dtype=np.float32),
                            "sparse": (list(sparse.indices), list(sparse.values)) if sparse is not None else None,
                            "record": rec})
            if offset is None:
                break
        return out
    finally:
        store.close()


def build(n: int, base: list[dict], folder: Path) -> dict:
    """A store of n passages in `folder` (see the module docstring); returns build timings."""
    from haystack import Document
    from haystack.dataclasses import SparseEmbedding

    from assistant.core.config import Settings
    from assistant.storage.filters import norm_key
    from assistant.storage.records import DocumentRecord
    from assistant.storage.store import Store

    shutil.rmtree(folder, ignore_errors=True)
    settings = Settings(data_dir=folder)
    store = Store(settings)
    rng = np.random.default_rng(n)
    pick = random.Random(n)
    # per-dimension sigma giving cos(v, v + noise) ~ NOISE_COS for a unit vector v
    sigma = float(np.sqrt(1 / NOISE_COS**2 - 1) / np.sqrt(384))
    started = time.perf_counter()
    written = 0
    try:
        by_doc: dict[str, list[dict]] = {}
        for b in base:  # the real passages themselves, as they were indexed, one write per document
            by_doc.setdefault(b["record"].doc_id, []).append(b)
        for group in by_doc.values():
            rec: DocumentRecord = group[0]["record"]
            store.write_document(DocumentRecord(**{**rec.__dict__, "sentence_vectors": True}),
                                 [_doc(b, b["dense"], b["payload"]["meta"], Document, SparseEmbedding) for b in group])
            written += len(group)
        k = 0
        while written < n:
            doc_id = f"sintetico-{k:06d}"
            org = ORGS[pick.randrange(len(ORGS))]
            year = 2000 + pick.randrange(26)
            docs = []
            for position in range(min(10, n - written)):
                b = base[pick.randrange(len(base))]
                dense = b["dense"] + rng.normal(0, sigma, 384).astype(np.float32)
                dense /= np.linalg.norm(dense)
                meta = {**b["payload"]["meta"], "doc_id": doc_id, "position": position, "organisation": org,
                        "org_key": norm_key(org), "year": [year], "title": f"Documento sintetico {k}"}
                docs.append(_doc(b, dense, meta, Document, SparseEmbedding))
            store.write_document(DocumentRecord(doc_id=doc_id, version="v1", content_hash=doc_id, organisation=org,
                                                years=[year], title=f"Documento sintetico {k}",
                                                sentence_vectors=True), docs)
            written += len(docs)
            k += 1
            if k % 2000 == 0:
                print(f"  {written:,} passages written ({written / (time.perf_counter() - started):.0f}/s)",
                      flush=True)
        write_s = time.perf_counter() - started
        t = time.perf_counter()
        store.optimize()
        optimize_s = time.perf_counter() - t
        store.term_stats()  # saved beside the store on close: the API does not rescan on start
    finally:
        store.close()
    return {"write_seconds": round(write_s, 1), "write_rate": round(n / write_s), "optimize_seconds": round(optimize_s, 1)}


def _doc(b: dict, dense, meta: dict, Document, SparseEmbedding):
    sparse = SparseEmbedding(indices=b["sparse"][0], values=b["sparse"][1]) if b["sparse"] else None
    return Document(content=b["payload"]["content"], embedding=[float(x) for x in dense], sparse_embedding=sparse,
                    meta=meta)


def disk_mib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def rss_mib(pid: int) -> dict[str, float]:
    """Resident memory: all of it, the process's own (anonymous) and mapped files (page cache the kernel can
    reclaim: the store's files read through mmap)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


def measure(folder: Path, questions: list[str], requests: int) -> dict:
    env = {"ASSISTANT_DATA_DIR": str(folder), "ASSISTANT_API_KEYS": "", "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"}
    started = time.perf_counter()
    proc, url = start_api(env)
    ready_s = time.perf_counter() - started
    try:
        for q in questions[-5:]:  # warm-up, not measured
            httpx.post(f"{url}/v1/ask", json={"question": q}, timeout=120)
        rows = endpoint_runs(url, questions, requests, 1)
        rows += endpoint_runs(url, questions[4 * requests :], 2 * requests, 16)
        rss = rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"ready_seconds": round(ready_s, 2), "rss_mib": rss["VmRSS"], "rss_anon_mib": rss["RssAnon"],
            "rss_file_mib": rss["RssFile"], "runs": rows}


def filtered_recall(folder: Path, questions: list[str], hnsw_efs: list[int]) -> list[dict]:
    """Dense recall@10 of HNSW against exact search, with and without a selective filter."""
    import qdrant_edge as qe

    from assistant.models.e5 import embed_queries

    shard = qe.EdgeShard.load(str(folder / "edge" / "passages"))
    vecs = embed_queries(questions)
    flt = qe.Filter(must=[qe.FieldCondition(key="meta.org_key", match=qe.MatchValue(ORGS[3].lower())),
                          qe.FieldCondition(key="meta.year", range=qe.RangeFloat(gte=2010, lte=2015))])
    out = []
    try:
        for label, f in (("none", None), ("org + years", flt)):
            exact = [{str(p.id) for p in shard.query(qe.QueryRequest(
                limit=10, query=qe.Query.Nearest(v.tolist(), using="text-dense"), filter=f,
                params=qe.SearchParams(exact=True)))} for v in vecs]
            for ef in hnsw_efs:
                times, hits = [], 0
                for v, truth in zip(vecs, exact, strict=True):
                    t = time.perf_counter()
                    got = {str(p.id) for p in shard.query(qe.QueryRequest(
                        limit=10, query=qe.Query.Nearest(v.tolist(), using="text-dense"), filter=f,
                        params=qe.SearchParams(hnsw_ef=ef)))}
                    times.append((time.perf_counter() - t) * 1000)
                    hits += len(got & truth) / max(1, len(truth))
                out.append({"filter": label, "hnsw_ef": ef, "recall_at_10": round(hits / len(vecs), 3),
                            "p50_ms": round(float(np.median(times)), 2)})
            if f is not None:
                matching = shard.count(qe.CountRequest(filter=f, exact=True))
                out[-1]["matching_passages"] = matching
    finally:
        shard.close()
    return out


def ingest_rate(n_docs: int = 120) -> dict:
    """`assistant ingest` on real text against the embedder's raw passages/s on the same passages."""
    from haystack import Document

    from assistant.core.config import Settings
    from assistant.models.e5 import embed_passages, passage_text
    from assistant.storage.store import Store

    rows = [json.loads(line) for line in (SQUAD / "corpus.jsonl").open(encoding="utf-8")][:n_docs]
    work = ROOT / "data" / "bench-ingest"
    shutil.rmtree(work, ignore_errors=True)
    docs = work / "docs"
    docs.mkdir(parents=True)
    for r in rows:
        (docs / f"{r['id']}.txt").write_text(f"{r.get('title', '')}\n\n{r['text']}", encoding="utf-8")
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(work / "data"), "ASSISTANT_LOG_LEVEL": "WARNING"}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", str(docs)], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    ingest_s = time.perf_counter() - t
    store = Store(Settings(data_dir=work / "data"))
    try:
        stored = [p for rec in store.documents() for p in store.passages_of(rec.doc_id)]
        t = time.perf_counter()  # what the API then does in the background, when it has nothing else to do
        while store.enrich_step(embed_passages):
            pass
        enrich_s = time.perf_counter() - t
    finally:
        store.close()
    texts = [passage_text(Document(content=p.content, meta=p.meta)) for p in stored]
    t = time.perf_counter()
    for start in range(0, len(texts), 8):
        embed_passages(texts[start : start + 8])
    raw_s = time.perf_counter() - t
    return {"documents": n_docs, "passages": len(stored), "ingest_seconds": round(ingest_s, 1),
            "ingest_passages_per_s": round(len(stored) / ingest_s, 3),
            "embedder_raw_passages_per_s": round(len(stored) / raw_s, 3),
            "slowdown": round(ingest_s / raw_s, 2), "background_sentence_vectors_seconds": round(enrich_s, 1)}


def plot(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sizes = [r["passages"] for r in results]
    for endpoint, ax in (("/v1/search", axes[0]), ("/v1/ask", axes[1])):
        for flt in ("none", "org + years"):
            p50 = [next(x["p50_ms"] for x in r["runs"] if x["endpoint"] == endpoint and x["clients"] == 1
                        and x["filter"] == flt) for r in results]
            ax.plot(sizes, p50, marker="o", label=f"p50, 1 client, filter: {flt}")
        ax.axhline(50 if endpoint == "/v1/search" else 150, color="grey", linestyle="--", label="target")
        ax.set_xscale("log")
        ax.set_xlabel("passages")
        ax.set_ylabel("ms")
        ax.set_title(endpoint)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--build-only", action="store_true", help="build the stores, measure nothing")
    args = parser.parse_args()
    questions = squad_questions()
    random.Random(0).shuffle(questions)
    base = None
    results = []
    out = ROOT / "bench" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        folder = store_folder(n)
        built: dict = {}
        if args.rebuild or not (folder / "edge" / "passages").exists():
            base = base or base_passages()
            print(f"building {n:,} passages in {folder}", flush=True)
            built = build(n, base, folder)
            (folder / "build.json").write_text(json.dumps(built))
        elif (folder / "build.json").exists():
            built = json.loads((folder / "build.json").read_text())
        if args.build_only:
            continue
        print(f"measuring {n:,}", flush=True)
        row = {"passages": n, "disk_mib": disk_mib(folder), **built, **measure(folder, questions, args.requests)}
        row["recall"] = filtered_recall(folder, questions[:100], [64, 128, 256])
        results.append(row)
        (out / "scale.json").write_text(json.dumps({"sizes": results}, indent=2, ensure_ascii=False))
    if args.build_only:
        return 0
    ingest = None if args.skip_ingest else ingest_rate()
    report = render(results, ingest, args)
    (out / "scale.md").write_text(report, encoding="utf-8")
    (out / "scale.json").write_text(json.dumps({"sizes": results, "ingest": ingest}, indent=2, ensure_ascii=False))
    plot(results, out / "scale.png")
    print(report)
    return 0


def render(results: list[dict], ingest: dict | None, args) -> str:
    cmd = f".venv/bin/python bench/scale.py --sizes {' '.join(map(str, args.sizes))} --requests {args.requests}"
    lines = ["# Scale benchmark (embedded store: Qdrant Edge)", "", f"Command: `{cmd}`  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M')}, machine: {os.cpu_count()} cores", "",
             "Targets at 300k passages: /v1/search p50 ≤ 50 ms and /v1/ask p50 ≤ 150 ms at 1 client, 0 errors at 16 "
             "clients, API ready ≤ 10 s, RSS ≤ 2 GiB. How the stores are made: see the docstring of bench/scale.py.",
             "", "RSS is measured after all the runs below; it counts the store's files read through mmap (page "
             "cache the kernel can reclaim) besides the process's own memory.", "",
             "| passages | disk MiB | build: write passages/s | build: optimize s | API ready s | RSS MiB | of which "
             "own (anon) | of which mapped files |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['passages']:,} | {r['disk_mib']} | {r.get('write_rate', '')} | "
                     f"{r.get('optimize_seconds', '')} | {r['ready_seconds']} | {r['rss_mib']} | "
                     f"{r.get('rss_anon_mib', '')} | {r.get('rss_file_mib', '')} |")
    lines += ["", "| passages | endpoint | filter | clients | requests | errors | p50 ms | p95 ms | req/s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for x in r["runs"]:
            lines.append(f"| {r['passages']:,} | {x['endpoint']} | {x['filter']} | {x['clients']} | {x['requests']} | "
                         f"{x['errors']} | {x['p50_ms']} | {x['p95_ms']} | {x['throughput_rps']} |")
    lines += ["", "Dense recall@10 of HNSW against exact search (100 questions; the product searches exactly when a "
              "filter leaves ≤ `exact_search_below` passages, else with `hnsw_ef`):", "",
              "| passages | filter | hnsw_ef | recall@10 | p50 ms | passages matching the filter |", "|---|---|---|---|---|---|"]
    for r in results:
        for x in r["recall"]:
            lines.append(f"| {r['passages']:,} | {x['filter']} | {x['hnsw_ef']} | {x['recall_at_10']} | {x['p50_ms']} | "
                         f"{x.get('matching_passages', '')} |")
    if ingest:
        lines += ["", "## Ingestion", "",
                  f"`assistant ingest` of {ingest['documents']} squad-it-dev passages as .txt files "
                  f"({ingest['passages']} passages stored): {ingest['ingest_passages_per_s']} passages/s; the embedder "
                  f"alone on the same passages: {ingest['embedder_raw_passages_per_s']} passages/s; "
                  f"ingest takes {ingest['slowdown']}× the embedder's time (target ≤ 1.5×). The sentence vectors "
                  f"the answer selector uses are added afterwards, in the background when the API is idle "
                  f"(`ASSISTANT_SENTENCE_VECTORS=background`): {ingest['background_sentence_vectors_seconds']} s for "
                  "these passages; until then answers from these documents use the lexical selector."]
    lines += ["", "![scale.png](scale.png)"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
