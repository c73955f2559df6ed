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
    """Questions and answers are kept `retention_days` (see `prune`); one vote per answer per caller."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(feedback)")}
        if "caller" not in columns:  # databases written before votes were per caller
            self._db.execute("ALTER TABLE feedback ADD COLUMN caller TEXT NOT NULL DEFAULT ''")
        self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS feedback_one_vote ON feedback(answer_id, caller) "
                         "WHERE caller != ''")
        self._lock = threading.Lock()
        self._retention_days: float | None = None
        self._pruned_at = 0.0

    def record_answer(self, answer_id: str, conversation_id: str, question: str, answer: str, abstained: bool,
                      citations: list[str]) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?)",
                (answer_id, conversation_id, question, answer, int(abstained), json.dumps(citations), time.time()),
            )
        if time.time() - self._pruned_at > 3600:
            self.prune()

    def has_answer(self, answer_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM answers WHERE answer_id=?", (answer_id,)).fetchone() is not None

    def add(self, answer_id: str, rating: str, comment: str | None, caller: str = "") -> int:
        """A caller's vote on an answer; voting again replaces their earlier vote."""
        with self._lock, self._db:
            if caller:
                row = self._db.execute("SELECT id FROM feedback WHERE answer_id=? AND caller=?",
                                       (answer_id, caller)).fetchone()
                if row is not None:
                    self._db.execute("UPDATE feedback SET rating=?, comment=?, created_at=? WHERE id=?",
                                     (rating, comment, time.time(), row[0]))
                    return int(row[0])
            cur = self._db.execute(
                "INSERT INTO feedback (answer_id, rating, comment, created_at, caller) VALUES (?,?,?,?,?)",
                (answer_id, rating, comment, time.time(), caller),
            )
            return int(cur.lastrowid)

    def prune(self, retention_days: float | None = None, now: float | None = None) -> int:
        """Delete answers (with their questions) and votes older than the retention period; returns rows
        deleted. Called at start and, at most hourly, as answers are recorded."""
        if retention_days is not None:
            self._retention_days = retention_days
        if not self._retention_days or self._retention_days <= 0:
            return 0
        now = now or time.time()
        cutoff = now - self._retention_days * 86400
        with self._lock, self._db:
            self._pruned_at = now
            n = self._db.execute("DELETE FROM feedback WHERE created_at < ? OR answer_id IN "
                                 "(SELECT answer_id FROM answers WHERE created_at < ?)", (cutoff, cutoff)).rowcount
            n += self._db.execute("DELETE FROM answers WHERE created_at < ?", (cutoff,)).rowcount
        return n

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
