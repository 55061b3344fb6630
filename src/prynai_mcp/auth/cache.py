"""Tokens verified recently, so a client that reuses its token (they do, for its whole hour) is not re-verified on
every request: parsing and the RSA check cost ~170 us, a lookup ~1 us.

Serving from here is the same decision as verifying again, because nothing verification depends on changes
while an entry lives: the policy is fixed at start-up, `nbf`/`iat` once passed stay passed, and each entry
expires at the token's `exp` plus the skew allowance. The one outside change, the authority's key set, is
handled by tagging entries with the key-set version they were verified under: a new key set retires them all
(and the verifier refreshes a key set older than its max age before it looks anything up here).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class _Entry[T]:
    value: T
    key_set_version: int
    valid_until: float  # wall-clock seconds


class VerifiedTokens[T]:
    """A bounded LRU map from token to its verification result."""

    def __init__(self, max_entries: int = 2048) -> None:
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._max_entries = max_entries

    def get(self, token: str, key_set_version: int, now: float) -> T | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry.key_set_version != key_set_version or now > entry.valid_until:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return entry.value

    def put(self, token: str, value: T, key_set_version: int, valid_until: float) -> None:
        self._entries[token] = _Entry(value, key_set_version, valid_until)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
