"""The bot's client of the assistant HTTP API."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx


class ApiUnavailable(RuntimeError):
    """The API cannot be reached, timed out, or answered 5xx."""


class ApiRejected(RuntimeError):
    """The API refused the request (4xx); the message is Italian and can be shown."""


class AssistantApi:
    def __init__(self, base_url: str, api_key: str = "", timeout: float = 20.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                         transport=transport)

    async def _call(self, method: str, path: str, **kw) -> Any:
        try:
            resp = await self._client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(type(exc).__name__) from exc
        self._check(resp)
        return resp.json()

    @staticmethod
    def _check(resp: httpx.Response) -> None:
        if resp.status_code >= 500:
            raise ApiUnavailable(f"status {resp.status_code}")
        if resp.status_code >= 400:
            try:
                message = resp.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = "Richiesta non accettata."
            raise ApiRejected(message)

    async def ask(self, question: str, conversation_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"question": question}
        if conversation_id:
            body["conversation_id"] = conversation_id
        return await self._call("POST", "/v1/ask", json=body)

    async def ask_stream(self, question: str, conversation_id: str | None,
                         on_draft: Callable[[str], Awaitable[None]]) -> dict[str, Any]:
        """/v1/ask/stream: `on_draft` gets a language model's text as it is written (not yet verified); returns
        the final, verified answer (the `done` event)."""
        body: dict[str, Any] = {"question": question}
        if conversation_id:
            body["conversation_id"] = conversation_id
        # A model may think for a while before its first token: reads may wait longer than other calls.
        timeout = httpx.Timeout(self._timeout, read=max(self._timeout, 120.0))
        try:
            async with self._client.stream("POST", "/v1/ask/stream", json=body, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    self._check(resp)
                event = ""
                async for line in resp.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = json.loads(line[5:])
                        if event == "draft":
                            await on_draft(data.get("text", ""))
                        elif event == "done":
                            return data
                        elif event == "error":
                            raise ApiUnavailable(data.get("message", "stream error"))
        except httpx.HTTPError as exc:
            raise ApiUnavailable(type(exc).__name__) from exc
        except ValueError as exc:
            raise ApiUnavailable("malformed stream") from exc
        raise ApiUnavailable("stream ended without an answer")

    async def search(self, query: str, k: int = 5) -> dict[str, Any]:
        return await self._call("POST", "/v1/search", json={"query": query, "k": k})

    async def feedback(self, answer_id: str, rating: str) -> dict[str, Any]:
        return await self._call("POST", "/v1/feedback", json={"answer_id": answer_id, "rating": rating})

    async def forget(self, conversation_id: str) -> None:
        await self._call("DELETE", f"/v1/conversations/{quote(conversation_id, safe='')}")

    async def close(self) -> None:
        await self._client.aclose()
