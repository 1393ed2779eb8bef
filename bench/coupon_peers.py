"""Helpers of bench/coupons.py: the bare Tornado ceiling (run as `python bench/coupon_peers.py PORT`) and the
all-at-once client that grabs once per member and retries with the same Idempotency-Key until answered."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any


async def grab_all(base: str, path: str, tokens: list[str], connections: int, tag: str,
                   kill_at: float = 0.0, restart: Any = None) -> dict[str, Any]:  # fmt: skip
    """Every member grabs once, all at once; retried with the same Idempotency-Key until answered."""
    import aiohttp

    winners: set[int] = set()
    statuses: dict[int, int] = {}
    retries = 0
    at_kill: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def one(i: int) -> None:
            nonlocal retries
            headers = {"Authorization": f"Bearer {tokens[i]}", "Idempotency-Key": f"{tag}-{i:08d}"}
            while True:
                try:
                    async with http.post(base + path, data=b"{}", headers=headers) as resp:
                        await resp.read()
                        if resp.status >= 500:
                            raise aiohttp.ClientError(str(resp.status))
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1
                        if resp.status == 201:
                            winners.add(i)
                        return
                except (TimeoutError, aiohttp.ClientError, OSError):
                    retries += 1
                    await asyncio.sleep(0.2)

        async def killer() -> None:
            await asyncio.sleep(kill_at)
            at_kill.update(answered=sum(statuses.values()), granted=len(winners))
            await asyncio.to_thread(restart)

        started = time.monotonic()
        tasks = [asyncio.ensure_future(one(i)) for i in range(len(tokens))]
        if kill_at:
            tasks.append(asyncio.ensure_future(killer()))
        await asyncio.gather(*tasks)
    return {"winners": len(winners), "statuses": statuses, "retries": retries, "seconds": time.monotonic() - started,
            "at_kill": at_kill}  # fmt: skip


def bare(port: int) -> None:
    """The ceiling: a Tornado handler that parses a JSON POST and answers JSON, nothing else."""
    import json

    import tornado.web
    from tornado.httpserver import HTTPServer

    class Grab(tornado.web.RequestHandler):
        def post(self) -> None:
            json.loads(self.request.body or b"{}")
            self.set_status(201)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps({"entitlement_id": "x", "status": "granted"}))

        def get(self) -> None:
            self.finish("ok")

    async def serve() -> None:
        HTTPServer(tornado.web.Application([(r"/grab", Grab)])).listen(port, "127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    bare(int(sys.argv[1]))
