"""Conversation state per conversation id: bounded in turns and size, expiring after idle time."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class Turn:
    question: str
    resolved_query: str
    answer: str
    cited_doc_ids: list[str]
    cited_passages: list[str]
    answer_id: str


@dataclass
class Conversation:
    id: str
    owner: str = ""
    turns: list[Turn] = field(default_factory=list)
    last_seen: float = field(default_factory=time.monotonic)


class ConversationStore:
    """In-process and bounded: at most `max_count` conversations (least recently used go first)."""

    def __init__(self, max_turns: int = 6, max_chars: int = 6000, ttl_seconds: float = 1800, max_count: int = 10000,
                 clock=time.monotonic) -> None:
        self.max_turns, self.max_chars, self.ttl, self.max_count = max_turns, max_chars, ttl_seconds, max_count
        self._clock = clock
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conversation_id: str | None, owner: str = "") -> Conversation:
        """The caller's live conversation with this id, or a new one with a fresh unguessable id: an id that is
        unknown, expired or another caller's is never adopted, so nobody can read or continue someone else's."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            conv = self._items.get(conversation_id) if conversation_id else None
            if conv is None or not hmac.compare_digest(conv.owner, owner):
                conv = Conversation(id=secrets.token_urlsafe(18), owner=owner, last_seen=now)
                self._items[conv.id] = conv
                while len(self._items) > self.max_count:
                    self._items.popitem(last=False)
            conv.last_seen = now
            self._items.move_to_end(conv.id)
            return conv

    def history(self, conversation_id: str) -> list[Turn]:
        with self._lock:
            conv = self._items.get(conversation_id)
            return list(conv.turns) if conv else []

    def append(self, conversation_id: str, turn: Turn) -> None:
        with self._lock:
            conv = self._items.get(conversation_id)
            if conv is None:
                conv = Conversation(id=conversation_id)
                self._items[conversation_id] = conv
            conv.turns.append(turn)
            conv.last_seen = self._clock()
            while len(conv.turns) > self.max_turns:
                conv.turns.pop(0)
            while len(conv.turns) > 1 and sum(len(t.question) + len(t.answer) for t in conv.turns) > self.max_chars:
                conv.turns.pop(0)

    def reset(self, conversation_id: str, owner: str = "") -> bool:
        """Forget the caller's conversation; another caller's is left alone (and reported as not found)."""
        with self._lock:
            conv = self._items.get(conversation_id)
            if conv is None or not hmac.compare_digest(conv.owner, owner):
                return False
            del self._items[conversation_id]
            return True

    def _expire(self, now: float) -> None:
        for cid in [cid for cid, c in self._items.items() if now - c.last_seen > self.ttl]:
            del self._items[cid]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
