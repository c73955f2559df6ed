"""The bot's client of the assistant HTTP API."""

from __future__ import annotations

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
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                         transport=transport)

    async def _call(self, method: str, path: str, **kw) -> Any:
        try:
            resp = await self._client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(type(exc).__name__) from exc
        if resp.status_code >= 500:
            raise ApiUnavailable(f"status {resp.status_code}")
        if resp.status_code >= 400:
            try:
                message = resp.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = "Richiesta non accettata."
            raise ApiRejected(message)
        return resp.json()

    async def ask(self, question: str, conversation_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"question": question}
        if conversation_id:
            body["conversation_id"] = conversation_id
        return await self._call("POST", "/v1/ask", json=body)

    async def search(self, query: str, k: int = 5) -> dict[str, Any]:
        return await self._call("POST", "/v1/search", json={"query": query, "k": k})

    async def feedback(self, answer_id: str, rating: str) -> dict[str, Any]:
        return await self._call("POST", "/v1/feedback", json={"answer_id": answer_id, "rating": rating})

    async def forget(self, conversation_id: str) -> None:
        await self._call("DELETE", f"/v1/conversations/{quote(conversation_id, safe='')}")

    async def close(self) -> None:
        await self._client.aclose()
