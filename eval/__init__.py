"""Evaluation: questions with gold answers, retrieval and answer metrics, reports, the CI quality gate."""
