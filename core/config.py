"""The one config loader: `config.yaml` plus environment overrides, parsed once into frozen objects.

Every key `a.b_c` can be overridden by the environment variable `SDGH_A_B_C` (upper case,
dots become underscores). Errors raise `ConfigError` with one line naming the key, so the
operator sees exactly what to fix.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from core.redis_url import parse_redis_url

ENV_PREFIX = "SDGH_"


class ConfigError(Exception):
    """A configuration problem, described in one line that names the key."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1  # processes sharing the port via SO_REUSEPORT
    # How many service instances share one Redis and one MongoDB (hosts behind the load balancer).
    # More than 1: embedded servers would be private to each instance, so redis.url and mongo.url are required.
    instances: int = 1
    xheaders: bool = False  # take the client address from X-Forwarded-For / X-Real-IP, from trusted_proxies only
    trusted_proxies: tuple[str, ...] = ()  # CIDRs of our load balancers / reverse proxies (required with xheaders)
    cookie_secret: str = ""  # signs console session cookies; required
    max_body_bytes: int = 1_048_576
    max_json_bytes: int = 262_144  # largest JSON body a handler parses
    max_json_depth: int = 32  # deepest nesting of arrays/objects in a JSON body
    idle_connection_timeout: float = 60.0  # a keep-alive connection with no request is closed after this
    header_timeout: float = 10.0  # a request's headers must be complete this long after they started
    body_timeout: float = 30.0  # a request's body must be complete this long after its headers
    metrics_token: str = ""  # /metrics needs `Authorization: Bearer <token>`; empty = loopback clients only
    public_url: str = "http://127.0.0.1:8080"  # how WeChat and browsers reach us


@dataclass(frozen=True)
class WeChatSettings:
    app_id: str = ""
    app_secret: str = ""
    token: str = ""
    encoding_aes_key: str = ""  # 43 characters; empty means plaintext mode only
    api_base: str = "https://api.weixin.qq.com"
    timeout_seconds: float = 5.0
    max_concurrency: int = 200  # simultaneous outbound calls per process
    case_reply_template_id: str = "TPL_CASE_REPLY"  # template message: a consultation was answered


@dataclass(frozen=True)
class MiniProgramSettings:
    app_id: str = ""
    app_secret: str = ""
    api_base: str = "https://api.weixin.qq.com"
    # Subscribe-message template (from the mini-program's library) for sign-up confirmations,
    # waitlist promotions and reminders.
    activity_notice_template_id: str = "TPL_ACTIVITY_NOTICE"
    case_notice_template_id: str = "TPL_CASE_NOTICE"  # subscribe message: a consultation was answered


@dataclass(frozen=True)
class RedisSettings:
    url: str = ""  # empty: start the embedded redis-server under data_dir


@dataclass(frozen=True)
class MongoSettings:
    url: str = ""  # empty: start the embedded MongoDB-wire server under data_dir
    db: str = "sdgh"


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    json: bool = False


@dataclass(frozen=True)
class DemoSettings:
    fake_wechat: bool = False  # start the fake WeChat platform in-process (demo only)
    fake_wechat_port: int = 8081


@dataclass(frozen=True)
class CounsellingSettings:
    hold_seconds: int = 300  # how long a worker holds a slot before confirming
    # Keys the member pseudonyms (HMAC) and the contacts' encryption (AES-GCM). Empty: derived from
    # server.cookie_secret. Set it once in production and keep it: changing it makes stored contacts
    # unreadable and gives every member a new pseudonym.
    secret: str = ""
    notice_template_id: str = "TPL_COUNSELLING_NOTICE"  # mini-program subscribe template: confirmation, reminder
    # Official-account template for crisis alerts to on-duty counsellors who bound their WeChat; empty: console only.
    alert_template_id: str = "TPL_COUNSELLING_ALERT"


@dataclass(frozen=True)
class PushSettings:
    # Per-recipient delivery records and the audience chunks of a run are deleted this many days
    # after the run finished; the run itself with its totals and receipt counts is kept.
    retention_days: int = 180
    # The account's daily template-message quota (WeChat: 100,000 for most accounts): a template push
    # to more people would be paused for days, so the composer proposes mass send (群发) instead.
    template_daily_quota: int = 100_000


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    data_dir: str = "var"
    wechat: WeChatSettings = field(default_factory=WeChatSettings)
    miniprogram: MiniProgramSettings = field(default_factory=MiniProgramSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    mongo: MongoSettings = field(default_factory=MongoSettings)
    log: LogSettings = field(default_factory=LogSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    counselling: CounsellingSettings = field(default_factory=CounsellingSettings)
    pushes: PushSettings = field(default_factory=PushSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


REQUIRED = (
    "server.cookie_secret",
    "wechat.app_id",
    "wechat.app_secret",
    "wechat.token",
    "miniprogram.app_id",
    "miniprogram.app_secret",
)


def env_name(key: str) -> str:
    return ENV_PREFIX + key.replace(".", "_").upper()


def _leaf_types(cls: type, prefix: str = "") -> dict[str, Any]:
    """Map every dotted key of a settings dataclass to its Python type."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            out |= _leaf_types(typing.cast(type, hint), key + ".")
        else:
            out[key] = hint
    return out


LEAVES = _leaf_types(Settings)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    if isinstance(hint, types.UnionType):
        hint = next(h for h in typing.get_args(hint) if h is not type(None))
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}") from None
    if typing.get_origin(hint) is tuple:  # a YAML list, or comma-separated text (environment variables)
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{key}: expected a list of text values, got {value!r}")
        return tuple(i.strip() for i in items if i.strip())
    if hint is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise ConfigError(f"{key}: expected text, got {type(value).__name__}")
    return str(value)


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in raw.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            if not any(k.startswith(key + ".") for k in LEAVES):
                raise ConfigError(f"{key}: unknown key (known sections: {_sections()})")
            out |= _flatten(value, key + ".")
        else:
            if key not in LEAVES:
                raise ConfigError(f"{key}: unknown key")
            out[key] = value
    return out


def _sections() -> str:
    return ", ".join(sorted({k.split(".")[0] for k in LEAVES}))


def _build(cls: type, flat: Mapping[str, Any], prefix: str = "") -> Any:
    kwargs: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(typing.cast(type, hint), flat, key + ".")
        elif key in flat:
            kwargs[f.name] = flat[key]
    return cls(**kwargs)


def _check_url(key: str, value: str, schemes: tuple[str, ...], allow_empty: bool) -> None:
    if not value and allow_empty:
        return
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        raise ConfigError(f"{key}: {value!r} is not a valid URL (expected {' or '.join(schemes)})")


def _validate(s: Settings) -> None:
    for key in REQUIRED:
        section, name = key.split(".")
        if not getattr(getattr(s, section), name):
            raise ConfigError(f"{key}: missing (set it in the config file or as {env_name(key)})")
    aes = s.wechat.encoding_aes_key
    if aes:
        try:
            decoded = base64.b64decode(aes + "=", validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(aes) != 43 or len(decoded) != 32:
            raise ConfigError(
                f"wechat.encoding_aes_key: must be the 43-character EncodingAESKey from the WeChat "
                f"admin page, got {len(aes)} characters"
            )
    _check_url("wechat.api_base", s.wechat.api_base, ("http", "https"), allow_empty=False)
    _check_url("miniprogram.api_base", s.miniprogram.api_base, ("http", "https"), allow_empty=False)
    _check_url("server.public_url", s.server.public_url, ("http", "https"), allow_empty=False)
    if s.redis.url:
        try:
            parse_redis_url(s.redis.url)
        except ValueError as exc:
            shown = re.sub(r":[^:@/]*@", ":***@", s.redis.url)  # never print a password
            raise ConfigError(f"redis.url: {shown!r} is not a valid URL ({exc})") from None
    _check_url("mongo.url", s.mongo.url, ("mongodb", "mongodb+srv"), allow_empty=True)
    if not 0 <= s.server.port <= 65535:
        raise ConfigError(f"server.port: {s.server.port} is not a TCP port")
    if s.server.workers < 1:
        raise ConfigError("server.workers: must be at least 1")
    if s.server.instances < 1:
        raise ConfigError("server.instances: must be at least 1")
    for key, url in (("redis.url", s.redis.url), ("mongo.url", s.mongo.url)):
        if s.server.instances > 1 and not url:
            raise ConfigError(
                f"{key}: required when server.instances is {s.server.instances}: an empty URL starts a private "
                f"embedded server, which the other instances would not share"
            )
    _check_server(s.server)
    if s.log.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"log.level: {s.log.level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    if s.pushes.retention_days < 1 or s.pushes.template_daily_quota < 1:
        raise ConfigError("pushes.retention_days / pushes.template_daily_quota: must be at least 1")
    if not s.mongo.db or any(c in s.mongo.db for c in '/\\. "$'):
        raise ConfigError(f"mongo.db: {s.mongo.db!r} is not a valid database name")


def _check_server(s: ServerSettings) -> None:
    for cidr in s.trusted_proxies:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(f"server.trusted_proxies: {cidr!r} is not an IP address or CIDR") from None
    if s.xheaders and not s.trusted_proxies:
        raise ConfigError(
            "server.trusted_proxies: required with server.xheaders (the load balancer's addresses, e.g. "
            "100.64.0.0/10 for an Alibaba Cloud SLB); anybody else could choose their own address"
        )
    for name in ("idle_connection_timeout", "header_timeout", "body_timeout"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"server.{name}: must be more than 0 seconds")
    if s.max_json_depth < 2 or s.max_json_bytes < 1024:
        raise ConfigError("server.max_json_depth / max_json_bytes: at least 2 levels and 1024 bytes")


def parse_settings(raw: Any, env: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings from parsed YAML, environment variables and explicit overrides (in that order)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError("config file: the top level must be a mapping of keys")
    flat = _flatten(raw)
    known_env = {env_name(k): k for k in LEAVES}
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            if name not in known_env:
                raise ConfigError(f"{name}: unknown environment override (no such key)")
            flat[known_env[name]] = value
    for key, value in (overrides or {}).items():
        if key not in LEAVES:
            raise ConfigError(f"{key}: unknown key")
        flat[key] = value
    coerced = {k: _coerce(k, v, LEAVES[k]) for k, v in flat.items()}
    settings = typing.cast(Settings, _build(Settings, coerced))
    _validate(settings)
    return settings


def load_settings(path: Path, env: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file: cannot read {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise ConfigError(f"config file: {path} is not valid YAML{where}: {problem}") from None
    return parse_settings(raw, env, overrides)
