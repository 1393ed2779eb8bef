"""The Redis side of benefits: the worker's short redemption codes (the only module that knows these keys).

`bnf:code:<12 digits>` -> entitlement id, for about a minute after the code was shown. The digits are
an HMAC of (entitlement, 30-second window), so the key is only a lookup: a code is accepted only if
it is also the HMAC of that entitlement for the current or the previous window.
"""

from __future__ import annotations

import redis.asyncio as aioredis

CODE_TTL = 65


def _k(code: str) -> str:
    return f"bnf:code:{code}"


async def remember(redis: aioredis.Redis, code: str, entitlement_id: str) -> None:
    await redis.set(_k(code), entitlement_id, ex=CODE_TTL)


async def lookup(redis: aioredis.Redis, code: str) -> str | None:
    value = await redis.get(_k(code))
    return str(value) if value else None
