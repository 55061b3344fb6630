"""Delivery of a client's answer to the replica whose server->client request it answers.

`forward` sends one answer POST body to another replica; `run` receives the ones sent to this replica and hands
them to `deliver`. The in-memory inbox serves one process, where every answer is already local.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio.abc

logger = logging.getLogger(__name__)

Deliver = Callable[[str, bytes], Awaitable[None]]  # (session id, JSON-RPC body)


class ReplicaInbox(Protocol):
    async def forward(self, replica_id: str, session_id: str, body: bytes) -> None:
        """Send an answer to the replica that asked; returns once the message is handed over."""

    async def run(
        self, deliver: Deliver, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Call `deliver` for every answer forwarded to this replica, until cancelled."""


class LocalInbox:
    """One process: there is no other replica to forward to."""

    async def forward(self, replica_id: str, session_id: str, body: bytes) -> None:
        logger.warning(
            "dropping an answer for replica %s: no such replica in this process (session %s)", replica_id, session_id
        )

    async def run(
        self, deliver: Deliver, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        await anyio.sleep_forever()
