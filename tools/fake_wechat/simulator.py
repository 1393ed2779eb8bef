"""WeChatSimulator: plays WeChat's side of the message callback against our service's /wechat.

Signs (and in compat/safe mode encrypts) exactly as WeChat does, resends on timeout like WeChat
(3 attempts, same body, fresh timestamp/nonce), and verifies + decrypts the passive reply.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

from .builders import MessageBuilder
from .crypto import CryptoError, MessageCrypto, sha1_signature
from .messages import parse_any, to_json, to_xml
from .state import FakeWeChat

Mode = Literal["plain", "compat", "safe"]
Fmt = Literal["xml", "json"]
# Events after which WeChat lets the account send customer-service messages (its docs' list).
CS_WINDOW_EVENTS = {"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg"}


class ReplyError(Exception):
    """Our service's reply would be rejected by WeChat (bad signature, appid, format...)."""


@dataclass
class SimResult:
    status: int
    body: bytes
    reply: dict[str, Any] | None
    attempts: int
    elapsed: float
    acknowledged: bool
    failed: bool = False  # every attempt failed: the user sees "该公众号暂时无法提供服务，请稍后再试"
    reply_format: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class WeChatSimulator(MessageBuilder):
    def __init__(
        self,
        callback_url: str,
        token: str,
        app_id: str,
        encoding_aes_key: str = "",
        mode: Mode = "plain",
        fmt: Fmt = "xml",
        account: str = "gh_sdgh_demo",
        *,
        timeout: float = 5.0,
        max_attempts: int = 3,
        fake: FakeWeChat | str | None = None,
        max_clients: int = 64,
    ) -> None:
        if mode != "plain" and not encoding_aes_key:
            raise ValueError(f"{mode} mode needs the EncodingAESKey")
        self.callback_url, self.token, self.app_id = callback_url, token, app_id
        self.mode, self.fmt, self.account = mode, fmt, account
        self.timeout, self.max_attempts = timeout, max_attempts
        self.crypto = MessageCrypto(token, encoding_aes_key, app_id) if encoding_aes_key else None
        self.fake = fake  # FakeWeChat, or the fake server's base URL: follow/touch mirrored there
        self._max_clients = max_clients
        self._client: AsyncHTTPClient | None = None

    @property
    def client(self) -> AsyncHTTPClient:
        if self._client is None:
            # Own instance: the shared one queues beyond 10 requests and its queue time counts
            # against the timeout, which would fake "WeChat timeouts" under load.
            self._client = AsyncHTTPClient(force_instance=True, max_clients=self._max_clients)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- building requests ---------------------------------------------------------------------
    def encode(self, msg: dict[str, Any]) -> tuple[bytes, str | None]:
        """The POST body for `msg` and its Encrypt value (None in plain mode)."""
        dump = to_json if self.fmt == "json" else to_xml
        if self.mode == "plain":
            return dump(msg).encode(), None
        assert self.crypto is not None
        encrypted = self.crypto.encrypt(dump(msg).encode())
        outer = {"ToUserName": msg.get("ToUserName", self.account), "Encrypt": encrypted}
        if self.mode == "compat":
            outer = {**msg, "Encrypt": encrypted}
        return dump(outer).encode(), encrypted

    def signed_query(
        self, openid: str, encrypted: str | None, timestamp: str | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        query = {"signature": sha1_signature(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        query["openid"] = openid
        if encrypted is not None:
            query["encrypt_type"] = "aes"
            query["msg_signature"] = sha1_signature(self.token, timestamp, nonce, encrypted)
        return query

    def headers(self) -> dict[str, str]:
        ctype = "application/json" if self.fmt == "json" else "text/xml"
        return {"Content-Type": ctype, "User-Agent": "Mozilla/4.0", "Pragma": "no-cache"}

    def build_request(
        self, msg: dict[str, Any], *, timestamp: str | None = None, nonce: str | None = None
    ) -> tuple[str, bytes, dict[str, str]]:
        """(url with signed query, body, headers) without sending: tests may tamper with any part."""
        body, encrypted = self.encode(msg)
        query = self.signed_query(str(msg.get("FromUserName", "")), encrypted, timestamp, nonce)
        return f"{self.callback_url}?{urlencode(query)}", body, self.headers()

    # --- sending -------------------------------------------------------------------------------
    async def _fetch(self, request: HTTPRequest) -> HTTPResponse | str:
        try:
            return await self.client.fetch(request, raise_error=False)
        except HTTPClientError as exc:  # timeouts (599) are raised even with raise_error=False
            return f"{exc.code} {exc.message}"
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"

    async def send(
        self, msg: dict[str, Any], *, attempt_timeout: float | None = None, max_attempts: int | None = None
    ) -> SimResult:
        """Posts `msg` as WeChat would; raises ReplyError for a reply WeChat would reject."""
        await self._mirror(msg)
        body, encrypted = self.encode(msg)  # once: every retry carries the same message
        openid = str(msg.get("FromUserName", ""))
        timeout = self.timeout if attempt_timeout is None else attempt_timeout
        started = time.perf_counter()
        errors: list[str] = []
        status, last = 599, b""
        attempts = max_attempts or self.max_attempts
        for attempt in range(1, attempts + 1):
            url = f"{self.callback_url}?{urlencode(self.signed_query(openid, encrypted))}"
            request = HTTPRequest(url, "POST", self.headers(), body, connect_timeout=timeout, request_timeout=timeout)
            resp = await self._fetch(request)
            if isinstance(resp, str):
                errors.append(f"attempt {attempt}: {resp}")
                continue
            status, last = resp.code, resp.body or b""
            if status != 200:
                errors.append(f"attempt {attempt}: HTTP {status}")
                continue
            reply, fmt = self.parse_reply(last, msg)
            elapsed = time.perf_counter() - started
            return SimResult(status, last, reply, attempt, elapsed, True, reply_format=fmt, errors=errors)
        return SimResult(status, last, None, attempts, time.perf_counter() - started, False, True, errors=errors)

    def parse_reply(self, body: bytes, msg: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, str | None]:
        try:
            text = body.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise ReplyError(f"reply is not UTF-8: {exc}") from None
        if text in ("", "success"):
            return None, None
        try:
            fields, fmt = parse_any(text)
        except ValueError as exc:
            raise ReplyError(f"unparseable reply: {exc}") from None
        if "Encrypt" in fields:
            fields = self._decrypt_reply(fields)
        elif self.mode == "safe":
            raise ReplyError("plaintext reply in safe mode")
        if not fields.get("MsgType"):
            raise ReplyError("reply has no MsgType")
        if msg is not None and fields.get("ToUserName") != msg.get("FromUserName"):
            raise ReplyError(f"reply addressed to {fields.get('ToUserName')!r}, not the sender")
        if msg is not None and fields.get("FromUserName") != msg.get("ToUserName"):
            raise ReplyError(f"reply sent from {fields.get('FromUserName')!r}, not the account")
        return fields, fmt

    def _decrypt_reply(self, wrapper: dict[str, Any]) -> dict[str, Any]:
        if self.crypto is None:
            raise ReplyError("encrypted reply but no EncodingAESKey")
        try:
            encrypted = str(wrapper["Encrypt"])
            timestamp, nonce, signature = str(wrapper["TimeStamp"]), str(wrapper["Nonce"]), wrapper["MsgSignature"]
        except KeyError as exc:
            raise ReplyError(f"encrypted reply lacks {exc}") from None
        if self.crypto.signature(timestamp, nonce, encrypted) != signature:
            raise ReplyError("reply MsgSignature does not match")
        try:
            inner = self.crypto.decrypt(encrypted).decode("utf-8")
            return parse_any(inner)[0]
        except (CryptoError, UnicodeDecodeError, ValueError) as exc:
            raise ReplyError(f"cannot decrypt reply: {exc}") from None

    async def verify_url(self, echostr: str | None = None) -> SimResult:
        """WeChat's GET check of the callback URL (always plain-signed for official accounts)."""
        echostr = echostr or str(secrets.randbelow(10**18))
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        query = {"signature": sha1_signature(self.token, timestamp, nonce), "echostr": echostr,
                 "timestamp": timestamp, "nonce": nonce}  # fmt: skip
        started = time.perf_counter()
        request = HTTPRequest(f"{self.callback_url}?{urlencode(query)}", request_timeout=self.timeout)
        resp = await self._fetch(request)
        elapsed = time.perf_counter() - started
        if isinstance(resp, str):
            return SimResult(599, b"", None, 1, elapsed, False, True, errors=[resp])
        body = resp.body or b""
        ok = resp.code == 200 and body.decode("utf-8", "replace") == echostr
        return SimResult(resp.code, body, None, 1, elapsed, ok, not ok)

    # --- conveniences ---------------------------------------------------------------------------
    async def send_text(self, openid: str, content: str, **kw: Any) -> SimResult:
        return await self.send(self.text(openid, content), **kw)

    async def send_event(self, openid: str, event: str, **fields: Any) -> SimResult:
        return await self.send(self.event(openid, event, **fields))

    async def send_click(self, openid: str, key: str) -> SimResult:
        return await self.send(self.click(openid, key))

    async def scan_qr(
        self, openid: str, ticket: str | None = None, subscribed: bool = False, *, scene: str | None = None
    ) -> SimResult:
        """A QR-code scan: `subscribe` with EventKey qrscene_<scene> for a new follower, else `SCAN`."""
        if scene is None:
            scene = await self._ticket_scene(ticket or "")
        fields: dict[str, Any] = {"EventKey": scene if subscribed else f"qrscene_{scene}"}
        if ticket:
            fields["Ticket"] = ticket
        return await self.send(self.event(openid, "SCAN" if subscribed else "subscribe", **fields))

    # --- mirroring user actions into the fake platform -----------------------------------------
    async def _ticket_scene(self, ticket: str) -> str:
        scene: str | None = None
        if isinstance(self.fake, FakeWeChat):
            scene = self.fake.ticket_scene(ticket)
        elif isinstance(self.fake, str):
            resp = await self.client.fetch(f"{self.fake}/_fake/qrcode?ticket={ticket}", raise_error=False)
            scene = json.loads(resp.body).get("scene") if resp.code == 200 else None
        if scene is None:
            raise ValueError("unknown QR ticket (pass fake= to look it up, or scene= directly)")
        return str(scene)

    async def _mirror(self, msg: dict[str, Any]) -> None:
        """What WeChat itself records when the user acts: follows, unfollows, the 48 h window."""
        if self.fake is None:
            return
        openid = str(msg.get("FromUserName", ""))
        event = str(msg.get("Event", "")).lower() if msg.get("MsgType") == "event" else None
        actions: list[tuple[str, dict[str, Any]]] = []
        if event == "subscribe":
            key = str(msg.get("EventKey") or "")
            scene = key[len("qrscene_") :] if key.startswith("qrscene_") else ""
            how = "ADD_SCENE_QR_CODE" if scene else "ADD_SCENE_SEARCH"
            actions.append(("followers", {"openids": [openid], "qr_scene_str": scene, "subscribe_scene": how}))
        elif event == "unsubscribe":
            actions.append(("unfollow", {"openid": openid}))
        if event is None or event in CS_WINDOW_EVENTS:
            actions.append(("touch", {"openid": openid}))
        for name, body in actions:
            if isinstance(self.fake, FakeWeChat):
                _apply_locally(self.fake, name, body)
            else:
                await self.client.fetch(f"{self.fake}/_fake/{name}", method="POST", body=json.dumps(body))


def _apply_locally(fake: FakeWeChat, name: str, body: dict[str, Any]) -> None:
    if name == "followers":
        fake.add_followers(body["openids"], subscribe_scene=body["subscribe_scene"], qr_scene_str=body["qr_scene_str"])
    elif name == "unfollow":
        fake.unfollow(body["openid"])
    else:
        fake.touch(body["openid"])
