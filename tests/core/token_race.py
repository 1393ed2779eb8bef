"""A separate process making concurrent WeChat calls through the real client (used by test_wechat_client)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from core.db import connect_redis
from core.metrics import Metrics
from core.wechat.client import WeChatClient


async def run(redis_url: str, api_base: str, app_id: str, secret: str, calls: int, start_at: float) -> dict:
    redis = connect_redis(redis_url)
    client = WeChatClient(app_id=app_id, app_secret=secret, api_base=api_base, redis=redis, metrics=Metrics())
    await asyncio.sleep(max(0.0, start_at - time.time()))  # both processes start together
    results = await asyncio.gather(*(client.get("cgi-bin/tags/get") for _ in range(calls)), return_exceptions=True)
    await client.close()
    await redis.aclose()
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return {"ok": sum(isinstance(r, dict) for r in results), "errors": errors}


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("redis", "base", "app-id", "secret"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--calls", type=int, default=25)
    p.add_argument("--start-at", type=float, default=0.0)
    a = p.parse_args()
    print(json.dumps(asyncio.run(run(a.redis, a.base, a.app_id, a.secret, a.calls, a.start_at))))


if __name__ == "__main__":
    main()
