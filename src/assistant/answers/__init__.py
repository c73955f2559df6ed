"""Extractive answers, checked: candidates, selector, answerability, follow-ups, optional LLM."""
