"""A TCP proxy in front of a real Redis that reads the commands going through and can stop them at a chosen one.

A replica pointed at the gate (`REDIS_URL=gate.url()`) works as usual until the test arms it: then the connection
that sends the chosen command passes the first `pass_first` of them and either holds everything from the next one on
(Redis never sees it, the replica waits for an answer that never comes: a replica frozen at that point, ready to be
killed) or drops the connection there (a Redis connection failure at that point). Every other connection, and the
answers coming back, pass untouched. It parses the client side of RESP2 (arrays of bulk strings, all redis-py sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tests.support.server import free_port

Command = list[bytes]


@dataclass
class _Trap:
    matches: Callable[[Command], bool]
    pass_first: int
    drop: bool
    seen: int = 0


def parse_command(buffer: bytes | bytearray) -> tuple[Command, int] | None:
    """The first whole command in `buffer` and where it ends, or None while it is incomplete."""
    if not buffer.startswith(b"*"):
        if buffer:
            raise ValueError(f"not a RESP array: {bytes(buffer[:40])!r}")
        return None
    end = buffer.find(b"\r\n")
    if end < 0:
        return None
    count, at = int(buffer[1:end]), end + 2
    command: Command = []
    for _ in range(count):
        end = buffer.find(b"\r\n", at)
        if end < 0:
            return None
        length = int(buffer[at + 1 : end])
        start = end + 2
        if len(buffer) < start + length + 2:
            return None
        command.append(bytes(buffer[start : start + length]))
        at = start + length + 2
    return command, at


class RedisGate:
    def __init__(self, upstream_port: int) -> None:
        self.port = free_port()
        self._upstream = upstream_port
        self._lock = threading.Lock()
        self._trap: _Trap | None = None
        self.sprung = threading.Event()  # the trap held or dropped a connection
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-gate", daemon=True)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def arm(self, matches: Callable[[Command], bool], *, pass_first: int = 0, drop: bool = False) -> None:
        """Stop the connection that sends the `pass_first + 1`-th command `matches` accepts, at that command."""
        with self._lock:
            self._trap = _Trap(matches, pass_first, drop)
            self.sprung.clear()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Redis gate did not start")

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.close()

    def _stops_at(self, command: Command) -> _Trap | None:
        with self._lock:
            trap = self._trap
            if trap is None or not trap.matches(command):
                return None
            trap.seen += 1
            if trap.seen <= trap.pass_first:
                return None
            self._trap = None  # one connection is stopped; the next ones pass
        self.sprung.set()
        return trap

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._upstream)

        async def answers() -> None:
            while data := await upstream_reader.read(65536):
                client_writer.write(data)
                await client_writer.drain()

        async def commands() -> None:
            buffer = bytearray()
            while data := await client_reader.read(65536):
                buffer += data
                while parsed := parse_command(buffer):
                    command, end = parsed
                    trap = self._stops_at(command)
                    if trap is not None:
                        if trap.drop:
                            return
                        await client_reader.read()  # hold: read on, forward nothing, until the client goes
                        return
                    upstream_writer.write(bytes(buffer[:end]))
                    del buffer[:end]
                await upstream_writer.drain()

        relay = asyncio.ensure_future(answers())
        try:
            await commands()
        except (ConnectionError, ValueError):
            pass
        finally:
            relay.cancel()
            for writer in (client_writer, upstream_writer):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()


@contextlib.contextmanager
def redis_gate(upstream_port: int) -> Iterator[RedisGate]:
    gate = RedisGate(upstream_port)
    gate.start()
    try:
        yield gate
    finally:
        gate.close()
