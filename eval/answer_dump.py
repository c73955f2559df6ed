"""Every answer to a data set's questions, written to JSON lines, and two such files compared: a change that must
not alter behaviour (a refactoring) is checked answer by answer, not only by the averages.

    .venv/bin/python -m eval.answer_dump --dataset ../shared/datasets/squad-it-dev --out before.jsonl
    .venv/bin/python -m eval.answer_dump --compare before.jsonl after.jsonl

Asks through AskService over the data set's evaluation store (as `assistant eval --dataset` builds it; run that
once first), one fresh conversation per question, with the has-answer measure of the eval reports.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

from assistant.answers.service import AskService
from assistant.answers.types import Answer
from assistant.core.config import Settings
from assistant.storage.store import Store

from .metrics import holds_answer
from .stores import load_jsonl


def ask_alone(service: AskService, question: str) -> tuple[Answer, str]:
    """The answer to a question asked on its own (its conversation forgotten at once), and its text without the
    citation markers."""
    ans = service.ask(question)
    service.conversations.reset(ans.conversation_id)
    return ans, re.sub(r"\[\d+\]", " ", ans.answer)


def dump(dataset: Path, out: Path, settings: Settings, limit: int | None = None) -> dict[str, Any]:
    name = dataset.name
    eval_settings = settings.model_copy(update={"data_dir": settings.data_dir / f"eval-{name}"})
    store = Store(eval_settings, collection=f"dataset_{name.replace('-', '_')}")
    try:
        service = AskService(store, eval_settings)
        queries = load_jsonl(dataset / "queries.jsonl")[:limit]
        with out.open("w", encoding="utf-8") as fh:
            for item in queries:
                ans, text = ask_alone(service, item["question"])
                fh.write(json.dumps({"id": item["id"], "question": item["question"], "abstained": ans.abstained,
                                     "answer": text, "has": (not ans.abstained) and holds_answer(text, item["answers"]),
                                     "words": len(text.split())}, ensure_ascii=False) + "\n")
    finally:
        store.close()
    return summary(out)


def summary(path: Path) -> dict[str, Any]:
    rows = load_jsonl(path)
    answered = [r for r in rows if not r["abstained"]]
    return {"questions": len(rows), "has_answer": round(sum(r["has"] for r in rows) / max(len(rows), 1), 4),
            "abstained": round(1 - len(answered) / max(len(rows), 1), 4),
            "mean_answer_words": round(statistics.fmean(r["words"] for r in answered), 1) if answered else 0}


def compare(a: Path, b: Path) -> dict[str, Any]:
    left = {r["id"]: r for r in load_jsonl(a)}
    right = {r["id"]: r for r in load_jsonl(b)}
    common = sorted(left.keys() & right.keys())
    changed = [i for i in common if (left[i]["answer"], left[i]["abstained"]) != (right[i]["answer"],
                                                                                  right[i]["abstained"])]
    return {"compared": len(common), "identical": len(common) - len(changed), "changed": changed[:20],
            "before": summary(a), "after": summary(b)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        result = compare(*args.compare)
    elif args.dataset and args.out:
        result = dump(args.dataset, args.out, Settings(), args.limit)
    else:
        parser.error("give --dataset and --out, or --compare BEFORE AFTER")
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0 if not args.compare or not result["changed"] else 1


if __name__ == "__main__":
    sys.exit(main())
