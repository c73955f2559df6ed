"""A fake Telegram Bot API on loopback: serves getUpdates from a queue and records what the bot sends.

It speaks the real protocol (form-encoded POSTs to /bot<token>/<method>, {"ok": true, "result": ...})
so the real python-telegram-bot Application with its real HTTP client talks to it unchanged.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BOT_USER = {"id": 999, "is_bot": True, "first_name": "Coop", "username": "coop_test_bot"}


class FakeTelegram:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_sends = 0  # the next N sendMessage calls answer 502
        self._ids = itertools.count(1)
        self._messages = itertools.count(1000)
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self.handle, methods=["POST", "GET"])])

    # ----------------------------------------------------------------- what tests do
    def push(self, update: dict[str, Any]) -> None:
        with self._lock:
            update["update_id"] = next(self._ids)
            self.updates.append(update)

    def text(self, user: int, text: str, chat: int | None = None) -> None:
        message = {"message_id": next(self._messages), "date": int(time.time()),
                   "chat": {"id": chat or user, "type": "private"},
                   "from": {"id": user, "is_bot": False, "first_name": "Utente"}, "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        self.push({"message": message})

    def media(self, user: int, kind: str) -> None:
        payloads = {
            "sticker": {"file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 1, "height": 1,
                        "is_animated": False, "is_video": False},
            "photo": [{"file_id": "p1", "file_unique_id": "u2", "width": 1, "height": 1}],
            "voice": {"file_id": "v1", "file_unique_id": "u3", "duration": 2},
        }
        self.push({"message": {"message_id": next(self._messages), "date": int(time.time()),
                               "chat": {"id": user, "type": "private"},
                               "from": {"id": user, "is_bot": False, "first_name": "Utente"}, kind: payloads[kind]}})

    def click(self, user: int, data: str, message_id: int) -> None:
        self.push({"callback_query": {
            "id": f"cb{next(self._ids)}", "from": {"id": user, "is_bot": False, "first_name": "Utente"},
            "chat_instance": "ci", "data": data,
            "message": {"message_id": message_id, "date": int(time.time()), "chat": {"id": user, "type": "private"},
                        "from": BOT_USER, "text": "risposta"}}})

    def sent(self, chat: int | None = None, method: str = "sendMessage") -> list[dict[str, Any]]:
        with self._lock:
            return [p for m, p in self.calls if m == method and (chat is None or int(p.get("chat_id", 0)) == chat)]

    def wait_sent(self, chat: int, count: int, method: str = "sendMessage", timeout: float = 60) -> list[dict]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.sent(chat, method)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"expected {count} {method} to {chat}, got {self.sent(chat, method)}")

    # ----------------------------------------------------------------- the protocol
    async def handle(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        params: dict[str, Any] = {}
        if request.method == "POST":
            ctype = request.headers.get("content-type", "")
            if "json" in ctype:
                params = await request.json()
            else:
                form = await request.form()
                params = {k: _decode(v) for k, v in form.items()}
        if method == "getUpdates":
            return await self._get_updates(params)
        with self._lock:
            self.calls.append((method, params))
            if method == "sendMessage" and self.fail_sends > 0:
                self.fail_sends -= 1
                return JSONResponse({"ok": False, "error_code": 502, "description": "Bad Gateway"}, 502)
        if method == "getMe":
            return _ok(BOT_USER)
        if method in ("sendMessage", "editMessageText"):
            chat_id = int(params.get("chat_id", 0))
            return _ok({"message_id": next(self._messages), "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, "text": params.get("text", "")})
        return _ok(True)

    async def _get_updates(self, params: dict[str, Any]) -> JSONResponse:
        offset = int(params.get("offset") or 0)
        deadline = time.time() + min(float(params.get("timeout") or 0), 1.0)
        while True:
            with self._lock:
                pending = [u for u in self.updates if u["update_id"] >= offset]
            if pending or time.time() >= deadline:
                return _ok(pending)
            await asyncio.sleep(0.02)


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, (dict, list, int)) and not isinstance(decoded, bool) else value


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


class BotRunner:
    """Runs the real PTB Application (long polling) in a thread with its own event loop."""

    def __init__(self, application) -> None:
        self.application = application
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = self.application
        await app.initialize()
        if app.post_init:  # as Application.run_polling does
            await app.post_init(app)
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        self._ready.set()
        await self._stop.wait()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    def __enter__(self) -> BotRunner:
        self.thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("bot did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=30)
