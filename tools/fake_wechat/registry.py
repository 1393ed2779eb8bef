"""The endpoint table: each api_*.py module registers its WeChat paths here with @api."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import WeChatError

if TYPE_CHECKING:
    from .state import FakeWeChat

OPENID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Binary:
    """A non-JSON answer (showqrcode's PNG)."""

    content_type: str
    data: bytes
    status: int = 200


@dataclass
class Call:
    state: FakeWeChat
    method: str
    path: str
    query: dict[str, str]
    body: Any
    raw: bytes
    now: float
    appid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # --- helpers endpoints use to validate input the way WeChat does ---------------------------
    def obj(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise WeChatError(47001)
        return self.body

    def get_str(self, key: str, *, required: bool = True, errcode: int = 47001) -> str:
        value = self.obj().get(key)
        if value is None or value == "":
            if required:
                raise WeChatError(errcode)
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise WeChatError(47001)
        return str(value)

    def get_dict(self, key: str, *, required: bool = True) -> dict[str, Any]:
        value = self.obj().get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise WeChatError(47001)
        return value

    def openid(self, value: Any) -> str:
        if not isinstance(value, str) or not OPENID_RE.match(value):
            raise WeChatError(40003)
        return value

    def follower(self, value: Any) -> str:
        """A subscribed follower: unknown openid -> 40003, unsubscribed -> 43004."""
        openid = self.openid(value)
        followers = self.state.followers
        if openid in followers.unsubscribed:
            raise WeChatError(43004)
        if not followers.is_known(openid):
            raise WeChatError(40003)
        return openid

    def take_quota(self, appid: str) -> None:
        errcode = self.state.quotas.take(appid, self.path, self.now)
        if errcode:
            raise WeChatError(errcode)

    def check_app(self, appid: str | None, secret: str | None) -> str:
        """appid/secret of the token and jscode2session APIs."""
        if not appid:
            raise WeChatError(41002)
        self.appid = appid if appid in self.state.accounts else None
        if self.appid is None:
            raise WeChatError(40013)
        if not secret:
            raise WeChatError(41004)
        if secret != self.state.accounts[appid]:
            raise WeChatError(40125)
        return appid


Handler = Callable[[Call], "dict[str, Any] | Binary"]


@dataclass(frozen=True)
class Endpoint:
    fn: Handler
    method: str  # "GET", "POST" or "ANY"
    auth: bool  # needs ?access_token=
    json_body: bool  # parse the body as JSON (POST)


ENDPOINTS: dict[str, Endpoint] = {}


def api(path: str, method: str = "POST", *, auth: bool = True, json_body: bool = True) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ENDPOINTS[path] = Endpoint(fn, method, auth, json_body and method != "GET")
        return fn

    return register


OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}


def ok(**fields: Any) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", **fields}
