"""Sliding-window rate limits in Redis: exact under concurrency, per user and per IP."""

from __future__ import annotations

import asyncio

from core.deps import Deps
from storage.keys import slot
from storage.ratelimit import Limit, RateLimiter, window_keys


async def test_concurrent_requests_get_exactly_the_limit(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis_pipe)
    verdicts = await asyncio.gather(*(limiter.check("t", [Limit("user", "u1", 10)], 60) for _ in range(60)))
    assert sum(v.allowed for v in verdicts) == 10
    refused = [v for v in verdicts if not v.allowed]
    assert all(v.refused_by == "user" and 1 <= v.retry_after <= 60 for v in refused)


async def test_user_and_ip_are_separate_dimensions(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis_pipe)
    for i in range(5):
        assert (await limiter.check("t", [Limit("user", f"u{i}", 2), Limit("ip", "1.2.3.4", 5)], 60)).allowed
    v = await limiter.check("t", [Limit("user", "u9", 2), Limit("ip", "1.2.3.4", 5)], 60)
    assert not v.allowed and v.refused_by == "ip"
    assert (await limiter.check("t", [Limit("user", "u9", 2), Limit("ip", "5.6.7.8", 5)], 60)).allowed
    # A refused request is not counted against the other dimension.
    assert int(await deps.redis.get(window_keys("t", [Limit("user", "u9", 2)], 60)[0][0]) or 0) == 1


async def test_previous_window_weighs_in(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis_pipe)
    keys, weight = window_keys("w", [Limit("user", "u", 10)], 60)
    await deps.redis.set(keys[1], 10)  # the previous window was full
    v = await limiter.check("w", [Limit("user", "u", 10)], 60)
    assert v.allowed == (int(10 * weight) < 10)


async def test_empty_subject_or_zero_limit_is_no_limit(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis_pipe)
    for _ in range(5):
        assert (await limiter.check("t", [Limit("user", "", 1), Limit("ip", "1.1.1.1", 0)], 60)).allowed
    assert await deps.redis.dbsize() == 0


async def test_users_behind_one_address_share_its_limit_exactly(deps: Deps) -> None:
    """Each subject is decided in its own slot; what the users' windows counted for a request the
    address refused is taken back, so 40 users racing through one address: exactly 10 pass, 10 counted."""
    limiter = RateLimiter(deps.redis_pipe)
    users = [f"u{i}" for i in range(40)]
    verdicts = await asyncio.gather(
        *(limiter.check("t", [Limit("user", u, 100), Limit("ip", "9.9.9.9", 10)], 60) for u in users)
    )
    assert sum(v.allowed for v in verdicts) == 10
    assert {v.refused_by for v in verdicts if not v.allowed} == {"ip"}
    counted = [await deps.redis.get(window_keys("t", [Limit("user", u, 1)], 60)[0][0]) for u in users]
    assert sum(int(c or 0) for c in counted) == 10


def test_window_keys_are_cluster_ready() -> None:
    limits = [Limit("user", "o1", 5), Limit("ip", "1.2.3.4", 50)]
    keys, _ = window_keys("t", limits, 60, 1_000_000.0)
    assert slot(keys[0]) == slot(keys[1]) and slot(keys[2]) == slot(keys[3])  # a subject's two windows
    assert slot(keys[0]) != slot(keys[2])  # subjects spread over the cluster
    tagged, _ = window_keys("ballot", limits, 60, 1_000_000.0, tag="{poll:7}")
    assert {slot(k) for k in tagged} == {slot("{poll:7}")}  # an embedding script's slot
