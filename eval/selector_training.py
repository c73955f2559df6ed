"""`assistant train-selector`: fit the answer-sentence selector on a SQuAD-style data set.

Candidates are the sentences of the passages the product itself retrieves for each question; a sentence is
positive when it holds a gold answer span inside a gold passage. Articles are split in two by title: the model
is fitted on one half and scored on the other, so the number in the model's meta is a held-out one.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answers.candidates import Context, gather_candidates
from assistant.answers.extractive import idf_function
from assistant.answers.selector import (
    DENSE_FEATURES,
    FEATURES,
    LEXICAL_MODEL_FILE,
    featurize,
    fit_logistic,
    without_dense,
)
from assistant.core.config import Settings
from assistant.search.retrieval import Searcher, encode_query

from .metrics import holds_answer
from .stores import article_split, load_jsonl, open_corpus_store, open_dataset_store


@dataclass
class Item:
    question: str
    gold_ids: set[str]
    answers: list[str]
    group: str  # "train" | "heldout" | "domain"
    context: str = ""  # a follow-up's previous question


def build_examples(store, settings: Settings, items: list[Item], progress: bool = True):
    """Feature rows, labels and the item index of each row."""
    searcher = Searcher(store)
    idf = idf_function(store)
    xs, ys, groups = [], [], []
    iterator = items
    if progress:
        from tqdm import tqdm

        iterator = tqdm(items, desc="candidates", unit="q", file=sys.stderr)
    for qi, item in enumerate(iterator):
        # A follow-up is searched with its previous question, as AskService does.
        encoded = encode_query(f"{item.question} {item.context}".strip())
        evidence = searcher.passages(encoded, limit=settings.answer_passages, sentence_vectors=True)
        context = Context(followup=True, context_text=item.context) if item.context else Context()
        q, cands = gather_candidates(item.question, encoded, evidence, context, sentence_vectors=True)
        if not cands:
            continue
        xs.append(featurize(q, [c.facts for c in cands], idf))
        ys.extend(float(c.passage.doc_id in item.gold_ids and holds_answer(c.text, item.answers)) for c in cands)
        groups.extend([qi] * len(cands))
    if not xs:
        return np.zeros((0, len(FEATURES))), np.zeros(0), np.zeros(0, dtype=int)
    return np.vstack(xs), np.asarray(ys), np.asarray(groups)


def domain_items(path: Path, split: str | None) -> list[Item]:
    """Our own evaluation questions (their key facts as answers), answerable, of one split; a follow-up
    carries its previous question as context."""

    questions = load_jsonl(path)
    text = {q["id"]: q["question"] for q in questions}
    return [Item(q["question"], set(q["gold_doc_ids"]), q["key_facts"], "domain", text.get(q.get("followup_of"), ""))
            for q in questions
            if q["answerable"] and q.get("key_facts") and (split is None or q.get("split") == split)]


def top1_accuracy(probs: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Share of questions whose highest-scored sentence holds an answer."""
    hits, n = 0, 0
    for g in np.unique(groups):
        idx = np.where(groups == g)[0]
        n += 1
        hits += y[idx[np.argmax(probs[idx])]] > 0
    return hits / n if n else 0.0


def train(dataset: Path, settings: Settings, out: Path, command: str, domain_weight: float = 20.0) -> dict[str, Any]:
    """Fit on the train half of the data set plus our dev questions (corpus/ and the unseen set's dev split,
    weighted `domain_weight` each: they hold what SQuAD lacks, such as project-sheet fields); score the
    held-out half."""

    root = Path(__file__).resolve().parent
    split = article_split(load_jsonl(dataset / "corpus.jsonl"))
    squad = [Item(q["question"], set(q["gold_ids"]), q["answers"], split[q["gold_ids"][0]])
             for q in load_jsonl(dataset / "queries.jsonl")]
    parts = []
    store, _ = open_dataset_store(dataset, settings)
    try:
        parts.append((squad, *build_examples(store, settings, squad)))
    finally:
        store.close()
    for corpus, questions, name, qsplit in ((root.parent / "corpus", root / "questions.jsonl", "corpus", None),
                                            (root / "unseen" / "docs", root / "unseen" / "questions.jsonl",
                                             "unseen", "dev")):
        items = domain_items(questions, qsplit)
        store, eval_settings, _ = open_corpus_store(corpus, settings, name)
        try:
            parts.append((items, *build_examples(store, eval_settings, items, progress=False)))
        finally:
            store.close()
    x = np.vstack([p[1] for p in parts])
    y = np.concatenate([p[2] for p in parts])
    kind = np.concatenate([[p[0][g].group for g in p[3]] for p in parts])
    offsets = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
    groups = np.concatenate([p[3] + off for p, off in zip(parts, offsets, strict=True)])
    fit_rows = kind != "heldout"
    weights = np.where(kind == "domain", domain_weight, 1.0)
    model = fit_logistic(x[fit_rows], y[fit_rows], sample_weight=weights[fit_rows])
    probs = model.probabilities(x)
    result = {"questions": int(len(np.unique(groups))), "rows": int(len(y)), "positives": int(y.sum())}
    for name in ("train", "heldout", "domain"):
        rows = kind == name
        result[f"{name}_top1"] = round(top1_accuracy(probs[rows], y[rows], groups[rows]), 4)
        result[f"{name}_oracle"] = round(float(np.mean([y[groups == g].max() for g in np.unique(groups[rows])])), 4)
    model.meta = {"command": command, "date": time.strftime("%Y-%m-%d"), "dataset": dataset.name,
                  "fitted_on": "squad-it-dev articles at even positions of the sorted titles, eval/questions.jsonl "
                               f"and the unseen set's dev split (weight {domain_weight})", **result}
    out.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    result["model"] = str(out)
    # The lexical model: the same rows with the sentence-vector features zeroed (evidence not yet enriched).
    xl = without_dense(x)
    lexical = fit_logistic(xl[fit_rows], y[fit_rows], sample_weight=weights[fit_rows])
    lprobs = lexical.probabilities(xl)
    lex_result = {}
    for name in ("train", "heldout", "domain"):
        rows = kind == name
        lex_result[f"{name}_top1"] = round(top1_accuracy(lprobs[rows], y[rows], groups[rows]), 4)
    lexical.meta = {**model.meta, **lex_result, "without": list(DENSE_FEATURES)}
    lexical_out = out.with_name(LEXICAL_MODEL_FILE)
    lexical_out.write_text(json.dumps(lexical.to_json(), indent=1) + "\n", encoding="utf-8")
    result["lexical_model"] = {"path": str(lexical_out), **lex_result}
    result["weights"] = dict(zip(FEATURES, [round(float(w), 3) for w in model.weights], strict=True))
    return result
