"""Asynchronous WeChat HTTP API client: one per WeChat app (official account, mini-program).

Calls never block the event loop (aiohttp with a keep-alive pool). Failures surface as
WeChatError with errcode/errmsg. Token errors refresh once and retry once (twice when the retry's
token was itself replaced meanwhile: a refresh by another process, no fetch); `-1` (system busy)
and transport errors are retried with backoff a bounded number of times — transport errors
only for calls marked idempotent, since a timed-out send may still have been delivered, or when the
request never left (connection refused, connect timeout: `WeChatTransportError.not_sent`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from core.metrics import Metrics
from core.wechat.errors import TOKEN_ERRCODES, TRANSIENT_ERRCODES, WeChatError, WeChatTransportError
from core.wechat.tokens import TokenManager

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]


class WeChatClient:
    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        api_base: str,
        redis: aioredis.Redis,
        metrics: Metrics,
        timeout: float = 5.0,
        max_concurrency: int = 200,
        max_retries: int = 3,
        backoff_base: float = 0.2,
    ) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self._base = api_base.rstrip("/") + "/"
        self._metrics = metrics
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._limit = asyncio.Semaphore(max_concurrency)
        self._max_concurrency = max_concurrency
        self._session: aiohttp.ClientSession | None = None
        self.tokens = TokenManager(redis, app_id, self._fetch_token)

    async def fetch_image(self, url: str) -> bytes | None:
        """A picture WeChat serves without a token (showqrcode); None when it is not a PNG or JPEG.

        Raises TimeoutError or aiohttp.ClientError when WeChat cannot be reached.
        """
        async with self._limit, self._http().get(url) as answer:
            body = await answer.read()
        if answer.status != 200 or not (body.startswith(b"\x89PNG") or body.startswith(b"\xff\xd8")):
            return None
        return body

    @property
    def api_base(self) -> str:
        return self._base

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_concurrency, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, json_serialize=_dumps, raise_for_status=False
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _fetch_token(self, force: bool) -> tuple[str, int]:
        body: JsonDict = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        if force:
            body["force_refresh"] = True
        data = await self.call("POST", "cgi-bin/stable_token", json_body=body, auth=False, idempotent=True)
        self._metrics.token_fetches.labels(self.app_id).inc()
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> JsonDict:
        return await self.call("GET", path, params=params, idempotent=True, **kw)

    async def post(self, path: str, body: JsonDict, params: dict[str, Any] | None = None, **kw: Any) -> JsonDict:
        return await self.call("POST", path, params=params, json_body=body, **kw)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: JsonDict | None = None,
        auth: bool = True,
        idempotent: bool = False,
    ) -> JsonDict:
        token_refreshed = replaced_retry = False
        attempt = 0
        while True:
            attempt += 1
            token = await self.tokens.get() if auth else None
            try:
                data = await self._once(method, path, params, json_body, token)
            except WeChatTransportError as exc:
                # Never reached WeChat (refused, connect timeout): safe to repeat even an at-most-once send.
                if (idempotent or exc.not_sent) and attempt <= self._max_retries:
                    await self._backoff(attempt)
                    continue
                raise
            errcode = int(data.get("errcode") or 0)
            if errcode == 0:
                return data
            errmsg = str(data.get("errmsg", ""))
            if auth and token and errcode in TOKEN_ERRCODES and not token_refreshed:
                token_refreshed = True
                log.warning("%s: errcode %s, refreshing access_token and retrying once", path, errcode)
                await self.tokens.refresh(stale=token)
                continue
            if auth and token and errcode in TOKEN_ERRCODES and not replaced_retry:
                # The retry's token died too. If another process has stored a newer one since, this
                # was a race (a refresh elsewhere revoked ours): one more try with it costs no fetch.
                # If ours is still the current one, give up here: the caller retries later and its
                # next call refreshes (the pipeline keeps the recipient pending, never "failed").
                replaced_retry = True
                current = await self.tokens.current()
                if current and current != token:
                    await self.tokens.refresh(stale=token)
                    continue
            if errcode in TRANSIENT_ERRCODES and attempt <= self._max_retries:
                await self._backoff(attempt)
                continue
            raise WeChatError(errcode, errmsg, path)

    async def _once(
        self, method: str, path: str, params: dict[str, Any] | None, body: JsonDict | None, token: str | None
    ) -> JsonDict:
        query = dict(params or {})
        if token:
            query["access_token"] = token
        started = time.perf_counter()
        errcode = "transport"
        try:
            request = self._http().request(method, self._base + path, params=query, json=body)
            async with self._limit, request as resp:
                raw = await resp.read()
                status = resp.status
            if status >= 500:
                raise WeChatTransportError(path, f"HTTP {status}")
            try:
                data = json.loads(raw)
            except ValueError:
                raise WeChatTransportError(path, f"HTTP {status}: not JSON") from None
            if not isinstance(data, dict):
                raise WeChatTransportError(path, f"HTTP {status}: unexpected JSON")
            errcode = str(data.get("errcode") or 0)
            return data
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise WeChatTransportError(path, f"{type(exc).__name__}: {exc}", not_sent=True) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WeChatTransportError(path, f"{type(exc).__name__}: {exc}") from None
        finally:
            self._metrics.wechat_calls.labels(path, errcode).inc()
            self._metrics.wechat_latency.labels(path).observe(time.perf_counter() - started)

    async def _backoff(self, attempt: int) -> None:
        delay = self._backoff_base * (2 ** (attempt - 1))
        await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not security


def _dumps(obj: Any) -> str:
    # WeChat wants UTF-8 Chinese, not \\u escapes (escaped text counts against length limits).
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
