"""The quality gate: which numbers are gated, and which fall below their thresholds."""

from __future__ import annotations

from typing import Any


def check_gate(results: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """Names of the gated metrics that fall below their thresholds."""
    values = gate_values(results)
    return [f"{k}: {values[k]:.4f} < {v:.4f}" for k, v in thresholds.items() if values.get(k, 0.0) < v]


def gate_values(results: dict[str, Any]) -> dict[str, float]:
    """The gated numbers: of the test split where the questions have splits, else of all questions."""
    splits = results["answers"].get("splits") or {}
    if "test" in splits:
        test = splits["test"]
        return {"test_key_fact_coverage": test["key_fact_coverage"],
                "test_near_miss_abstention": test.get("near_miss_abstention", 0.0),
                "test_answered_when_answerable": round(1 - test["false_abstention"], 4),
                "test_followup_accuracy": test["followup_accuracy"]}
    at = results["answers"]["at_configured"]
    return {
        "hybrid_passage_recall@5": results["retrieval"]["configurations"]["hybrid"]["passage"]["recall@5"],
        "key_fact_coverage": at["key_fact_coverage"],
        "abstention_accuracy": at["abstention_accuracy"],
        "followup_accuracy": at["followup_accuracy"],
    }
