"""Sliding-window rate limits in Redis: exact under concurrency, per user and per IP."""

from __future__ import annotations

import asyncio

from core.deps import Deps
from storage.ratelimit import Limit, RateLimiter, window_keys


async def test_concurrent_requests_get_exactly_the_limit(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis)
    verdicts = await asyncio.gather(*(limiter.check("t", [Limit("user", "u1", 10)], 60) for _ in range(60)))
    assert sum(v.allowed for v in verdicts) == 10
    refused = [v for v in verdicts if not v.allowed]
    assert all(v.refused_by == "user" and 1 <= v.retry_after <= 60 for v in refused)


async def test_user_and_ip_are_separate_dimensions(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis)
    for i in range(5):
        assert (await limiter.check("t", [Limit("user", f"u{i}", 2), Limit("ip", "1.2.3.4", 5)], 60)).allowed
    v = await limiter.check("t", [Limit("user", "u9", 2), Limit("ip", "1.2.3.4", 5)], 60)
    assert not v.allowed and v.refused_by == "ip"
    assert (await limiter.check("t", [Limit("user", "u9", 2), Limit("ip", "5.6.7.8", 5)], 60)).allowed
    # A refused request is not counted against the other dimension.
    assert int(await deps.redis.get(window_keys("t", [Limit("user", "u9", 2)], 60)[0][0]) or 0) == 1


async def test_previous_window_weighs_in(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis)
    keys, weight = window_keys("w", [Limit("user", "u", 10)], 60)
    await deps.redis.set(keys[1], 10)  # the previous window was full
    v = await limiter.check("w", [Limit("user", "u", 10)], 60)
    assert v.allowed == (int(10 * weight) < 10)


async def test_empty_subject_or_zero_limit_is_no_limit(deps: Deps) -> None:
    limiter = RateLimiter(deps.redis)
    for _ in range(5):
        assert (await limiter.check("t", [Limit("user", "", 1), Limit("ip", "1.1.1.1", 0)], 60)).allowed
    assert await deps.redis.dbsize() == 0
