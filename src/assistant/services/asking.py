"""Asking, as every adapter does it: the answer, recorded for feedback and logged; and its Server-Sent Events.

One stream for the API and the web app: `draft` events carry a language model's text as it is written (not yet
verified), then `meta`, `delta`…, `citations` and `done` carry the verified answer. Events are encoded by
FastAPI's own SSE encoder; each adapter only says how the answer is shown (`Presenter`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.sse import format_sse_event

from assistant.answers.types import Answer
from assistant.services.container import Services
from assistant.storage.filters import Filters

log = logging.getLogger("assistant.services")
DELTA_WORDS = 8  # words per `delta` event: the verified answer arrives in a few pieces, not word by word


def ask_and_record(svc: Services, question: str, conversation_id: str | None = None, filters: Filters | None = None,
                   caller: str = "", on_token: Callable[[str], None] | None = None) -> Answer:
    """The answer, recorded so that feedback can name it, and logged (ids and numbers, never the question)."""
    ans = svc.asker.ask(question, conversation_id=conversation_id, filters=filters, owner=caller, on_token=on_token)
    svc.feedback.record_answer(ans.answer_id, ans.conversation_id, ans.question, ans.answer, ans.abstained,
                               [c.passage_id for c in ans.citations])
    log.info("ask", extra={"fields": {"answer_id": ans.answer_id, "abstained": ans.abstained,
                                      "confidence": ans.confidence, "citations": len(ans.citations),
                                      "answerer": ans.answerer, "fallback": ans.fallback_reason,
                                      "timings": ans.timings_ms}})
    return ans


def sse(event: str, data: dict[str, Any]) -> bytes:
    return format_sse_event(event=event, data_str=json.dumps(data, ensure_ascii=False))


@dataclass
class StreamView:
    """How an adapter shows an answer in the stream: the data of its `meta`, `citations` and `done` events."""

    meta: dict[str, Any]
    citations: list[dict[str, Any]]
    done: dict[str, Any]


Presenter = Callable[[Answer], StreamView]


class AnswerStream:
    """One question answered in a worker thread while its events are sent.

    `await start()` first: it returns once there is something to send, and raises what the answer raised if it
    failed before that (so the adapter can still answer with a plain JSON error)."""

    def __init__(self, svc: Services, question: str, conversation_id: str | None, filters: Filters | None,
                 caller: str, presenter: Presenter) -> None:
        self.presenter = presenter
        loop = asyncio.get_running_loop()
        self._drafts: asyncio.Queue[str] = asyncio.Queue()

        def on_token(text: str) -> None:
            loop.call_soon_threadsafe(self._drafts.put_nowait, text)

        self._task = asyncio.ensure_future(run_in_threadpool(ask_and_record, svc, question, conversation_id,
                                                             filters, caller, on_token))
        self._waiter = asyncio.ensure_future(self._drafts.get())

    async def start(self) -> None:
        await asyncio.wait({self._task, self._waiter}, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done() and self._task.exception() is not None:
            self._waiter.cancel()
            raise self._task.exception()

    async def events(self) -> AsyncIterator[bytes]:
        pending = self._waiter
        while True:
            await asyncio.wait({self._task, pending}, return_when=asyncio.FIRST_COMPLETED)
            if pending.done():
                yield sse("draft", {"text": pending.result()})
                pending = asyncio.ensure_future(self._drafts.get())
                continue
            pending.cancel()
            while not self._drafts.empty():
                yield sse("draft", {"text": self._drafts.get_nowait()})
            break
        try:
            ans = self._task.result()
            view = self.presenter(ans)
        except Exception as exc:  # noqa: BLE001 - the stream has started: say it in the stream
            log.warning("ask_stream_failed", extra={"fields": {"error": type(exc).__name__}})
            yield sse("error", {"code": "unavailable", "message": "Risposta non disponibile: riprova tra poco."})
            return
        yield sse("meta", view.meta)
        words = ans.answer.split(" ")
        for i in range(0, len(words), DELTA_WORDS):
            more = i + DELTA_WORDS < len(words)
            yield sse("delta", {"text": " ".join(words[i : i + DELTA_WORDS]) + (" " if more else "")})
        yield sse("citations", {"citations": view.citations})
        yield sse("done", view.done)
