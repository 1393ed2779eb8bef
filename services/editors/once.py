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
from services.editors import once_live

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


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
    if await once_live.claim(redis, user, kind, key):
        try:
            item_id = await create()
        except BaseException:
            await once_live.release(redis, user, kind, key)
            raise
        await once_live.record(redis, user, kind, key, item_id)
        return item_id, True
    for _ in range(100):  # the first submit is still working: wait for its result
        value = await once_live.result(redis, user, kind, key)
        if value is None:
            break  # it failed: this submit may try
        if value != once_live.PENDING:
            return value, False
        await asyncio.sleep(0.1)
    raise Conflict("该表单正在提交中，请稍后刷新页面查看结果", code="duplicate_submit")
