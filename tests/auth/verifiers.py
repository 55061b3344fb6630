"""A hand-moved clock for the verifier's refetch rate limit, and the type of the `make_verifier` fixture."""

from __future__ import annotations

from collections.abc import Callable

from prynai_mcp.auth.verifier import EntraTokenVerifier


class FakeClock:
    """Monotonic time the test moves by hand: the refetch rate limit without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


VerifierFactory = Callable[..., EntraTokenVerifier]
