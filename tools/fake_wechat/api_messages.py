"""Outbound messages: customer-service, template, subscribe and mass sends."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import WeChatError
from .registry import Call, api, ok

CUSTOM_TYPES = {
    "text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle",
    "msgmenu", "wxcard", "miniprogrampage",
}  # fmt: skip
MASS_TYPES = {"mpnews", "text", "voice", "image", "mpvideo", "wxcard"}


def _payload(call: Call) -> Any:
    return call.body if call.state.record_calls else None


@api("cgi-bin/message/custom/send")
def custom_send(call: Call) -> dict[str, Any]:
    body = call.obj()
    msgtype = call.get_str("msgtype", errcode=40008)
    if msgtype not in CUSTOM_TYPES:
        raise WeChatError(40008)
    content = call.get_dict(msgtype)
    if msgtype == "text" and not content.get("content"):
        raise WeChatError(44003, "empty content")
    if msgtype == "news" and len(content.get("articles") or []) != 1:
        raise WeChatError(45008, "article size out of limit")
    openid = call.follower(body.get("touser"))
    state, now = call.state, call.now
    last = state.last_interaction.get(openid)
    if last is None:
        if state.enforce_cs_window:
            raise WeChatError(45015)
    elif now - last > state.cs_window:
        raise WeChatError(45015)
    if state.enforce_cs_window and state.cs_max_sends is not None:
        sent = state.cs_sends.get(openid, 0)
        if sent >= state.cs_max_sends:
            raise WeChatError(45047)
        state.cs_sends[openid] = sent + 1
    state.deliver("custom", openid, _payload(call))
    return ok()


@api("cgi-bin/message/template/send")
def template_send(call: Call) -> dict[str, Any]:
    body = call.obj()
    openid = call.openid(body.get("touser"))
    template_id = call.get_str("template_id", errcode=40037)
    state = call.state
    if template_id not in state.templates:
        raise WeChatError(40037)
    data = call.get_dict("data")
    if any(not isinstance(v, dict) or "value" not in v for v in data.values()):
        raise WeChatError(47001)
    mini = body.get("miniprogram")
    if mini is not None and (not isinstance(mini, dict) or not mini.get("appid")):
        raise WeChatError(40097)
    openid = call.follower(openid)
    cmid = body.get("client_msg_id")
    key = 0
    if cmid:
        if not isinstance(cmid, str) or len(cmid.encode()) > 64:
            raise WeChatError(47001)
        # Same touser + client_msg_id within 10 minutes: WeChat sends once and answers the same msgid.
        key = hash((call.appid, openid, cmid))
        seen = state.template_dedupe.get(key, call.now)
        if seen is not None:
            return ok(msgid=seen)
    msgid = state.next_id()
    if cmid:
        state.template_dedupe.put(key, msgid, call.now)
    state.deliver("template", openid, _payload(call))
    return ok(msgid=msgid)


@api("cgi-bin/template/get_all_private_template", "GET")
def private_templates(call: Call) -> dict[str, Any]:
    templates = [
        {"template_id": tid, "title": t["title"], "primary_industry": "", "deputy_industry": "",
         "content": t["content"], "example": ""}
        for tid, t in call.state.templates.items()
    ]  # fmt: skip
    return {"template_list": templates}


def _subscribe_send(call: Call) -> str:
    body = call.obj()
    openid = call.openid(body.get("touser"))
    template_id = call.get_str("template_id", errcode=40037)
    call.get_dict("data")
    state = call.state
    if not state.auto_consent:
        key = (openid, template_id)
        left = state.subscribe_consents.get(key, 0)
        if left <= 0:
            raise WeChatError(43101)
        if left == 1:
            del state.subscribe_consents[key]
        else:
            state.subscribe_consents[key] = left - 1
    state.deliver("subscribe", openid, _payload(call))
    return openid


@api("cgi-bin/message/subscribe/bizsend")
def subscribe_bizsend(call: Call) -> dict[str, Any]:
    _subscribe_send(call)
    return ok()


@api("cgi-bin/message/subscribe/send")
def subscribe_send(call: Call) -> dict[str, Any]:
    mp_state = call.obj().get("miniprogram_state", "formal")
    if mp_state not in ("developer", "trial", "formal"):
        raise WeChatError(47001)
    _subscribe_send(call)
    return ok(msgid=call.state.next_id())


# --- mass sends -------------------------------------------------------------------------------
def _mass_checks(call: Call) -> str:
    body = call.obj()
    msgtype = call.get_str("msgtype", errcode=40008)
    if msgtype not in MASS_TYPES:
        raise WeChatError(40008)
    content = call.get_dict(msgtype)
    state = call.state
    if msgtype == "mpnews" and content.get("media_id") not in state.drafts:
        raise WeChatError(40007)
    if msgtype == "text" and not content.get("content"):
        raise WeChatError(44003, "empty content")
    cmid = body.get("clientmsgid")
    if cmid:
        if not isinstance(cmid, str) or len(cmid.encode()) > 64:
            raise WeChatError(47001)
        assert call.appid is not None
        key = (call.appid, cmid)
        seen = state.mass_clientmsgids.get(key)
        if seen is not None and call.now - seen < 86400:
            raise WeChatError(45065)
        state.mass_clientmsgids[key] = call.now
    return msgtype


def _run_job(call: Call, recipients: Iterable[str], msgtype: str, check_follow: bool) -> dict[str, Any]:
    state = call.state
    state.mass_month_roll()
    counts, limit, followers = state.mass_counts, state.mass_monthly_limit, state.followers
    total = prepared = 0
    for openid in recipients:
        total += 1
        if check_follow and not followers.is_follower(openid):
            continue
        n = counts.get(openid, 0)
        if n >= limit:  # a follower gets at most 4 mass messages a month; WeChat filters silently
            continue
        counts[openid] = n + 1
        state.deliver("mass", openid)
        prepared += 1
    msg_id = state.next_id()
    result: dict[str, Any] = {"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id}
    if msgtype == "mpnews":
        result["msg_data_id"] = state.next_id()
    state.mass_jobs[msg_id] = {
        **result, "appid": call.appid, "msgtype": msgtype, "clientmsgid": call.obj().get("clientmsgid"),
        "Status": "send success", "TotalCount": total, "FilterCount": prepared, "SentCount": prepared,
        "ErrorCount": 0, "created": call.now,
    }  # fmt: skip
    return result


@api("cgi-bin/message/mass/sendall")
def mass_sendall(call: Call) -> dict[str, Any]:
    flt = call.get_dict("filter")
    msgtype = _mass_checks(call)
    followers = call.state.followers
    if flt.get("is_to_all"):
        return _run_job(call, followers.iter_subscribed(), msgtype, check_follow=False)
    tag_id = flt.get("tag_id")
    if not isinstance(tag_id, int) or tag_id not in call.state.tags:
        raise WeChatError(40050, "invalid group id")
    return _run_job(call, followers.iter_tag(tag_id) or (), msgtype, check_follow=False)


@api("cgi-bin/message/mass/send")
def mass_send(call: Call) -> dict[str, Any]:
    touser = call.obj().get("touser")
    if not isinstance(touser, list) or not all(isinstance(o, str) for o in touser):
        raise WeChatError(47001)
    if len(touser) < 2:
        raise WeChatError(40130)
    if len(touser) > 10_000:
        raise WeChatError(40130, "invalid openid list size, at most 10000 openid")
    msgtype = _mass_checks(call)
    return _run_job(call, dict.fromkeys(touser), msgtype, check_follow=True)


@api("cgi-bin/message/mass/preview")
def mass_preview(call: Call) -> dict[str, Any]:
    openid = call.follower(call.obj().get("touser"))
    msgtype = call.get_str("msgtype", errcode=40008)
    if msgtype not in MASS_TYPES:
        raise WeChatError(40008)
    call.get_dict(msgtype)
    call.state.deliver("preview", openid, _payload(call))
    return {"errcode": 0, "errmsg": "preview success", "msg_id": call.state.next_id()}


@api("cgi-bin/message/mass/get")
def mass_get(call: Call) -> dict[str, Any]:
    msg_id = str(call.obj().get("msg_id"))
    job = call.state.mass_jobs.get(int(msg_id)) if msg_id.isdigit() else None
    if job is None:
        raise WeChatError(40097)
    return {"msg_id": job["msg_id"], "msg_status": "SEND_SUCCESS"}


@api("cgi-bin/message/mass/delete")
def mass_delete(call: Call) -> dict[str, Any]:
    msg_id = str(call.obj().get("msg_id"))
    if not msg_id.isdigit() or int(msg_id) not in call.state.mass_jobs:
        raise WeChatError(40097)
    return ok()
