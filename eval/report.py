"""Evaluation reports: Markdown tables and plots under eval/reports/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .metrics import percentile


def _plots(name: str, retrieval: dict[str, Any], latencies: dict[str, list[float]], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, level in zip(axes, ("document", "passage"), strict=True):
        for cfg, data in retrieval["configurations"].items():
            ax.plot(range(1, 11), data["curve"][level], marker="o", label=cfg)
        ax.set_title(f"recall@k, {level} level")
        ax.set_xlabel("k")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("recall")
    axes[0].legend()
    fig.suptitle(name)
    fig.tight_layout()
    path = out / f"{name}-recall.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path.name)
    series = {k: v for k, v in latencies.items() if v}
    if series:
        fig, ax = plt.subplots(figsize=(7, 4))
        for label, values in series.items():
            ax.hist(values, bins=30, alpha=0.6, label=f"{label} (p50 {percentile(values, 50):.0f} ms)")
        ax.set_xlabel("ms")
        ax.set_ylabel("requests")
        ax.set_title(f"{name}: latency")
        ax.legend()
        fig.tight_layout()
        path = out / f"{name}-latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path.name)
    return files


def _latency_summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1),
            "n": len(values)}


def write_report(name: str, results: dict[str, Any], out_dir: Path, command: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    lat = results.get("latency_raw", {})
    plots = _plots(name, results["retrieval"], lat, out_dir)
    results = {k: v for k, v in results.items() if k != "latency_raw"}
    (out_dir / f"{name}.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    r = results["retrieval"]
    lines = [f"# Evaluation report: {name}", "", f"Command: `{command}`  ", f"Date: {results['date']}  ",
             f"Retrieval queries: {r['queries']}", ""]
    for level in ("document", "passage"):
        lines += [f"## Retrieval, {level} level", "",
                  "| configuration | recall@1 | recall@3 | recall@5 | recall@10 | MRR@10 | nDCG@10 |",
                  "|---|---|---|---|---|---|---|"]
        for cfg, data in r["configurations"].items():
            m = data[level]
            lines.append(f"| {cfg} | {m['recall@1']:.3f} | {m['recall@3']:.3f} | {m['recall@5']:.3f} | "
                         f"{m['recall@10']:.3f} | {m['mrr@10']:.3f} | {m['ndcg@10']:.3f} |")
        lines.append("")
    if "margins" in results:
        lines += ["## Hybrid against the best single configuration", ""]
        for key, m in results["margins"].items():
            lines.append(f"- {key}: hybrid {m['hybrid']:.4f} vs {m['best_single']} {m['best_value']:.4f} "
                         f"→ margin {m['margin']:+.4f}")
        lines.append("")
    if "answers" in results:
        a = results["answers"]
        at = a["at_configured"]
        lines += ["## Answers", "", f"Abstention threshold in use: **{a['configured_threshold']}** "
                  f"(best on {'the ' + a['chosen_on'] + ' split' if a.get('chosen_on', 'all') != 'all' else 'this set'} "
                  f"by abstention accuracy + key-fact coverage + follow-up accuracy: {a['best_threshold']}; "
                  f"the sweep below is of the same questions).", "",
                  "| metric | value |", "|---|---|"]
        lines += [f"| {k.replace('_', ' ')} | {v:.3f} |" for k, v in at.items()]
        if a.get("splits"):
            names = list(a["splits"])
            lines += ["", f"### Per split (threshold chosen on: {a.get('chosen_on', 'all')})", "",
                      "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
            for key in a["splits"][names[0]]:
                lines.append(f"| {key.replace('_', ' ')} | "
                             + " | ".join(f"{a['splits'][n].get(key, 0):.3f}" for n in names) + " |")
        lines += ["", "### Effect of the abstention threshold", "",
                  "| threshold | key-fact coverage | abstention precision | abstention recall | abstention accuracy | "
                  "follow-up accuracy |", "|---|---|---|---|---|---|"]
        for s in a["sweep"]:
            if s["threshold"] * 1000 % 50 == 0:
                lines.append(f"| {s['threshold']:.2f} | {s['key_fact_coverage']:.3f} | {s['abstention_precision']:.3f}"
                             f" | {s['abstention_recall']:.3f} | {s['abstention_accuracy']:.3f} | "
                             f"{s['followup_accuracy']:.3f} |")
        if "llm" in a:
            m = a["llm"]
            lines += ["", "### Language model", "",
                      f"Answers written by the model at the configured threshold: {m['model_calls']} calls, "
                      f"{m['sentences_generated']} sentences generated, {m['sentences_dropped']} dropped by "
                      f"verification (share {m['dropped_sentence_share']:.3f}); fallback to the extractive answer "
                      f"in {m['fallback_rate']:.3f} of calls ({m['fallback_reasons'] or 'none'}); model time p50 "
                      f"{m['model_seconds_p50']} s."]
        misses = [x for x in a["records"] if (x["answerable"] and (x["coverage"] or 0) < 1 and x["coverage"] is not None)
                  or (not x["answerable"] and x["confidence"] >= a["configured_threshold"])]
        if misses:
            lines += ["", "### Questions not fully right at the threshold in use", ""]
            for x in misses:
                lines.append(f"- `{x['id']}` ({x['kind']}, confidence {x['confidence']:.2f}) {x['question']}")
    if "dataset_answers" in results:
        da = results["dataset_answers"]
        names = list(da)
        lines += ["## Answers (has-answer: the answer's text holds a gold span, normalised)", "",
                  "The selector is trained on the `train` half of the articles; `heldout` is the other half.", "",
                  "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for key in da[names[0]]:
            lines.append(f"| {key.replace('_', ' ')} | " + " | ".join(f"{da[n][key]}" for n in names) + " |")
        lines.append("")
    lines += ["", "## Latency", "", "| operation | p50 ms | p95 ms | n |", "|---|---|---|---|"]
    for op, s in results["latency"].items():
        lines.append(f"| {op} | {s['p50_ms']} | {s['p95_ms']} | {s['n']} |")
    lines += [""] + [f"![{p}]({p})" for p in plots] + [""]
    path = out_dir / f"{name}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- commands


def _margins(retrieval: dict[str, Any], level: str) -> dict[str, Any]:
    cfgs = retrieval["configurations"]
    out = {}
    for metric in ("recall@5", "mrr@10"):
        singles = {c: cfgs[c][level][metric] for c in ("bm25-only", "dense-only")}
        best = max(singles, key=singles.get)
        out[f"{level} {metric}"] = {"hybrid": cfgs["hybrid"][level][metric], "best_single": best,
                                    "best_value": singles[best],
                                    "margin": round(cfgs["hybrid"][level][metric] - singles[best], 4)}
    return out
