"""Server->client request ids that say which replica is waiting for the answer.

The SDK numbers server->client requests (sampling, elicitation) per process, so two replicas would both send id 0,
and the answer POST could land on either. `GlobalRequestIds` wraps the session's write stream and renames each
outgoing request `pr.{replica}.{n}`; when the client's answer arrives, `owner_of` tells which replica holds the
waiting request and what id the SDK there knows it by.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCRequest

from prynai_mcp import _sdk

_PREFIX = "pr"
_MAX_ID_DIGITS = 20


def global_id(replica_id: str, local_id: int | str) -> str:
    return f"{_PREFIX}.{replica_id}.{local_id}"


def owner_of(request_id: Any) -> tuple[str, int | str] | None:
    """(replica id, the SDK's own id) for an id made by `global_id`; None for any other id."""
    if not isinstance(request_id, str):
        return None
    prefix, _, rest = request_id.partition(".")
    replica, _, local = rest.partition(".")
    if prefix != _PREFIX or not replica or not local:
        return None
    # The SDK counts from 0: a number longer than any it could reach is no id of its (and `int()` of thousands of
    # digits raises), so it stays a string the SDK knows nothing of.
    numeric = local.lstrip("-").isdigit() and len(local) <= _MAX_ID_DIGITS
    return replica, int(local) if numeric else local


class GlobalRequestIds:
    """A `WriteStream` that renames outgoing server->client requests with `global_id`."""

    def __init__(self, inner: _sdk.WriteStream[SessionMessage], replica_id: str) -> None:
        self._inner = inner
        self._replica_id = replica_id

    async def send(self, item: SessionMessage, /) -> None:
        message = item.message
        if isinstance(message, JSONRPCRequest):
            renamed = message.model_copy(update={"id": global_id(self._replica_id, message.id)})
            item = SessionMessage(message=renamed, metadata=item.metadata)
        await self._inner.send(item)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None
