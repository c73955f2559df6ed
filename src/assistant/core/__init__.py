"""Shared ground: configuration, text handling, logging, time budgets."""
