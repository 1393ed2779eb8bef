"""Duplicate submits create one item: a create form carries a one-time key, the first submit wins.

A double click, a browser retry or two tabs sending the same form all carry the same `form_key`
(generated when the form was rendered; JSON clients send `Idempotency-Key`). `once()` claims the
key in Redis with SET NX: the first request creates the item and records its id; a repeat gets
that id back (and the page redirects to the item) instead of a second item. A failed create
releases the key, so correcting the form and sending it again works.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from core.errors import BadInput, Conflict

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
TTL = 24 * 3600
PENDING = "…"


def new_key() -> str:
    return secrets.token_urlsafe(12)


async def once(
    redis: aioredis.Redis, user: str, kind: str, key: str | None, create: Callable[[], Awaitable[str]]
) -> tuple[str, bool]:
    """(item id, created now?). Without a key the create simply runs."""
    if not key:
        return await create(), True
    if not KEY_RE.match(key):
        raise BadInput("表单标识不正确，请刷新页面后重试", code="invalid_form_key")
    rkey = f"console:once:{user}:{kind}:{key}"
    if await redis.set(rkey, PENDING, nx=True, ex=TTL):
        try:
            item_id = await create()
        except BaseException:
            await redis.delete(rkey)
            raise
        await redis.set(rkey, item_id, ex=TTL)
        return item_id, True
    for _ in range(100):  # the first submit is still working: wait for its result
        value = await redis.get(rkey)
        if value is None:
            break  # it failed: this submit may try
        if value != PENDING:
            return str(value), False
        await asyncio.sleep(0.1)
    raise Conflict("该表单正在提交中，请稍后刷新页面查看结果", code="duplicate_submit")
