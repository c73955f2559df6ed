"""Durable record of answers given and the feedback on them (SQLite under data/)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY, conversation_id TEXT, question TEXT, answer TEXT,
    abstained INTEGER, citations TEXT, created_at REAL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT NOT NULL REFERENCES answers(answer_id),
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')), comment TEXT, created_at REAL
);
"""


@dataclass
class FeedbackRow:
    id: int
    answer_id: str
    rating: str
    comment: str | None
    created_at: float
    question: str | None
    answer: str | None


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def record_answer(self, answer_id: str, conversation_id: str, question: str, answer: str, abstained: bool,
                      citations: list[str]) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?)",
                (answer_id, conversation_id, question, answer, int(abstained), json.dumps(citations), time.time()),
            )

    def has_answer(self, answer_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM answers WHERE answer_id=?", (answer_id,)).fetchone() is not None

    def add(self, answer_id: str, rating: str, comment: str | None) -> int:
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO feedback (answer_id, rating, comment, created_at) VALUES (?,?,?,?)",
                (answer_id, rating, comment, time.time()),
            )
            return int(cur.lastrowid)

    def list(self, limit: int = 50, offset: int = 0) -> tuple[int, list[FeedbackRow]]:
        with self._lock:
            total = self._db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
            rows = self._db.execute(
                "SELECT f.id, f.answer_id, f.rating, f.comment, f.created_at, a.question, a.answer "
                "FROM feedback f LEFT JOIN answers a ON a.answer_id = f.answer_id "
                "ORDER BY f.id DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return total, [FeedbackRow(*r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
