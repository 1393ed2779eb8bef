"""QR codes, content security, drafts/publishing and media uploads."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from .errors import WeChatError
from .png import qr_like_png
from .registry import Binary, Call, api, ok
from .state import QrTicket

TEMP_ACTIONS = {"QR_SCENE", "QR_STR_SCENE"}
PERM_ACTIONS = {"QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"}
QR_MAX_EXPIRE = 2_592_000
SEC_SCENES = {1, 2, 3, 4}


def _rand_id(n: int = 32) -> str:
    return secrets.token_urlsafe(n)[:n].replace("-", "A").replace("_", "B")


@api("cgi-bin/qrcode/create")
def qrcode_create(call: Call) -> dict[str, Any]:
    body = call.obj()
    action = body.get("action_name")
    if action not in TEMP_ACTIONS | PERM_ACTIONS:
        raise WeChatError(40097, "invalid args, unknown action_name")
    scene = call.get_dict("action_info").get("scene")
    if not isinstance(scene, dict):
        raise WeChatError(40053)
    scene_id: int | None = None
    if action.endswith("STR_SCENE"):
        text = scene.get("scene_str")
        if not isinstance(text, str) or not 1 <= len(text) <= 64:
            raise WeChatError(40053)
        scene_text = text
    else:
        value = scene.get("scene_id")
        high = 100_000 if action in PERM_ACTIONS else 0xFFFFFFFF
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise WeChatError(40053)
        scene_id, scene_text = value, str(value)
    expires: float | None = None
    answer: dict[str, Any] = {}
    if action in TEMP_ACTIONS:
        seconds = body.get("expire_seconds") or 60
        if not isinstance(seconds, int) or seconds < 0:
            raise WeChatError(40097, "invalid args, expire_seconds")
        seconds = min(seconds, QR_MAX_EXPIRE)  # WeChat caps at 30 days
        expires = call.now + seconds
        answer["expire_seconds"] = seconds
    raw = (b"\x10\x00" + secrets.token_bytes(40)) if action in TEMP_ACTIONS else (b"\x20\x00" + secrets.token_bytes(40))
    ticket = "gQ" + base64.b64encode(raw).decode()
    url = f"http://weixin.qq.com/q/{_rand_id(22)}"
    assert call.appid is not None
    call.state.qr_tickets[ticket] = QrTicket(call.appid, scene_text, scene_id, action in PERM_ACTIONS, expires, url)
    return {"ticket": ticket, **answer, "url": url}


@api("cgi-bin/showqrcode", "GET", auth=False)
def showqrcode(call: Call) -> Binary:
    # Real WeChat serves this from mp.weixin.qq.com; the fake serves it from the same base URL.
    ticket = call.query.get("ticket", "")
    qr = call.state.qr_tickets.get(ticket)
    if qr is None or (qr.expires is not None and call.now >= qr.expires):
        return Binary("text/plain; charset=utf-8", b"invalid ticket", 404)
    return Binary("image/png", qr_like_png(ticket))


@api("wxa/msg_sec_check")
def msg_sec_check(call: Call) -> dict[str, Any]:
    body = call.obj()
    content = body.get("content")
    if not isinstance(content, str):
        raise WeChatError(47001)
    if body.get("version") != 2:
        # v1 is retired; answer as it did (87014 for risky text) so old callers still get a verdict.
        if any(w in content for w in call.state.banned_words):
            raise WeChatError(87014)
        return ok()
    if body.get("scene") not in SEC_SCENES:
        raise WeChatError(47001, "data format error, scene must be 1..4")
    if not body.get("openid"):
        raise WeChatError(47001, "data format error, v2 needs the user's openid")
    call.openid(body["openid"])
    hits = [(w, label) for w, label in call.state.banned_words.items() if w in content]
    trace_id = _rand_id(24)
    if not hits:
        detail = [{"strategy": "content_model", "errcode": 0, "suggest": "pass", "label": 100, "prob": 90}]
        return ok(result={"suggest": "pass", "label": 100}, detail=detail, trace_id=trace_id)
    label = hits[0][1]
    detail = [{"strategy": "content_model", "errcode": 0, "suggest": "risky", "label": label, "prob": 90}]
    detail += [
        {"strategy": "keyword", "errcode": 0, "suggest": "risky", "label": lb, "level": 20, "keyword": w}
        for w, lb in hits
    ]
    return ok(result={"suggest": "risky", "label": label}, detail=detail, trace_id=trace_id)


# --- drafts and publishing -----------------------------------------------------------------------
def _articles(call: Call) -> list[dict[str, Any]]:
    articles = call.obj().get("articles")
    if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
        raise WeChatError(47001)
    for art in articles:
        if not isinstance(art, dict) or not art.get("title") or not art.get("content"):
            raise WeChatError(47001)
        if art.get("article_type", "news") == "news" and not art.get("thumb_media_id"):
            raise WeChatError(40007)
    return [dict(a) for a in articles]


def _draft(call: Call) -> tuple[str, dict[str, Any]]:
    media_id = call.obj().get("media_id")
    draft = call.state.drafts.get(media_id) if isinstance(media_id, str) else None
    if draft is None:
        raise WeChatError(40007)
    assert isinstance(media_id, str)
    return media_id, draft


@api("cgi-bin/draft/add")
def draft_add(call: Call) -> dict[str, Any]:
    media_id = _rand_id(43)
    call.state.drafts[media_id] = {"news_item": _articles(call), "create_time": int(call.now),
                                   "update_time": int(call.now)}  # fmt: skip
    return {"media_id": media_id}


@api("cgi-bin/draft/get")
def draft_get(call: Call) -> dict[str, Any]:
    _, draft = _draft(call)
    items = [{**a, "url": f"http://mp.weixin.qq.com/s?__biz=fake&temp={i}"} for i, a in enumerate(draft["news_item"])]
    return {"news_item": items, "create_time": draft["create_time"], "update_time": draft["update_time"]}


@api("cgi-bin/draft/delete")
def draft_delete(call: Call) -> dict[str, Any]:
    media_id, _ = _draft(call)
    del call.state.drafts[media_id]
    return ok()


@api("cgi-bin/draft/count", "GET")
def draft_count(call: Call) -> dict[str, Any]:
    return {"total_count": len(call.state.drafts)}


@api("cgi-bin/draft/batchget")
def draft_batchget(call: Call) -> dict[str, Any]:
    body = call.obj()
    offset, count = body.get("offset", 0), body.get("count", 20)
    if not isinstance(offset, int) or not isinstance(count, int) or not 1 <= count <= 20 or offset < 0:
        raise WeChatError(40097)
    drafts = list(call.state.drafts.items())[offset : offset + count]
    item = [{"media_id": m, "content": {"news_item": d["news_item"]}, "update_time": d["update_time"]}
            for m, d in drafts]  # fmt: skip
    return {"total_count": len(call.state.drafts), "item_count": len(item), "item": item}


@api("cgi-bin/freepublish/submit")
def freepublish_submit(call: Call) -> dict[str, Any]:
    media_id, draft = _draft(call)
    state = call.state
    publish_id = str(state.next_id())
    article_id = _rand_id(40)
    count = len(draft["news_item"])
    state.publishes[publish_id] = {
        "publish_id": publish_id, "publish_status": 0, "article_id": article_id, "media_id": media_id,
        "article_detail": {"count": count, "item": [
            {"idx": i + 1, "article_url": f"http://mp.weixin.qq.com/s/{article_id}{i}"} for i in range(count)]},
        "fail_idx": [],
    }  # fmt: skip
    return ok(publish_id=publish_id, msg_data_id=state.next_id())


@api("cgi-bin/freepublish/get")
def freepublish_get(call: Call) -> dict[str, Any]:
    publish = call.state.publishes.get(str(call.obj().get("publish_id")))
    if publish is None:
        raise WeChatError(40097, "invalid args, unknown publish_id")
    return {k: v for k, v in publish.items() if k != "media_id"}


# --- media: any body accepted (multipart in reality) ------------------------------------------
@api("cgi-bin/media/uploadimg", "POST", json_body=False)
def media_uploadimg(call: Call) -> dict[str, Any]:
    return {"url": f"http://mmbiz.qpic.cn/mmbiz_jpg/{_rand_id(40)}/0"}


@api("cgi-bin/material/add_material", "POST", json_body=False)
def material_add(call: Call) -> dict[str, Any]:
    media_id = _rand_id(43)
    kind = call.query.get("type", "image")
    call.state.media[media_id] = {"type": kind, "permanent": True, "size": len(call.raw)}
    answer: dict[str, Any] = {"media_id": media_id}
    if kind in ("image", "thumb"):
        answer["url"] = f"http://mmbiz.qpic.cn/mmbiz_jpg/{_rand_id(40)}/0"
    return answer


@api("cgi-bin/media/upload", "POST", json_body=False)
def media_upload(call: Call) -> dict[str, Any]:
    media_id = _rand_id(64)
    kind = call.query.get("type", "image")
    call.state.media[media_id] = {"type": kind, "permanent": False, "size": len(call.raw)}
    return {"type": kind, "media_id": media_id, "created_at": int(call.now)}


# --- security: a user's risk rank ----------------------------------------------------------------
RISK_SCENES = {0, 1}


@api("wxa/getuserriskrank")
def get_user_risk_rank(call: Call) -> dict[str, Any]:
    """Like WeChat: appid must be the caller's, scene 0 (sign-up) or 1 (marketing), client_ip required."""
    body = call.obj()
    if body.get("appid") != call.appid:
        raise WeChatError(40013, "invalid appid")
    openid = call.openid(body.get("openid"))
    if body.get("scene") not in RISK_SCENES or not isinstance(body.get("client_ip"), str) or not body["client_ip"]:
        raise WeChatError(47001, "data format error, scene must be 0 or 1 and client_ip is required")
    rank = call.state.risk_ranks.get(openid, 0)
    return {"errcode": 0, "errmsg": "getuserriskrank succ", "risk_rank": rank, "unoin_id": call.state.next_id()}
