"""Followers and tags: user/get, user/info, tags/*."""

from __future__ import annotations

from typing import Any

from .errors import WeChatError
from .followers import FollowerInfo, page
from .registry import Call, api, ok

SYSTEM_TAGS = {0, 1, 2}
MAX_TAGS = 100
MAX_TAGS_PER_USER = 20


def _page_answer(openids: list[str], **extra: Any) -> dict[str, Any]:
    # WeChat's last page: count 0, no "data", next_openid "" (wechatpy's iterators rely on it).
    if not openids:
        return {**extra, "count": 0, "next_openid": ""}
    return {**extra, "count": len(openids), "data": {"openid": openids}, "next_openid": openids[-1]}


@api("cgi-bin/user/get", "GET")
def user_get(call: Call) -> dict[str, Any]:
    followers = call.state.followers
    it = followers.iter_after(call.query.get("next_openid") or None)
    if it is None:
        raise WeChatError(40003)
    return _page_answer(page(it), total=followers.total)


def _user_info(call: Call, openid: Any, lang: str) -> dict[str, Any]:
    openid = call.openid(openid)
    state = call.state
    followers = state.followers
    info = followers.info.get(openid) or FollowerInfo()
    if not followers.is_follower(openid):
        answer: dict[str, Any] = {"subscribe": 0, "openid": openid}
        if info.unionid:
            answer["unionid"] = info.unionid
        return answer
    tags = followers.tags_of(openid)
    answer = {
        "subscribe": 1, "openid": openid, "language": lang or info.language,
        "subscribe_time": followers.subscribe_time(openid), "remark": info.remark,
        "groupid": tags[0] if tags else 0, "tagid_list": tags, "subscribe_scene": info.subscribe_scene,
        "qr_scene": info.qr_scene, "qr_scene_str": info.qr_scene_str,
    }  # fmt: skip
    if info.unionid:
        answer["unionid"] = info.unionid
    return answer


@api("cgi-bin/user/info", "GET")
def user_info(call: Call) -> dict[str, Any]:
    return _user_info(call, call.query.get("openid"), call.query.get("lang", "zh_CN"))


@api("cgi-bin/user/info/batchget")
def user_info_batch(call: Call) -> dict[str, Any]:
    users = call.obj().get("user_list")
    if not isinstance(users, list) or not users or not all(isinstance(u, dict) for u in users):
        raise WeChatError(47001)
    if len(users) > 100:
        raise WeChatError(40032)
    return {"user_info_list": [_user_info(call, u.get("openid"), u.get("lang", "zh_CN")) for u in users]}


@api("cgi-bin/user/info/updateremark")
def update_remark(call: Call) -> dict[str, Any]:
    openid = call.follower(call.obj().get("openid"))
    remark = call.get_str("remark", required=False)
    if len(remark) > 30:
        raise WeChatError(45007, "remark too long")
    call.state.followers.info.setdefault(openid, FollowerInfo()).remark = remark
    return ok()


# --- tags ---------------------------------------------------------------------------------------
def _tag_name(call: Call, tag: dict[str, Any]) -> str:
    name = tag.get("name")
    if not isinstance(name, str) or not name.strip():
        raise WeChatError(45157)
    if len(name) > 30:
        raise WeChatError(45158)
    return name


def _tag_id(call: Call, value: Any, *, modifiable: bool = False) -> int:
    tag_id = int(value) if isinstance(value, int | str) and str(value).isdigit() else -1
    if modifiable and tag_id in SYSTEM_TAGS:
        raise WeChatError(45058)
    if tag_id not in call.state.tags:
        raise WeChatError(45159)
    return tag_id


@api("cgi-bin/tags/create")
def tags_create(call: Call) -> dict[str, Any]:
    name = _tag_name(call, call.get_dict("tag"))
    state = call.state
    if name in state.tags.values():
        raise WeChatError(45157)
    if len([t for t in state.tags if t not in SYSTEM_TAGS]) >= MAX_TAGS:
        raise WeChatError(45056)
    return {"tag": {"id": state.create_tag(name), "name": name}}


@api("cgi-bin/tags/get", "GET")
def tags_get(call: Call) -> dict[str, Any]:
    members = call.state.followers.tag_members
    tags = [
        {"id": tid, "name": name, "count": members[tid].size if tid in members else 0}
        for tid, name in sorted(call.state.tags.items())
    ]
    return {"tags": tags}


@api("cgi-bin/tags/update")
def tags_update(call: Call) -> dict[str, Any]:
    tag = call.get_dict("tag")
    tag_id = _tag_id(call, tag.get("id"), modifiable=True)
    name = _tag_name(call, tag)
    if any(n == name and t != tag_id for t, n in call.state.tags.items()):
        raise WeChatError(45157)
    call.state.tags[tag_id] = name
    return ok()


@api("cgi-bin/tags/delete")
def tags_delete(call: Call) -> dict[str, Any]:
    tag_id = _tag_id(call, call.get_dict("tag").get("id"), modifiable=True)
    members = call.state.followers.tag_members.get(tag_id)
    if members is not None and members.size > 100_000:
        raise WeChatError(45057, "can't delete the tag that has too many fans")
    del call.state.tags[tag_id]
    call.state.followers.drop_tag(tag_id)
    return ok()


def _batch(call: Call) -> tuple[list[str], int]:
    body = call.obj()
    openids = body.get("openid_list")
    if not isinstance(openids, list) or not openids:
        raise WeChatError(40032)
    if len(openids) > 50:
        raise WeChatError(40032)
    tag_id = _tag_id(call, body.get("tagid"))
    return [call.follower(o) for o in openids], tag_id


@api("cgi-bin/tags/members/batchtagging")
def batch_tagging(call: Call) -> dict[str, Any]:
    openids, tag_id = _batch(call)
    followers = call.state.followers
    for openid in openids:
        tags = followers.user_tags.get(openid, [])
        if tag_id not in tags and len(tags) >= MAX_TAGS_PER_USER:
            raise WeChatError(45059)
    for openid in openids:
        followers.tag(openid, tag_id)
    return ok()


@api("cgi-bin/tags/members/batchuntagging")
def batch_untagging(call: Call) -> dict[str, Any]:
    openids, tag_id = _batch(call)
    for openid in openids:
        call.state.followers.untag(openid, tag_id)
    return ok()


@api("cgi-bin/user/tag/get")
def tag_users(call: Call) -> dict[str, Any]:
    body = call.obj()
    tag_id = _tag_id(call, body.get("tagid"))
    it = call.state.followers.iter_tag(tag_id, body.get("next_openid") or None)
    if it is None:
        raise WeChatError(40003)
    return _page_answer(page(it))


@api("cgi-bin/tags/getidlist")
def tags_of_user(call: Call) -> dict[str, Any]:
    openid = call.follower(call.obj().get("openid"))
    return {"tagid_list": call.state.followers.tags_of(openid)}
