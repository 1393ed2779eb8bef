"""A small concurrent client for the ballot tests: real HTTP, many connections at once (aiohttp)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Outcome:
    status: int | None  # None: no answer (connection refused or cut: the outcome is unknown)
    body: Any = None


async def login_many(base: str, codes: list[str], concurrency: int = 50) -> list[str]:
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as http:

        async def one(code: str) -> str:
            async with sem, http.post(f"{base}/api/mp/login", json={"code": code}) as resp:
                assert resp.status == 200, await resp.text()
                return str((await resp.json())["token"])

        return list(await asyncio.gather(*(one(c) for c in codes)))


async def post_all(base: str, jobs: list[tuple[str, str, dict[str, Any]]], seconds: float = 30.0) -> list[Outcome]:
    """POST every (path, token, body) at once; a cut connection is an Outcome with status None."""
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=seconds)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as http:

        async def one(path: str, token: str, body: dict[str, Any]) -> Outcome:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            try:
                async with http.post(base + path, data=json.dumps(body), headers=headers) as resp:
                    return Outcome(resp.status, await resp.json(content_type=None))
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                return Outcome(None)

        return list(await asyncio.gather(*(one(*job) for job in jobs)))
