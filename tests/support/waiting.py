"""Waiting for what another process or thread changes, with a deadline."""

from __future__ import annotations

from collections.abc import Callable

import anyio


async def eventually(check: Callable[[], bool], seconds: float) -> None:
    """Poll `check` until it holds (it reads state another thread or process changes); fail after `seconds`."""
    with anyio.fail_after(seconds):
        while True:
            if check():
                return
            await anyio.sleep(0.05)
