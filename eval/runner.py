"""`assistant eval`: retrieval (bm25, dense, hybrid in one run), answers, latency; Markdown+JSON+PNG reports."""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.core.config import Settings
from assistant.core.text import content_stems, split_sentences
from assistant.models.reranking import reranker_for
from assistant.search.retrieval import Searcher, encode_query
from assistant.storage.store import Store
from eval import PACKAGED

from .gate import check_gate
from .metrics import fact_coverage, holds_answer, mrr_at_k, ndcg_at_k, normalise, recall_at_k, spans_in
from .report import _latency_summary, _margins, write_report
from .stores import article_split, load_jsonl, open_corpus_store, open_dataset_store

MODES = ("sparse", "dense", "hybrid")
RERANKED = "hybrid+rerank"
MODE_NAMES = {"sparse": "bm25-only", "dense": "dense-only", "hybrid": "hybrid", RERANKED: RERANKED}
KS = (1, 3, 5, 10)
SWEEP = [round(x * 0.025, 3) for x in range(0, 33)]


@dataclass
class RetrievalItem:
    id: str
    query: str
    gold_docs: set[str]
    gold_spans: list[str] = field(default_factory=list)


def _span_recall(span_hits: list[set[int]], n_spans: int, k: int) -> float:
    """Share of the gold spans found in the first k passages (span_hits[i]: spans passage i holds)."""
    return len(set().union(*span_hits[:k])) / n_spans if n_spans else 0.0


def _rank_metrics(ranked: list[str], relevant: set[str], span_hits: list[set[int]] | None,
                  n_spans: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in KS:
        if span_hits is not None:
            out[f"recall@{k}"] = _span_recall(span_hits, n_spans, k)
        else:
            out[f"recall@{k}"] = recall_at_k(ranked, relevant, k)
    out["mrr@10"] = mrr_at_k(ranked, relevant, 10)
    out["ndcg@10"] = ndcg_at_k(ranked, relevant, 10)
    return out


def evaluate_retrieval(store: Store, items: list[RetrievalItem], progress: bool = False,
                       reranker=None) -> dict[str, Any]:
    """Every query once through each configuration; document and passage level. With a reranker (given, or
    ASSISTANT_RERANKER), also hybrid followed by it ("hybrid+rerank")."""
    reranker = reranker if reranker is not None else reranker_for(store.settings)
    modes = (*MODES, RERANKED) if reranker is not None else MODES
    reranking = Searcher(store, reranker=reranker) if reranker is not None else None
    sums = {m: {"document": {}, "passage": {}} for m in modes}
    curves = {m: {"document": [0.0] * 10, "passage": [0.0] * 10} for m in modes}
    n = 0
    iterator = items
    if progress:
        from tqdm import tqdm

        iterator = tqdm(items, desc="retrieval", unit="q", file=sys.stderr)
    for item in iterator:
        encoded = encode_query(item.query, store.embedder)
        n += 1
        for mode in modes:
            if mode == RERANKED:
                pool = reranking.passages(encoded, limit=50)
            else:
                pool = store.query(encoded.dense, encoded.sparse, mode=mode, limit=50)
            docs: list[str] = []
            for p in pool:
                if p.doc_id not in docs:
                    docs.append(p.doc_id)
            passages = [f"{p.doc_id}#{p.position}" for p in pool][:10]
            if item.gold_spans:
                hits = [spans_in(p.content, item.gold_spans) for p in pool[:10]]
                n_spans = len(item.gold_spans)
            else:  # a dataset whose gold is whole passages: every chunk of a gold document counts
                hits = [{0} if p.doc_id in item.gold_docs else set() for p in pool[:10]]
                n_spans = 1
            relevant = {pid for pid, h in zip(passages, hits, strict=False) if h}
            passage_m = _rank_metrics(passages, relevant, hits, n_spans)
            doc_m = _rank_metrics(docs, item.gold_docs, None, 0)
            for level, metrics in (("document", doc_m), ("passage", passage_m)):
                for key, value in metrics.items():
                    sums[mode][level][key] = sums[mode][level].get(key, 0.0) + value
            for k in range(1, 11):
                curves[mode]["document"][k - 1] += recall_at_k(docs, item.gold_docs, k)
                curves[mode]["passage"][k - 1] += _span_recall(hits, n_spans, k)
    result: dict[str, Any] = {"queries": n, "configurations": {}}
    if reranker is not None:
        result["reranker"] = {"name": reranker.name, "depth": reranking.depth}
    for mode in modes:
        result["configurations"][MODE_NAMES[mode]] = {
            level: {key: round(value / max(n, 1), 4) for key, value in sums[mode][level].items()}
            for level in ("document", "passage")
        }
        result["configurations"][MODE_NAMES[mode]]["curve"] = {
            level: [round(v / max(n, 1), 4) for v in curves[mode][level]] for level in ("document", "passage")
        }
    return result


def measure_search_latency(store: Store, queries: list[str]) -> list[float]:
    searcher = Searcher(store)
    times = []
    for q in queries:
        t = time.perf_counter()
        searcher.search(q, k=10)
        times.append((time.perf_counter() - t) * 1000)
    return times


# -------------------------------------------------------------------------------------------- answers


def evaluate_answers(store: Store, settings: Settings, questions: list[dict[str, Any]],
                     choose_on: str | None = None) -> dict[str, Any]:
    """Ask every question (follow-ups in their first question's conversation) with the threshold off, then
    apply each threshold of a sweep to the recorded confidences. Abstentions for an unsupported constraint
    happen at any threshold. `choose_on`: the split whose questions choose the best threshold."""
    from assistant.answers.service import AskService, default_answerer

    # Without a language model every question is answered with the threshold off and the sweep applied after.
    # With one, the model is asked only where the configured threshold answers (as in the product).
    threshold = settings.abstain_threshold if settings.llm_url else 0.0
    service = AskService(store, settings, answerer=default_answerer(store, settings, threshold=threshold))
    conversations: dict[str, str] = {}
    records = []
    latencies = []
    for q in questions:
        cid = conversations.get(q["followup_of"]) if q.get("followup_of") else None
        t = time.perf_counter()
        ans = service.ask(q["question"], conversation_id=cid)
        latencies.append((time.perf_counter() - t) * 1000)
        conversations[q["id"]] = ans.conversation_id
        facts = q.get("key_facts") or []
        cited_ok = [any(normalise(f) in normalise(c.passage) for f in facts) for c in ans.citations]
        records.append({
            "id": q["id"], "kind": q.get("kind", ""), "answerable": q["answerable"], "confidence": ans.confidence,
            "forced": ans.abstained, "near_miss": q.get("near_miss"), "split": q.get("split", ""),
            "coverage": fact_coverage(ans.answer, facts) if facts else None, "cited_ok": cited_ok,
            "followup": bool(q.get("followup_of")), "answer": ans.answer, "question": q["question"],
            "answerer": ans.answerer, "fallback_reason": ans.fallback_reason, "verification": ans.verification,
        })
    chooser = [r for r in records if r["split"] == choose_on] if choose_on else records
    sweep = [dict(threshold=t, **_answer_metrics(chooser, t)) for t in SWEEP]
    # The threshold worth using: most right decisions to answer or abstain, most key facts, most follow-ups.
    best = max(sweep, key=lambda r: (round(r["abstention_accuracy"] + r["key_fact_coverage"]
                                           + r["followup_accuracy"], 4), -r["threshold"]))
    splits = {name: _answer_metrics([r for r in records if r["split"] == name], settings.abstain_threshold)
              for name in sorted({r["split"] for r in records if r["split"]})}
    out = {"records": records, "sweep": sweep, "best_threshold": best["threshold"], "chosen_on": choose_on or "all",
            "at_configured": _answer_metrics(records, settings.abstain_threshold), "splits": splits,
            "configured_threshold": settings.abstain_threshold, "latencies_ms": latencies}
    if settings.llm_url:
        out["llm"] = llm_metrics(records)
    return out


def llm_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the language model did: calls (answers not abstained), its sentences dropped by verification, and
    how often the extractive answer was given instead (and why)."""
    called = [r for r in records if not r["forced"]]
    generated = sum((r["verification"] or {}).get("generated", 0) for r in called)
    dropped = sum(len((r["verification"] or {}).get("dropped", [])) for r in called)
    reasons: dict[str, int] = {}
    for r in called:
        if r["fallback_reason"]:
            reasons[r["fallback_reason"]] = reasons.get(r["fallback_reason"], 0) + 1
    seconds = [r["verification"]["seconds"] for r in called if r["verification"]]
    return {"model_calls": len(called), "sentences_generated": generated, "sentences_dropped": dropped,
            "dropped_sentence_share": round(dropped / generated, 4) if generated else 0.0,
            "fallback_rate": round(sum(reasons.values()) / len(called), 4) if called else 0.0,
            "fallback_reasons": reasons,
            "model_seconds_p50": round(statistics.median(seconds), 2) if seconds else None}


def _answer_metrics(records: list[dict[str, Any]], threshold: float) -> dict[str, float]:
    coverage, cited, cited_ok, followups_ok, followups = [], 0, 0, 0, 0
    tp = fp = fn = correct = 0
    near, near_ok, answerable, false_abst = 0, 0, 0, 0
    for r in records:
        abstained = r.get("forced", False) or r["confidence"] < threshold
        if r["answerable"] and r["coverage"] is not None:
            coverage.append(0.0 if abstained else r["coverage"])
            if not abstained:
                cited += len(r["cited_ok"])
                cited_ok += sum(r["cited_ok"])
        if not r["answerable"]:
            tp += abstained
            fn += not abstained
        else:
            fp += abstained
            answerable += 1
            false_abst += abstained
        if r.get("near_miss"):
            near += 1
            near_ok += abstained
        correct += abstained == (not r["answerable"])
        if r["followup"]:
            followups += 1
            ok = abstained if not r["answerable"] else (not abstained and (r["coverage"] or 0) >= 0.999)
            followups_ok += ok
    out = {
        "key_fact_coverage": round(statistics.fmean(coverage), 4) if coverage else 0.0,
        "citation_precision": round(cited_ok / cited, 4) if cited else 0.0,
        "abstention_precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "abstention_recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "abstention_accuracy": round(correct / len(records), 4) if records else 0.0,
        "followup_accuracy": round(followups_ok / followups, 4) if followups else 0.0,
        "false_abstention": round(false_abst / answerable, 4) if answerable else 0.0,
    }
    if near:
        out["near_miss_abstention"] = round(near_ok / near, 4)
    return out


# -------------------------------------------------------------------------------------------- reports


def run_corpus(corpus: Path, questions_path: Path, settings: Settings, reports: Path,
               command: str, name: str | None = None, choose_on: str | None = None,
               chat: str | None = None) -> dict[str, Any]:
    """`chat`: "plain" or "typos" asks the questions in chat form (eval/chat_form.py); the report gets a suffix."""
    name = store_name = name or corpus.name  # chat forms are asked of the same store
    questions = load_jsonl(questions_path)
    if chat:
        from .chat_form import chat_questions

        questions = chat_questions(questions, typos=chat == "typos")
        name = f"{name}-chat" + ("-typos" if chat == "typos" else "")
    store, eval_settings, summary = open_corpus_store(corpus, settings, store_name)
    try:
        items = [RetrievalItem(q["id"], q["question"], set(q["gold_doc_ids"]), q.get("gold_passages") or [])
                 for q in questions if q["answerable"] and not q.get("followup_of")]
        retrieval = evaluate_retrieval(store, items)
        answers = evaluate_answers(store, eval_settings, questions, choose_on)
        search_lat = measure_search_latency(store, [q["question"] for q in questions])
    finally:
        store.close()
    results = {
        "name": name, "date": time.strftime("%Y-%m-%d %H:%M"), "documents": summary.files,
        "questions": len(questions), "retrieval": retrieval, "margins": _margins(retrieval, "passage"),
        "answers": {k: v for k, v in answers.items() if k != "latencies_ms"},
        "latency": {"search": _latency_summary(search_lat), "ask": _latency_summary(answers["latencies_ms"])},
        "latency_raw": {"search": search_lat, "ask": answers["latencies_ms"]},
    }
    report_name = f"{name}-llm" if eval_settings.llm_url else name
    results["report"] = str(write_report(report_name, results, reports, command))
    return results


def evaluate_dataset_answers(store: Store, settings: Settings, queries: list[dict[str, Any]],
                             split: dict[str, str]) -> dict[str, Any]:
    """Share of answers holding a gold span (normalised), overall and per article half; with two baselines:
    the answer's first sentence alone, and the best-overlap sentence of the top passage."""
    from tqdm import tqdm

    from assistant.answers.extractive import idf_function
    from assistant.answers.selector import QuestionInfo, coverage
    from assistant.answers.service import AskService

    from .answer_dump import ask_alone

    service = AskService(store, settings)
    idf = idf_function(store)
    rows = []
    for item in tqdm(queries, desc="answers", unit="q", file=sys.stderr):
        ans, text = ask_alone(service, item["question"])
        first = ans.citations[0].quote if ans.citations else ""
        top = service.searcher.passages(item["question"], limit=1)
        baseline = ""
        if top:
            q = QuestionInfo.of(item["question"])
            # a search hit carries no sentence list (light payload): split its text as the answerer would
            sentences = top[0].meta.get("sentences") or split_sentences(top[0].content) or [top[0].content]
            baseline = max(sentences, key=lambda s: coverage(q, set(content_stems(s)), idf))
        rows.append({"split": split.get(item["gold_ids"][0], ""), "abstained": ans.abstained,
                     "has_answer": (not ans.abstained) and holds_answer(text, item["answers"]),
                     "first_sentence": (not ans.abstained) and holds_answer(first, item["answers"]),
                     "baseline": holds_answer(baseline, item["answers"]),
                     "words": len(text.split()) if not ans.abstained else 0})

    def summary(subset: list[dict[str, Any]]) -> dict[str, float]:
        n = len(subset) or 1
        answered = [r for r in subset if not r["abstained"]]
        return {"questions": len(subset), "has_answer": round(sum(r["has_answer"] for r in subset) / n, 4),
                "first_sentence_has_answer": round(sum(r["first_sentence"] for r in subset) / n, 4),
                "baseline_top_passage_best_overlap": round(sum(r["baseline"] for r in subset) / n, 4),
                "abstained": round(sum(r["abstained"] for r in subset) / n, 4),
                "mean_answer_words": round(statistics.fmean([r["words"] for r in answered]), 1) if answered else 0}

    out = {"all": summary(rows)}
    for name in sorted({r["split"] for r in rows if r["split"]}):
        out[name] = summary([r for r in rows if r["split"] == name])
    return out


def run_dataset(dataset: Path, settings: Settings, reports: Path, command: str, limit: int | None) -> dict[str, Any]:

    name = dataset.name
    passages = load_jsonl(dataset / "corpus.jsonl")
    store, index_seconds = open_dataset_store(dataset, settings)
    try:
        queries = load_jsonl(dataset / "queries.jsonl")
        if limit:
            queries = queries[:limit]
        items = [RetrievalItem(q["id"], q["question"], set(q["gold_ids"])) for q in queries]
        retrieval = evaluate_retrieval(store, items, progress=True)
        answers = None
        if queries and "answers" in queries[0]:
            answers = evaluate_dataset_answers(store, settings, queries, article_split(passages))
        search_lat = measure_search_latency(store, [q["question"] for q in queries[:300]])
    finally:
        store.close()
    results = {
        "name": name, "date": time.strftime("%Y-%m-%d %H:%M"), "documents": len(passages),
        "questions": len(queries), "index_seconds": round(index_seconds, 1), "retrieval": retrieval,
        "margins": _margins(retrieval, "document"),
        "latency": {"search": _latency_summary(search_lat)}, "latency_raw": {"search": search_lat},
    }
    if answers:
        results["dataset_answers"] = answers
    results["report"] = str(write_report(name, results, reports, command))
    return results


def main(args, settings: Settings) -> int:
    reports = Path(args.reports)
    command = " ".join(["assistant eval", *sys.argv[2:]])
    if args.dataset:
        results = run_dataset(Path(args.dataset), settings, reports, command, args.limit)
    elif getattr(args, "unseen", False):
        unseen = PACKAGED / "unseen"
        results = run_corpus(unseen / "docs", unseen / "questions.jsonl", settings, reports, command, name="unseen",
                             choose_on="dev", chat=getattr(args, "chat", None))
    else:
        results = run_corpus(Path(args.corpus), Path(args.questions), settings, reports, command,
                             chat=getattr(args, "chat", None))
    summary = {"report": results["report"], "configurations": {
        cfg: {lvl: data[lvl] for lvl in ("document", "passage")}
        for cfg, data in results["retrieval"]["configurations"].items()}, "margins": results["margins"],
        "latency": results["latency"]}
    if "dataset_answers" in results:
        summary["dataset_answers"] = results["dataset_answers"]
    if "answers" in results:
        summary["answers"] = results["answers"]["at_configured"]
        if "llm" in results["answers"]:
            summary["llm"] = results["answers"]["llm"]
        summary["answers_per_split"] = results["answers"]["splits"]
        summary["best_threshold"] = results["answers"]["best_threshold"]
        summary["abstain_threshold"] = results["answers"]["configured_threshold"]
    code = 0
    if args.gate:
        failed = check_gate(results, json.loads(Path(args.gate).read_text(encoding="utf-8")))
        summary["gate"] = "failed: " + "; ".join(failed) if failed else "passed"
        code = 1 if failed else 0
    print(json.dumps(summary, ensure_ascii=False))
    return code
