"""Fixtures for multi-replica tests: a real Redis, real replicas sharing it, and a per-request round-robin proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis import RedisServer, running_redis
from tests.support.replicas import Replicas, RunningProxy, round_robin_proxy, running_replicas


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    """One Redis for the module's replicas (tests that stop Redis start their own)."""
    with running_redis() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own, which it may stop, kill or restart."""
    with running_redis() as server:
        yield server


@pytest.fixture(scope="module")
def replicas(redis: RedisServer) -> Iterator[Replicas]:
    """Two replicas of one deployment, configured with nothing but REDIS_URL."""
    with running_replicas(2, redis.url()) as running:
        yield running


@pytest.fixture
def proxy(replicas: Replicas) -> Iterator[RunningProxy]:
    """A load balancer in front of `replicas` that sends each request to the next replica."""
    with round_robin_proxy(replicas.urls) as running:
        yield running
