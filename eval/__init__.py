"""Evaluation: questions with gold answers, retrieval and answer metrics, reports, the CI quality gate."""

from pathlib import Path

PACKAGED = Path(__file__).resolve().parent  # questions.jsonl, thresholds.json and unseen/ ship in the wheel
