"""A scripted chat-completions endpoint on 127.0.0.1, in OpenAI's shape and Azure OpenAI's, for the examples'
real-model path: `langchain-openai` and the `openai` SDK talk to it unmodified over HTTP.

It answers like a model that uses its tools: a first turn asks for `add(7, 8)` (if the request offers an `add`
function), a turn after a tool result answers with that result. Every request body is kept, with its path, so a
test reads what the SDK sent: the tools it offered and the tool result it passed back.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.agents.serving import serving


@dataclass
class ChatCompletions:
    url: str = ""
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (path, body)

    def offered(self, index: int = 0) -> dict[str, dict[str, Any]]:
        """The functions offered in request `index`: name -> JSON Schema of its parameters."""
        tools = self.requests[index][1].get("tools", [])
        return {tool["function"]["name"]: tool["function"].get("parameters", {}) for tool in tools}

    async def complete(self, request: Request) -> JSONResponse:
        body: dict[str, Any] = json.loads(await request.body())
        self.requests.append((request.url.path, body))
        last = body["messages"][-1]
        if last["role"] == "tool":
            content = last["content"]
            text = content if isinstance(content, str) else "".join(part.get("text", "") for part in content)
            message: dict[str, Any] = {"role": "assistant", "content": f"7 + 8 = {text}."}
            finish = "stop"
        elif any(tool["function"]["name"] == "add" for tool in body.get("tools", [])):
            call = {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": "add", "arguments": json.dumps({"a": 7, "b": 8})},
            }
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": "I have no add tool."}, "stop"
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self.complete, methods=["POST"]),  # OpenAI
                Route("/openai/deployments/{deployment}/chat/completions", self.complete, methods=["POST"]),  # Azure
            ]
        )


@contextlib.contextmanager
def running_chat_completions() -> Iterator[ChatCompletions]:
    endpoint = ChatCompletions()
    with serving(endpoint.app(), "chat-completions", lifespan="off") as port:
        endpoint.url = f"http://127.0.0.1:{port}"
        yield endpoint
