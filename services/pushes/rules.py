"""What a valid push looks like: channel content, audience and schedule, checked and normalised.

Every refusal is a `BadInput` with a Chinese message naming the field, so the console can show
it next to the input. Validation is pure (no I/O) except where noted by the caller (org scope,
upload ownership), which lives in services/pushes/compose.py.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from core.clock import TZ
from core.errors import BadInput

CHANNELS = {"template": "模板消息", "subscribe": "订阅通知", "custom": "客服消息", "mass": "群发图文"}
AUDIENCES = ("all", "tags", "orgs", "members", "openids")
OPENID_RE = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
FIELD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
PAGE_RE = re.compile(r"^[A-Za-z0-9_\-/.]+(\?[^\s]*)?$")
MIN_CRON_INTERVAL = timedelta(hours=1)
MAX_AHEAD = timedelta(days=366)
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _bad(message: str, code: str = "invalid_push") -> BadInput:
    return BadInput(message, code=code)


def text_field(value: Any, name: str, *, max_len: int, required: bool = True) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _bad(f"请填写{name}")
        return ""
    if not isinstance(value, str):
        raise _bad(f"{name}必须是文字")
    text = value.strip()
    if len(text) > max_len:
        raise _bad(f"{name}不能超过 {max_len} 个字（现在 {len(text)} 个）")
    return text


def _url(value: Any, name: str, *, required: bool = False) -> str:
    url = text_field(value, name, max_len=1024, required=required)
    if url and not re.match(r"^https?://[^\s/]+\S*$", url):
        raise _bad(f"{name}必须是以 http:// 或 https:// 开头的网址")
    return url


def _page(value: Any, name: str = "小程序页面路径") -> str:
    page = text_field(value, name, max_len=512).lstrip("/")
    if not PAGE_RE.match(page):
        raise _bad(f"{name}格式不正确，例如 pages/activity/detail?id=12")
    return page


def _template_data(value: Any) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict) or not value:
        raise _bad("请填写模板的各项内容")
    if len(value) > 20:
        raise _bad("模板内容最多 20 项")
    data: dict[str, dict[str, str]] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not FIELD_RE.match(key):
            raise _bad(f"模板字段名“{key}”不正确，应为模板中的关键词，如 thing1")
        raw = item.get("value") if isinstance(item, dict) else item
        data[key] = {"value": text_field(raw, f"模板字段 {key}", max_len=200)}
    return data


def clean_content(channel: str, content: Any, mp_app_id: str) -> dict[str, Any]:
    """The channel's message, normalised to what the WeChat API wants (minus the recipient)."""
    if not isinstance(content, dict):
        raise _bad("请填写推送内容")
    if channel in ("template", "subscribe"):
        out: dict[str, Any] = {
            "template_id": text_field(content.get("template_id"), "模板 ID", max_len=128),
            "data": _template_data(content.get("data")),
        }
        url = _url(content.get("url"), "跳转链接")
        if url:
            out["url"] = url
        if content.get("miniprogram_page"):
            out["miniprogram"] = {"appid": mp_app_id, "pagepath": _page(content.get("miniprogram_page"))}
        return out
    if channel == "custom":
        return _custom(content, mp_app_id)
    if channel == "mass":
        return _mass(content)
    raise _bad("推送方式不正确，可选：" + "、".join(CHANNELS.values()))


def _custom(content: dict[str, Any], mp_app_id: str) -> dict[str, Any]:
    msgtype = content.get("msgtype", "text")
    if msgtype == "text":
        return {"msgtype": "text", "text": {"content": text_field(content.get("text"), "消息内容", max_len=600)}}
    if msgtype == "news":
        article = {
            "title": text_field(content.get("title"), "图文标题", max_len=64),
            "description": text_field(content.get("description"), "图文摘要", max_len=120, required=False),
            "url": _url(content.get("url"), "图文链接", required=True),
            "picurl": _url(content.get("picurl"), "封面图片链接"),
        }
        return {"msgtype": "news", "news": {"articles": [article]}}
    if msgtype == "miniprogrampage":
        page = {
            "title": text_field(content.get("title"), "小程序卡片标题", max_len=64),
            "appid": mp_app_id,
            "pagepath": _page(content.get("miniprogram_page")),
            "thumb_media_id": text_field(content.get("thumb_media_id"), "卡片封面素材 ID", max_len=128),
        }
        return {"msgtype": "miniprogrampage", "miniprogrampage": page}
    raise _bad("客服消息类型不正确，可选：text（文字）、news（图文链接）、miniprogrampage（小程序卡片）")


def _mass(content: dict[str, Any]) -> dict[str, Any]:
    articles = content.get("articles")
    if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
        raise _bad("群发图文需要 1 至 8 篇文章")
    out = []
    for n, art in enumerate(articles, 1):
        if not isinstance(art, dict):
            raise _bad(f"第 {n} 篇文章格式不正确")
        item = {
            "title": text_field(art.get("title"), f"第 {n} 篇文章的标题", max_len=64),
            "content": text_field(art.get("content"), f"第 {n} 篇文章的正文", max_len=200_000),
            "thumb_media_id": text_field(art.get("thumb_media_id"), f"第 {n} 篇文章的封面素材 ID", max_len=128),
            "author": text_field(art.get("author"), f"第 {n} 篇文章的作者", max_len=16, required=False),
            "digest": text_field(art.get("digest"), f"第 {n} 篇文章的摘要", max_len=120, required=False),
            "content_source_url": _url(art.get("content_source_url"), f"第 {n} 篇文章的原文链接"),
        }
        out.append({k: v for k, v in item.items() if v})
    return {"articles": out}


def clean_audience(audience: Any) -> dict[str, Any]:
    """Shape only; org scope and upload ownership are checked against the database by the caller."""
    if not isinstance(audience, dict) or audience.get("kind") not in AUDIENCES:
        raise _bad("请选择推送对象：全部关注者、标签、组织、会员或上传的 openid 名单")
    kind = audience["kind"]
    if kind == "all":
        return {"kind": "all"}
    if kind == "tags":
        tags = audience.get("tags")
        if not isinstance(tags, list) or not tags or len(tags) > 20:
            raise _bad("请选择 1 至 20 个标签")
        if not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tags):
            raise _bad("标签编号必须是整数")
        return {"kind": "tags", "tags": sorted(set(tags))}
    if kind == "orgs":
        return {"kind": "orgs", "orgs": _codes(audience.get("orgs"), "组织")}
    if kind == "members":
        flt = audience.get("filter") or {}
        if not isinstance(flt, dict) or set(flt) - {"orgs", "member_nos"}:
            raise _bad("会员筛选条件只支持 orgs（所属工会）和 member_nos（会员编号）")
        out: dict[str, Any] = {}
        if flt.get("orgs"):
            out["orgs"] = _codes(flt["orgs"], "会员所属工会")
        if flt.get("member_nos"):
            nos = flt["member_nos"]
            if not isinstance(nos, list) or len(nos) > 10_000 or not all(isinstance(n, str) and n for n in nos):
                raise _bad("会员编号名单必须是 1 至 10000 个编号")
            out["member_nos"] = sorted({n.strip() for n in nos})
        return {"kind": "members", "filter": out}
    upload_id = audience.get("upload_id")
    if not isinstance(upload_id, str) or not re.match(r"^u[0-9a-f]{12}$", upload_id):
        raise _bad("请先上传 openid 名单")
    return {"kind": "openids", "upload_id": upload_id}


def _codes(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > 200:
        raise _bad(f"请选择 1 至 200 个{name}")
    if not all(isinstance(c, str) and re.match(r"^\d{6,20}$", c) for c in value):
        raise _bad(f"{name}编码格式不正确")
    return sorted(set(value))


# --- schedule ------------------------------------------------------------------------------------
def clean_schedule(schedule: Any, now: datetime) -> dict[str, Any]:
    if not isinstance(schedule, dict) or schedule.get("kind") not in ("now", "at", "cron"):
        raise _bad("请选择发送时间：立即、定时或周期重复")
    kind = schedule["kind"]
    if kind == "now":
        return {"kind": "now"}
    if kind == "at":
        at = parse_time(schedule.get("at"))
        if at < now - timedelta(minutes=1):
            raise _bad("定时发送的时间已经过去，请重新选择")
        if at > now + MAX_AHEAD:
            raise _bad("定时发送最多提前一年设置")
        return {"kind": "at", "at": at}
    expr = text_field(schedule.get("cron"), "重复规则", max_len=100)
    trigger = cron_trigger(expr)
    fires = next_fires(trigger, now, 3)
    if not fires:
        raise _bad("重复规则在未来不会触发，请检查")
    if len(fires) > 1 and min(b - a for a, b in zip(fires, fires[1:], strict=False)) < MIN_CRON_INTERVAL:
        raise _bad("周期推送的间隔不能短于 1 小时")
    return {"kind": "cron", "cron": " ".join(expr.split())}


def parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _bad("发送时间格式不正确，例如 2025-05-01T09:00") from None
    else:
        raise _bad("请填写发送时间")
    if at.tzinfo is None:
        at = at.replace(tzinfo=TZ)  # the console shows Beijing time
    return at.astimezone(TZ)


def cron_trigger(expr: str) -> CronTrigger:
    """A standard 5-field crontab (minute hour day month weekday, 0 or 7 = Sunday), in Beijing time."""
    fields = expr.split()
    hint = "重复规则格式不正确：请写 5 段（分 时 日 月 星期），例如“0 9 * * 1”表示每周一 9:00"
    if len(fields) != 5:
        raise _bad(hint)
    try:
        fields[4] = _weekdays(fields[4])
        return CronTrigger(
            minute=fields[0], hour=fields[1], day=fields[2], month=fields[3], day_of_week=fields[4], timezone=TZ
        )
    except (ValueError, TypeError, IndexError):
        raise _bad(hint) from None


def _weekdays(field: str) -> str:
    """Standard crontab weekdays (0-7, Sunday = 0 or 7) to names: APScheduler 3 counts Monday as 0."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if step < 1:
            raise ValueError(part)
        if rng == "*":
            lo, hi = 0, 6
        else:
            a, _, b = rng.partition("-")
            lo = _day(a)
            hi = _day(b) if b else (6 if step_s else lo)
            if hi < lo:
                hi += 7
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(WEEKDAYS[d] for d in sorted(days))


def _day(token: str) -> int:
    if token in WEEKDAYS:
        return WEEKDAYS.index(token)
    n = int(token)
    if not 0 <= n <= 7:
        raise ValueError(token)
    return n % 7 if n != 7 else 7


def next_fires(trigger: CronTrigger, after: datetime, count: int) -> list[datetime]:
    out: list[datetime] = []
    prev: datetime | None = None
    current = after
    for _ in range(count):
        nxt = trigger.get_next_fire_time(prev, current)
        if nxt is None:
            break
        out.append(nxt.astimezone(TZ))
        prev, current = nxt, nxt + timedelta(seconds=1)
    return out


def quota_advice(channel: str, count: int, daily_quota: int) -> dict[str, Any] | None:
    """A template push to more people than the daily quota sits paused for days: say so, with what
    to do instead (mass send does not use the template quota). None when the audience fits."""
    if channel != "template" or count <= daily_quota:
        return None
    days = -(-count // daily_quota)
    text = (
        f"模板消息每天最多发送 {daily_quota:,} 条，本次约 {count:,} 人，需要约 {days} 天才能发完"
        f"（每天额度用完即自动暂停，次日零点后继续）。建议改用“{CHANNELS['mass']}”（群发）："
        "群发不占模板消息额度，全部接收人当天即可收到（每人每月最多收到 4 条群发）。"
        "请点“改用群发图文”，把推送方式改为群发图文并填写图文内容后再发送。"
    )
    return {"text": text, "days": days, "daily_quota": daily_quota, "suggest_channel": "mass"}
