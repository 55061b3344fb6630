"""A local LangSmith receiver: the part of the LangSmith API the unmodified `langsmith` SDK calls when it traces.

`GET /info`, then `POST /runs/multipart` (one part per run operation: `post.<id>`, `patch.<id>`, with
`post.<id>.inputs`, `.outputs`, ... beside; zstd-compressed when `/info` says the server takes it), or
`POST /runs/batch` (`{"post": [...], "patch": [...]}`) when the multipart endpoint answers 404, as an older
LangSmith does; and the single-run `POST /runs`, `PATCH /runs/{id}`. Every run is kept, its patches merged in, so a
test reads the trace tree it would see in LangSmith. Served over real HTTP on 127.0.0.1 in a background thread.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
import zstandard
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.server import free_port

Run = dict[str, Any]


@dataclass
class LangSmithReceiver:
    """What the SDK sent. `compression`: `/info` announces zstd, so multipart bodies arrive compressed (as with
    LangSmith's cloud). `multipart=False`: an older LangSmith, announcing no compression, whose `/runs/multipart`
    answers 404: the SDK falls back to `/runs/batch`."""

    multipart: bool = True
    compression: bool = True
    url: str = ""
    runs: dict[str, Run] = field(default_factory=dict)
    endpoints: Counter[str] = field(default_factory=Counter)  # "POST /runs/multipart" -> count
    api_keys: set[str] = field(default_factory=set)
    encodings: set[str] = field(default_factory=set)  # Content-Encoding of the multipart bodies ("" for none)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # --- reading what arrived ------------------------------------------------------------------------------------

    def run(self, run_id: str) -> Run:
        with self._lock:
            return dict(self.runs[str(run_id)])

    def trace(self, root_id: str) -> list[Run]:
        """Every run of the trace whose root is `root_id`, in start order."""
        with self._lock:
            runs = [dict(r) for r in self.runs.values() if str(r.get("trace_id")) == str(root_id)]
        return sorted(runs, key=lambda r: str(r.get("dotted_order", "")))

    # --- the API -------------------------------------------------------------------------------------------------

    def _seen(self, request: Request) -> None:
        with self._lock:
            self.endpoints[f"{request.method} {request.url.path}"] += 1
            key = request.headers.get("x-api-key")
            if key:
                self.api_keys.add(key)

    def _merge(self, run_id: str, fields: dict[str, Any]) -> None:
        with self._lock:
            self.runs.setdefault(run_id, {"id": run_id}).update(fields)

    async def info(self, request: Request) -> Response:
        self._seen(request)
        return JSONResponse(
            {
                "version": "0.12.0",
                "license_expiration_time": None,
                "batch_ingest_config": {
                    "use_multipart_endpoint": True,
                    "scale_up_qsize_trigger": 1000,
                    "scale_up_nthreads_limit": 16,
                    "scale_down_nempty_trigger": 4,
                    "size_limit": 100,
                    "size_limit_bytes": 20_971_520,
                },
                "instance_flags": {"zstd_compression_enabled": self.compression and self.multipart},
            }
        )

    async def multipart_ingest(self, request: Request) -> Response:
        self._seen(request)
        if not self.multipart:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        body = await request.body()
        encoding = request.headers.get("content-encoding", "")
        with self._lock:
            self.encodings.add(encoding)
        if encoding == "zstd":
            body = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(body)
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + body
        )
        fields: dict[str, dict[str, Any]] = {}
        for part in message.iter_parts():
            name = str(part.get_param("name", header="content-disposition"))
            payload = part.get_payload(decode=True)
            kind, run_id, *sub = name.split(".")
            if kind not in ("post", "patch") or not isinstance(payload, bytes):
                continue  # feedback, attachments: not what these tests read
            value = json.loads(payload)
            target = fields.setdefault(run_id, {})
            if sub:
                target[sub[0]] = value
            else:
                target.update(value)
        for run_id, run in fields.items():
            self._merge(run_id, run)
        return JSONResponse({})

    async def batch_ingest(self, request: Request) -> Response:
        self._seen(request)
        body = json.loads(await request.body())
        for run in [*body.get("post", []), *body.get("patch", [])]:
            self._merge(str(run["id"]), run)
        return JSONResponse({})

    async def create_run(self, request: Request) -> Response:
        self._seen(request)
        run = json.loads(await request.body())
        self._merge(str(run["id"]), run)
        return JSONResponse({})

    async def update_run(self, request: Request) -> Response:
        self._seen(request)
        self._merge(request.path_params["run_id"], json.loads(await request.body()))
        return JSONResponse({})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/info", self.info, methods=["GET"]),
                Route("/runs/multipart", self.multipart_ingest, methods=["POST"]),
                Route("/runs/batch", self.batch_ingest, methods=["POST"]),
                Route("/runs", self.create_run, methods=["POST"]),
                Route("/runs/{run_id}", self.update_run, methods=["PATCH"]),
            ]
        )

    def client_env(self, project: str, api_key: str = "lsv2-local-test-key") -> dict[str, str]:
        """What a traced process needs to send its runs here: the user's LANGSMITH_* names."""
        return {
            "LANGSMITH_TRACING": "true",
            "LANGSMITH_ENDPOINT": self.url,
            "LANGSMITH_API_KEY": api_key,
            "LANGSMITH_PROJECT": project,
        }


@contextlib.contextmanager
def running_receiver(**options: Any) -> Iterator[LangSmithReceiver]:
    """A receiver on http://127.0.0.1:<free port> for the block."""
    receiver = LangSmithReceiver(**options)
    port = free_port()
    receiver.url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        receiver.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="langsmith-receiver", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the LangSmith receiver did not start")
        time.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(10)
