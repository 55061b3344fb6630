"""MRTR on the 2026-07-28 wire across replicas: sealed `requestState` opens on whichever replica gets the retry.

The client goes through the round-robin proxy, so the `tools/call` that returns `input_required` and its retry are
served by different replicas (the test checks the proxy's record). With only `REDIS_URL` set the replicas agree on a
key through Redis; explicitly configured keys take precedence (and rotate).
"""

from __future__ import annotations

import secrets

import pytest
from mcp.server.request_state import InvalidRequestState
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from prynai_mcp.config import Settings
from prynai_mcp.redis_store import Keys, RedisStore, StoreUnavailable
from prynai_mcp.redis_store.request_state import SharedRequestState, request_state_security
from prynai_mcp.sampling import mock_sampler
from tests.support.clients import client
from tests.support.redis import RedisServer
from tests.support.replicas import Replica, Replicas, RunningProxy, round_robin_proxy

TEXT = "Replicas agree on one request-state key."


async def summarize_through(proxy: RunningProxy) -> str:
    async with client(proxy.mcp_url, "modern", sampling_callback=mock_sampler) as mcp:
        result = await mcp.call_tool("summarize_via_client_llm", {"text": TEXT})
    assert not result.is_error, result
    return result.content[0].text  # type: ignore[union-attr]


def assert_retry_crossed_replicas(proxy: RunningProxy) -> None:
    calls = proxy.replicas_for("tools/call")
    assert len(calls) == 2, f"expected a call and its MRTR retry, saw {proxy.hops}"
    assert calls[0] != calls[1], f"the retry landed on the sealing replica; the test proves nothing: {proxy.hops}"


async def test_mrtr_retry_lands_on_another_replica_with_only_redis_url(proxy: RunningProxy) -> None:
    assert await summarize_through(proxy) == f"MOCK:{TEXT}"
    assert_retry_crossed_replicas(proxy)


def start_pair(redis: RedisServer, keys_a: str, keys_b: str) -> Replicas:
    pair = Replicas(0, redis.url())
    pair.replicas = [
        Replica(0, {"REDIS_URL": redis.url(), "PRYNAI_REQUEST_STATE_KEYS": keys_a}),
        Replica(1, {"REDIS_URL": redis.url(), "PRYNAI_REQUEST_STATE_KEYS": keys_b}),
    ]
    pair.start_all()
    return pair


async def test_configured_keys_in_rotation_open_on_either_replica(redis: RedisServer) -> None:
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    # Mid-rotation: one replica already seals with the new key, the other still with the old; both accept both.
    pair = start_pair(redis, f"{new},{old}", f"{old},{new}")
    try:
        with round_robin_proxy(pair.urls) as proxy:
            assert await summarize_through(proxy) == f"MOCK:{TEXT}"
            assert_retry_crossed_replicas(proxy)
    finally:
        pair.stop_all()


async def test_configured_keys_take_precedence_over_the_shared_one(redis: RedisServer) -> None:
    # Both replicas could agree through Redis, but each was given its own key: configuration wins, so the retry is
    # refused. (Never deploy this; it shows the shared key is not used when keys are configured.)
    pair = start_pair(redis, secrets.token_hex(32), secrets.token_hex(32))
    try:
        with round_robin_proxy(pair.urls) as proxy:
            async with client(proxy.mcp_url, "modern", sampling_callback=mock_sampler) as mcp:
                with pytest.raises(MCPError) as refused:
                    await mcp.call_tool("summarize_via_client_llm", {"text": TEXT})
            assert refused.value.error.code == INVALID_PARAMS
            assert refused.value.error.message == "Invalid or expired requestState"
            assert_retry_crossed_replicas(proxy)
    finally:
        pair.stop_all()


# --- the key ring itself, in-process against the real Redis ----------------------------------------------------


async def test_request_state_security_is_shared_through_redis_and_explicit_keys_win(redis: RedisServer) -> None:
    prefix = f"rs{secrets.token_hex(4)}"
    settings = Settings(redis_url=redis.url(), prynai_redis_prefix=prefix)
    one, two = RedisStore(redis.url()), RedisStore(redis.url())
    try:
        first = await request_state_security(settings, one)
        second = await request_state_security(settings, two)
        assert first is not None and second is not None
        assert second.codec.unseal(first.codec.seal(b"state")) == b"state"

        explicit = Settings(
            redis_url=redis.url(), prynai_redis_prefix=prefix, prynai_request_state_keys=secrets.token_hex(32)
        )
        own = await request_state_security(explicit, one)
        assert own is not None
        with pytest.raises(InvalidRequestState):
            first.codec.unseal(own.codec.seal(b"state"))

        assert await request_state_security(Settings(redis_url="", prynai_request_state_keys=[]), None) is None
    finally:
        await one.close()
        await two.close()


async def test_replicas_converge_again_if_redis_loses_the_key(redis: RedisServer) -> None:
    keys = Keys(f"rs{secrets.token_hex(4)}")
    store = RedisStore(redis.url())
    a, b = SharedRequestState(store, keys), SharedRequestState(store, keys)
    try:
        await a.load()
        sealed_before = a.seal(b"before")
        await store.client.delete(keys.request_state_key())  # e.g. Redis restarted without persistence
        await b.load()  # a replica started after the loss offers a fresh key, and wins
        await a.load()  # the older replica adopts it, and still opens what it sealed before
        assert a.unseal(b.seal(b"after")) == b"after"
        assert b.unseal(a.seal(b"after")) == b"after"
        assert a.unseal(sealed_before) == b"before"
    finally:
        await store.close()


async def test_an_unloaded_ring_refuses_instead_of_sealing_with_a_private_key() -> None:
    pending = SharedRequestState(RedisStore("redis://127.0.0.1:9/0"), Keys())
    assert not pending.loaded
    with pytest.raises(StoreUnavailable):
        pending.seal(b"state")
    with pytest.raises(InvalidRequestState):
        pending.unseal("v1.anything")
