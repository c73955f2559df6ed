"""A fake OpenAI-compatible server (chat completions, streamed and not) for the language-model answerer's tests.

It writes its answer from the prompt it gets, the way a model would: `good` restates the prompt's most relevant
sentences with their source numbers; the other modes are the ways models go wrong.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

MODES = ("good", "uncited", "wrong_amount", "wrong_citation", "injected", "fixed", "garbage", "timeout", "error500",
         "declined", "slow_stream")


def relevant_quotes(prompt: str) -> list[tuple[int, str]]:
    """The `[n] sentence` lines of the prompt's FRASI PIÙ PERTINENTI block."""
    block = prompt.split("FRASI PIÙ PERTINENTI:", 1)
    if len(block) < 2:
        return []
    lines = block[1].split("\n\n", 1)[0].strip().splitlines()
    out = []
    for line in lines:
        m = re.match(r"\[(\d+)\]\s+(.*)", line.strip())
        if m:
            out.append((int(m.group(1)), m.group(2).strip()))
    return out


def source_numbers(prompt: str) -> list[int]:
    return [int(n) for n in re.findall(r"^\[(\d+)\] <<<", prompt, flags=re.M)]


class FakeLLM:
    def __init__(self) -> None:
        self.mode = "good"
        self.requests: list[dict[str, Any]] = []
        self.hang_seconds = 5.0
        self.fixed_text = ""
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"]),
                                     Route("/v1/models", self.models, methods=["GET"])])

    # ------------------------------------------------------------------ what the "model" writes
    def reply(self, prompt: str) -> str:
        quotes = [(n, s) for n, q in relevant_quotes(prompt) for s in re.split(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý])", q)]
        good = " ".join(f"{q.rstrip('.')} [{n}]." for n, q in quotes)
        if self.mode == "uncited":
            return f"{good} Inoltre il progetto è considerato un modello da tutta la comunità internazionale."
        if self.mode == "wrong_amount":
            return f"{good} Il costo complessivo è di 999.999 euro [{quotes[0][0] if quotes else 1}]."
        if self.mode == "wrong_citation":
            numbers = source_numbers(prompt)
            return " ".join(f"{q.rstrip('.')} [{next((m for m in numbers if m != n), 9)}]." for n, q in quotes)
        if self.mode == "injected":  # does what an instruction inside a document says, if it can see one
            m = re.search(r"(?:IGNORA LE ISTRUZIONI PRECEDENTI|ignore all previous instructions)[^.]*?"
                          r"(?:rispondi che|say that)\s+([^.]*)\.", prompt, flags=re.I)
            if m:
                return f"{m.group(1)[:1].upper()}{m.group(1)[1:]} [1]."
            return good
        if self.mode == "fixed":
            return self.fixed_text
        if self.mode == "garbage":
            return "asdf qwerty ☃☃ lorem ipsum 12345 zzz"
        if self.mode == "declined":
            return "NON_LO_SO"
        return good

    # ------------------------------------------------------------------ the protocol
    async def models(self, request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "tests"}]})

    async def chat(self, request: Request):
        body = await request.json()
        self.requests.append(body)
        if self.mode == "error500":
            return JSONResponse({"error": {"message": "internal error", "type": "server_error"}}, status_code=500)
        if self.mode == "timeout":
            await asyncio.sleep(self.hang_seconds)
        prompt = "\n".join(m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user")
        text = self.reply(prompt)
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        created = int(time.time())
        model = body.get("model", "fake-model")
        if not body.get("stream"):
            return JSONResponse({
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                          "total_tokens": len(prompt.split()) + len(text.split())},
            })

        async def chunks():
            def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
                data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

            yield chunk({"role": "assistant", "content": ""})
            pieces = re.findall(r"\S+\s*", text)
            for i in range(0, len(pieces), 3):
                if self.mode == "slow_stream":
                    await asyncio.sleep(0.4)
                yield chunk({"content": "".join(pieces[i : i + 3])})
            yield chunk({}, "stop")
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")
