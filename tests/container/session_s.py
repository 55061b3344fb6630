"""Session S: one session-based MCP session, held by hand across container restarts, that says what a client sees.

S is subscribed to `prynai://counter` and has set its log level to `warning`. It keeps a GET stream open in the
background and, whenever that stream ends (a drain hands it over, a kill cuts it, the server is briefly gone), opens
it again with `Last-Event-ID`, as a client does. `check()` is what each step of a test asserts: with the same
`Mcp-Session-Id`, a tool call answers, the subscription still delivers its update, and the log level still holds
(long_task's info lines stay away while its progress arrives).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.abc
import httpx2

from tests.support.raw import RawSession, sse_events

COUNTER = "prynai://counter"
UPDATED = "notifications/resources/updated"
RECONNECT_PAUSE = 0.2  # between attempts while the server is away; the server's retry hint is used when it gives one


class SessionS:
    def __init__(self, http: httpx2.AsyncClient, urls: list[str]) -> None:
        self.http = http
        self.raw = RawSession(http, urls, label="s")
        self.next_id = 100
        self.updates = 0
        self.last_event_id: str | None = None
        self.get_streams_opened = 0
        self.stream_server: str | None = None  # the balancer's name for the replica holding the GET stream, if told
        self._changed = anyio.Event()  # set (and replaced) at every update

    @property
    def session_id(self) -> str:
        assert self.raw.session_id is not None
        return self.raw.session_id

    async def rpc(self, method: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One request; its answer and the notifications that came with it (a JSON body or an SSE stream)."""
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        notes: list[dict[str, Any]] = []
        async with self.http.stream("POST", self.raw.url(), json=message, headers=self.raw.headers()) as response:
            assert response.status_code == 200, (response.status_code, await response.aread())
            if response.headers["content-type"].startswith("application/json"):
                return json.loads(await response.aread()), notes
            async for event in sse_events(response):
                if event.data and event.data.get("id") == self.next_id:
                    return event.data, notes
                if event.data:
                    notes.append(event.data)
        raise AssertionError(f"no answer to {method}")

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        answer, notes = await self.rpc(
            "tools/call", {"name": tool, "arguments": arguments, "_meta": {"progressToken": 1}}
        )
        assert "result" in answer, answer
        return str(answer["result"]["content"][0]["text"]), notes

    async def open(self) -> None:
        await self.raw.open()
        # Before any setLevel the server sends every log line: the baseline that makes "none after" mean something.
        _, notes = await self.call("long_task", {"steps": 2, "delay_seconds": 0.05})
        assert log_lines(notes), notes
        assert "result" in (await self.rpc("resources/subscribe", {"uri": COUNTER}))[0]
        assert "result" in (await self.rpc("logging/setLevel", {"level": "warning"}))[0]

    async def hold_get_stream(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Keep the session's GET stream open for ever (until cancelled), reopening it with Last-Event-ID."""
        started = False
        while True:
            pause = RECONNECT_PAUSE
            headers = self.raw.headers(Accept="text/event-stream")
            if self.last_event_id is not None:
                headers["Last-Event-ID"] = self.last_event_id
            try:
                async with self.http.stream("GET", self.raw.url(), headers=headers, timeout=None) as response:
                    if response.status_code == 200:
                        self.get_streams_opened += 1
                        self.stream_server = response.headers.get("x-prynai-server")
                        if not started:
                            started = True
                            task_status.started()
                        async for event in sse_events(response):
                            if event.id:
                                self.last_event_id = event.id
                            if event.retry:
                                pause = event.retry / 1000
                            if event.data and event.data.get("method") == UPDATED:
                                assert event.data["params"]["uri"] == COUNTER
                                self.updates += 1
                                self._changed.set()
                                self._changed = anyio.Event()
                    else:
                        await response.aread()  # 503 while draining or while Redis is away: try again
            except httpx2.HTTPError:
                pass  # the server is away (restarting, killed): try again
            await anyio.sleep(pause)

    async def check(self, within: float) -> int:
        """Bump the counter through S; the update must reach S's GET stream within `within` seconds. Returns the
        counter's new value."""
        before = self.updates
        text, _ = await self.call("bump_counter", {})
        with anyio.fail_after(within):
            while self.updates == before:  # no await between this test and the wait: no update slips by
                await self._changed.wait()
        done, notes = await self.call("long_task", {"steps": 2, "delay_seconds": 0.05})
        assert done == "done"
        assert [n for n in notes if n.get("method") == "notifications/progress"], notes
        assert log_lines(notes) == [], notes  # level "warning" still holds: no info lines
        return int(text)


def log_lines(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [note for note in notes if note.get("method") == "notifications/message"]
