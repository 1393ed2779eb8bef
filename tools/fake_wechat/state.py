"""FakeWeChat: all in-memory state and rules of the fake platform (plain Python, no tornado).

Tests in the same process drive and inspect it directly; the HTTP server (server.py) and the
endpoint modules (api_*.py) only translate HTTP to calls on this object.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .followers import FollowerInfo, FollowerStore
from .limits import ExpiringIds, HttpInjection, Injection, Injector, Plan, Quotas, china_month
from .recording import CallLog, CallRecord, Deliveries
from .tokens import NORMAL, STABLE, TokenStore

DEFAULT_ACCOUNTS: dict[str, str] = {"wxdemo0000000oa": "demo-oa-secret", "wxdemo0000000mp": "demo-mp-secret"}
SEED_TEMPLATES: dict[str, dict[str, str]] = {
    "TPL_ACTIVITY_NOTICE": {"title": "活动通知", "content": "活动名称：{{thing1.DATA}}\n活动时间：{{time2.DATA}}"},
    "TPL_VOTE_RESULT": {"title": "投票结果通知", "content": "投票主题：{{thing1.DATA}}\n结果：{{thing2.DATA}}"},
    "TPL_CASE_REPLY": {"title": "咨询答复通知", "content": "咨询类别：{{thing1.DATA}}\n答复摘要：{{thing2.DATA}}"},
    "TPL_COUNSELLING_ALERT": {"title": "值班提醒", "content": "提醒事项：{{thing1.DATA}}\n时间：{{time2.DATA}}"},
    "TPL_BIRTHDAY_GIFT": {"title": "生日礼品到账通知", "content": "礼品：{{thing1.DATA}}\n生日：{{time2.DATA}}"},
}
SEED_BANNED_WORDS: dict[str, int] = {"赌博": 20006, "诈骗": 20006, "代开发票": 10001}  # word -> label
SEED_REVIEW_WORDS: dict[str, int] = {"上访": 20001, "拉横幅": 20001}  # msgSecCheck v2 "review": a person decides


def normalize_path(path: str) -> str:
    return path.strip().lstrip("/")


@dataclass(slots=True)
class JsCode:
    openid: str
    created: float
    used: bool = False


@dataclass(slots=True)
class QrTicket:
    appid: str
    scene: str  # scene_str, or str(scene_id)
    scene_id: int | None
    permanent: bool
    expires: float | None
    url: str


class FakeWeChat:
    def __init__(
        self,
        accounts: dict[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        record_maxlen: int = 100_000,
    ) -> None:
        self.accounts: dict[str, str] = dict(DEFAULT_ACCOUNTS if accounts is None else accounts)
        self.clock = clock
        self.record_maxlen = record_maxlen
        self.reset()

    def reset(self) -> None:
        """Everything back to defaults (accounts and clock are kept)."""
        self.token_ttl = 7200.0
        self.token_grace = 300.0  # old cgi-bin/token tokens stay valid this long after a new fetch
        self.stable_early_refresh: float | None = None  # None: token_ttl / 24 (300 s of 7200)
        self.stable_force_per_day = 20
        self.stable_force_interval = 30.0
        self.enforce_cs_window = False  # True: no recorded interaction also means 45015
        self.cs_window = 48 * 3600.0
        self.cs_max_sends: int | None = 5  # per interaction, only while enforce_cs_window
        self.auto_consent = False
        self.record_calls = True
        self.append_rid = False  # real errmsgs end in " rid: ..."; on = catch clients that match errmsg
        self.mass_monthly_limit = 4
        self.js_code_ttl = 300.0
        self.tokens = TokenStore()
        self.quotas = Quotas()
        self.injector = Injector()
        self.log = CallLog(self.record_maxlen)
        self._deliveries = Deliveries()
        self.deliveries: dict[str, dict[str, int]] = self._deliveries.counts
        self.followers = FollowerStore()
        self.last_interaction: dict[str, float] = {}
        self.cs_sends: dict[str, int] = {}
        self.templates: dict[str, dict[str, str]] = {k: dict(v) for k, v in SEED_TEMPLATES.items()}
        self.subscribe_consents: dict[tuple[str, str], int] = {}
        self.banned_words: dict[str, int] = dict(SEED_BANNED_WORDS)
        self.review_words: dict[str, int] = dict(SEED_REVIEW_WORDS)
        self.risk_ranks: dict[str, int] = {}  # openid -> getuserriskrank's risk_rank (default 0)
        self.tags: dict[int, str] = {2: "星标组"}
        self.next_tag_id = 100
        self.menus: dict[str, dict[str, Any]] = {}  # appid -> {"button": [...], "conditional": [...]}
        self.qr_tickets: dict[str, QrTicket] = {}
        self.js_codes: dict[str, JsCode] = {}
        self.used_test_codes: set[str] = set()
        self.mp_unionids: dict[str, str] = {}
        self.session_keys: dict[str, str] = {}
        self.drafts: dict[str, dict[str, Any]] = {}
        self.publishes: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.mass_jobs: dict[int, dict[str, Any]] = {}
        self.mass_counts: dict[str, int] = {}  # openid -> mass messages received this month
        self.mass_month: tuple[int, int] | None = None
        self.mass_clientmsgids: dict[tuple[str, str], float] = {}
        self.template_dedupe = ExpiringIds(600.0)
        self.stable_force: dict[str, list[float]] = defaultdict(list)  # appid -> forced refresh times
        self._serial = 1_000_000_000

    # --- time and ids ---------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock()

    def next_id(self) -> int:
        self._serial += 1
        return self._serial

    # --- limits ---------------------------------------------------------------------------------
    def set_quota(self, path: str, daily: int | None = None, per_minute: int | None = None) -> None:
        self.quotas.set(normalize_path(path), daily, per_minute)

    def lift_limits(self) -> None:
        self.quotas.lifted = True

    def reset_quotas(self) -> None:
        """Simulates the next day: daily counters and forced stable_token refreshes start over."""
        self.quotas.reset()
        self.stable_force.clear()

    # --- fault injection ------------------------------------------------------------------------
    def inject(
        self, path: str, errcode: int, times: int = 1, delay: float = 0.0, invalidate_token: bool | None = None
    ) -> None:
        key = "*" if path == "*" else normalize_path(path)
        self.injector.injections[key].append(Injection(errcode, times, delay, invalidate_token))

    def inject_http_status(self, path: str, status: int = 502, times: int = 1) -> None:
        key = "*" if path == "*" else normalize_path(path)
        self.injector.http[key].append(HttpInjection(status, times))

    def set_delay(self, path: str, seconds: float) -> None:
        key = "*" if path == "*" else normalize_path(path)
        if seconds > 0:
            self.injector.delays[key] = seconds
        else:
            self.injector.delays.pop(key, None)

    def clear_faults(self) -> None:
        self.injector.clear()

    def plan(self, path: str) -> Plan:
        return self.injector.plan(normalize_path(path))

    # --- tokens ---------------------------------------------------------------------------------
    def expire_tokens(self, appid: str | None = None) -> int:
        return self.tokens.expire(self.now(), appid)

    def invalidate_tokens(self, appid: str | None = None) -> int:
        return self.tokens.revoke(self.now(), appid)

    def issue_token(self, appid: str, stable: bool = False) -> str:
        """A token for in-process tests that want to skip the HTTP fetch."""
        kind = STABLE if stable else NORMAL
        return self.tokens.issue(appid, kind, self.now(), self.token_ttl, self.token_grace)

    # --- recording ------------------------------------------------------------------------------
    def count_call(self, path: str, appid: str | None, errcode: int | None, http_status: int = 200) -> None:
        if errcode is None:
            self.log.http_failures[(path, http_status)] += 1
        else:
            self.log.counters[(path, errcode)] += 1
        if appid:
            self.log.per_app[(appid, path)] += 1

    def record(self, rec: CallRecord) -> None:
        self.count_call(rec.path, rec.appid, rec.errcode, rec.http_status)
        if self.record_calls:
            self.log.records.append(rec)

    def calls(self, path: str | None = None) -> list[CallRecord]:
        return self.log.calls(path)

    def count(self, path: str | None = None, errcode: int | None = None) -> int:
        return self.log.count(path, errcode)

    def token_fetches(self, appid: str) -> int:
        return self.log.per_app[(appid, "cgi-bin/token")] + self.log.per_app[(appid, "cgi-bin/stable_token")]

    # --- deliveries -----------------------------------------------------------------------------
    def deliver(self, kind: str, openid: str, payload: Any = None) -> None:
        self._deliveries.add(kind, openid, payload if self.record_calls else None)

    def delivered_count(self, kind: str) -> int:
        return self._deliveries.total(kind)

    def duplicate_deliveries(self, kind: str) -> list[str]:
        return self._deliveries.duplicates(kind)

    def last_payload(self, kind: str, openid: str) -> Any:
        return self._deliveries.last.get(kind, {}).get(openid)

    def deliveries_summary(self, kind: str) -> dict[str, Any]:
        return {
            "kind": kind,
            "total": self._deliveries.total(kind),
            "distinct": self._deliveries.distinct(kind),
            "duplicates": self._deliveries.duplicates(kind)[:100],
        }

    # --- followers ------------------------------------------------------------------------------
    def add_followers(
        self,
        openids: Iterable[str],
        unionids: dict[str, str] | None = None,
        tags: Iterable[int] = (),
        subscribe_time: int | None = None,
        subscribe_scene: str = "ADD_SCENE_SEARCH",
        qr_scene_str: str = "",
    ) -> int:
        tag_ids = list(tags)
        when = int(self.now()) if subscribe_time is None else subscribe_time
        n = 0
        for openid in openids:
            self.followers.add(openid)
            info = self.followers.info.setdefault(openid, FollowerInfo())
            info.subscribe_time = when
            info.subscribe_scene = subscribe_scene
            if qr_scene_str:
                info.qr_scene_str = qr_scene_str
                info.qr_scene = int(qr_scene_str) if qr_scene_str.isdigit() else 0
            if unionids and openid in unionids:
                info.unionid = unionids[openid]
            for tag_id in tag_ids:
                self.followers.tag(openid, tag_id)
            n += 1
        return n

    def add_numbered_followers(self, n: int, prefix: str = "o_fake_", start: int = 0) -> list[str]:
        """Adds `prefix0000000`.. in O(1); returns the first and last openid for convenience."""
        if n <= 0:
            return []
        self.followers.add_numbered(n, prefix, start, int(self.now()))
        width = max(7, len(str(start + n - 1)))
        return [f"{prefix}{start:0{width}d}", f"{prefix}{start + n - 1:0{width}d}"]

    def unfollow(self, openid: str) -> bool:
        self.last_interaction.pop(openid, None)
        return self.followers.unfollow(openid)

    def is_follower(self, openid: str) -> bool:
        return self.followers.is_follower(openid)

    def touch(self, openid: str, ts: float | None = None) -> None:
        """Records a user interaction: opens the 48-hour customer-service window."""
        self.last_interaction[openid] = self.now() if ts is None else ts
        self.cs_sends.pop(openid, None)

    def grant_consent(self, openid: str, template_id: str, count: int = 1) -> None:
        key = (openid, template_id)
        self.subscribe_consents[key] = self.subscribe_consents.get(key, 0) + count

    def add_template(self, template_id: str, title: str = "", content: str = "") -> None:
        self.templates[template_id] = {"title": title or template_id, "content": content}

    def create_tag(self, name: str) -> int:
        tag_id = self.next_tag_id
        self.next_tag_id += 1
        self.tags[tag_id] = name
        return tag_id

    def mass_month_roll(self) -> None:
        month = china_month(self.now())
        if month != self.mass_month:
            self.mass_month = month
            self.mass_counts.clear()

    # --- mini-program login ---------------------------------------------------------------------
    def mint_js_code(self, openid: str | None = None, unionid: str | None = None) -> str:
        """A one-time wx.login() code for `openid` (a new user when None)."""
        if openid is None:
            openid = "o" + secrets.token_urlsafe(20)[:27]
        if unionid is not None:
            self.mp_unionids[openid] = unionid
        code = secrets.token_hex(16)
        self.js_codes[code] = JsCode(openid, self.now())
        return code

    def ticket_scene(self, ticket: str) -> str | None:
        qr = self.qr_tickets.get(ticket)
        return qr.scene if qr else None

    def summary(self) -> dict[str, Any]:
        now = self.now()
        return {
            "now": now,
            "accounts": sorted(self.accounts),
            "followers": self.followers.total,
            "tokens": self.tokens.summary(now),
            "counters": {f"{p} {e}": n for (p, e), n in sorted(self.log.counters.items())},
            "http_failures": {f"{p} {s}": n for (p, s), n in sorted(self.log.http_failures.items())},
            "deliveries": self._deliveries.summary(),
            "mass_jobs": len(self.mass_jobs),
            "limits_lifted": self.quotas.lifted,
            "calls_recorded": len(self.log.records),
        }
