"""Ownership comes from the editor's scope, never from a body: a 青岛 admin sends every /api/admin/ route
bodies full of foreign `_id`s, `org`s and `org_path`s, and nothing outside 青岛's subtree changes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.activities import definitions as activity_admin
from services.pushes import compose as pushes
from services.surveys import definitions as survey_admin
from tests.console.conftest import CITY_A, CITY_B, PASSWORD, Client, MakeEditor
from tests.console.test_route_auth import console_rules, implemented
from tests.mp.polls_helpers import make_poll

IGNORED = {"audit_log"}  # the 青岛 admin's own entries land there, by design


async def make_items(deps: Deps, org: str, tag: str) -> dict[str, str]:
    """One poll, survey, activity and push owned by `org`; their ids by kind."""
    poll = await make_poll(deps, org=org, title=f"投票{tag}")
    survey = await survey_admin.create_survey(
        deps,
        {
            "org": org,
            "title": f"问卷{tag}",
            "opens_at": now(),
            "closes_at": now() + timedelta(days=2),
            "questions": [{"id": "q1", "type": "text", "title": "建议"}],
        },
        editor_org=None,
    )
    activity = await activity_admin.create_activity(
        deps,
        {
            "org": org,
            "title": f"活动{tag}",
            "signup_deadline": now() + timedelta(days=1),
            "sessions": [
                {
                    "id": "s1",
                    "starts_at": now() + timedelta(days=2),
                    "ends_at": now() + timedelta(days=2, hours=1),
                    "capacity": 5,
                }
            ],
        },
        editor_org=None,
    )
    push = await pushes.create(
        deps,
        {
            "title": f"推送{tag}",
            "channel": "custom",
            "content": {"msgtype": "text", "text": "你好"},
            "audience": {"kind": "all"},
            "schedule": {"kind": "at", "at": (now() + timedelta(days=1)).isoformat()},
            "org": org,
        },
        editor_org="370000",
        editor="t",
    )
    return {"poll": poll["_id"], "survey": survey["_id"], "activity": activity["_id"], "push": push["id"]}


def base_bodies() -> dict[str, dict[str, Any]]:
    """A plausible body per console area (the route segment after /api/admin/)."""
    at = now() + timedelta(days=3)
    return {
        "replies": {"kind": "keyword", "match": "exact", "patterns": ["投票"], "reply": {"text": "改"}},
        "replies-welcome": {"kind": "welcome", "reply": {"type": "text", "text": "被改了"}},
        "replies-click": {"kind": "click", "key": "MENU_VOTE", "reply": {"type": "text", "text": "改"}},
        "polls": {
            "title": "改",
            "options": [{"title": "甲"}, {"title": "乙"}],
            "opens_at": now().isoformat(),
            "closes_at": at.isoformat(),
        },
        "surveys": {
            "title": "改",
            "opens_at": now().isoformat(),
            "closes_at": at.isoformat(),
            "questions": [{"id": "q1", "type": "text", "title": "改"}],
        },
        "activities": {
            "title": "改",
            "signup_deadline": at.isoformat(),
            "sessions": [
                {
                    "id": "s1",
                    "capacity": 9,
                    "starts_at": (at + timedelta(days=1)).isoformat(),
                    "ends_at": (at + timedelta(days=1, hours=2)).isoformat(),
                }
            ],
        },
        "pushes": {
            "title": "改",
            "channel": "custom",
            "content": {"msgtype": "text", "text": "改"},
            "audience": {"kind": "all"},
            "schedule": {"kind": "at", "at": at.isoformat()},
            "openid": "o" + "F" * 27,
        },
        "editors": {"username": "jinan_editor", "name": "改", "role": "admin", "password": PASSWORD},
        "qrcodes": {"kind": "org", "target": CITY_A},
        "menu": {"button": [{"type": "click", "name": "改", "key": "MENU_VOTE"}]},
    }


def bodies(foreign: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Plausible bodies per console area, each carrying a foreign id of its kind and foreign owners."""
    ids = {
        "replies": "370000:kw:vote",
        "replies-welcome": "370000:welcome",
        "replies-click": "370000:click:MENU_VOTE",
        "polls": foreign["poll"],
        "surveys": foreign["survey"],
        "activities": foreign["activity"],
        "pushes": foreign["push"],
        "editors": "jinan_editor",
        "qrcodes": "qr0000000000",
        "menu": CITY_A,
    }
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, body in base_bodies().items():
        for owner in ("370000", CITY_A):
            foreign_fields = {"_id": ids[kind], "id": ids[kind], "org_path": ["370000", owner], "version": 1}
            out.setdefault(kind.split("-")[0], []).append({**body, **foreign_fields, "org": owner})
    return out


def paths(pattern: str, ids: list[str]) -> list[str]:
    """Every concrete URL of a route: each alternative of (a|b) groups, each id that fits an id group."""
    groups = re.findall(r"\((?:\?P<\w+>)?([^)]*)\)", pattern)
    found = [pattern.replace("\\", "")]
    for inner in groups:
        choices = inner.split("|") if re.fullmatch(r"[\w|]+", inner) else ids
        nxt = []
        for path in found:
            for choice in choices:
                nxt.append(re.sub(r"\((?:\?P<\w+>)?[^)]*\)", lambda _m, c=choice: c, path, count=1))
        found = nxt
    return [p for p in dict.fromkeys(found) if re.fullmatch(pattern, p)]


async def outside(deps: Deps, qd_codes: set[str]) -> dict[tuple[str, Any], Any]:
    """Every document of every collection that does not belong to 青岛's subtree."""
    out: dict[tuple[str, Any], Any] = {}
    for name in await deps.db.list_collection_names():
        if name in IGNORED:
            continue
        async for doc in deps.db[name].find({}):
            path = doc.get("org_path")
            org = doc.get("org") or str(doc["_id"]).split(":")[0]
            if (isinstance(path, list) and CITY_B in path) or org in qd_codes:
                continue
            out[(name, doc["_id"])] = doc
    return out


async def test_no_body_reaches_outside_the_editors_subtree(deps: Deps, client: Client, make_editor: MakeEditor) -> None:
    foreign = await make_items(deps, CITY_A, "济南")
    province = await make_items(deps, "370000", "省")
    own = await make_items(deps, CITY_B, "青岛")
    await make_editor("jinan_editor", org=CITY_A, role="editor")
    qd = await client("qd_admin", org=CITY_B, role="admin", fresh=True)
    await make_editor("qd_editor", org=CITY_B, role="editor")
    qd_codes = {d["_id"] async for d in deps.db.orgs.find({"path": CITY_B}, {"_id": 1})}
    before = await outside(deps, qd_codes)
    assert ("bot_content", "370000:kw:vote") in before and ("polls", foreign["poll"]) in before

    ids = [*own.values(), "qd_editor", *foreign.values(), *province.values(), "jinan_editor", "370000:kw:vote"]
    sent = 0
    statuses: dict[int, int] = {}
    by_area = bodies(foreign)
    for pattern, handler in console_rules(deps):
        if not pattern.startswith("/api/admin") or getattr(handler, "streams_body", False):
            continue
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            if not implemented(handler, method):
                continue
            for path in paths(pattern, ids):
                area = pattern.removeprefix("/api/admin/").split("/")[0]
                every = [b for group in by_area.values() for b in group]
                for body in by_area.get(area, every) if method != "DELETE" else [None]:
                    key = {"Idempotency-Key": f"key{sent:08d}"} if sent % 2 else {}  # with and without
                    resp = await qd.api(method, path, body, headers=key)
                    sent += 1
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    assert resp.status < 500, (method, path, body, resp.status, resp.text[:300])
    assert sent > 150 and statuses.get(200, 0) + statuses.get(201, 0) > 20, statuses

    after = await outside(deps, qd_codes)
    changed = [k for k in before if k in after and after[k] != before[k]]
    assert not changed, [(k, before[k], after[k]) for k in changed[:3]]
    assert not [k for k in before if k not in after], "documents outside 青岛 were deleted"
    assert not [k for k in after if k not in before], [after[k] for k in after if k not in before][:3]


async def test_preview_only_reaches_followers_inside_the_subtree(deps: Deps, client: Client, fake_wechat: Any) -> None:
    """A 青岛 editor previews to 青岛 followers only; no org = the province's; unfollowed = nobody's."""
    from tests.console.test_pushes import add_followers

    (qd_follower,) = await add_followers(deps, fake_wechat, CITY_B, 1, "o_qd_pre")
    (jn_follower,) = await add_followers(deps, fake_wechat, CITY_A, 1, "o_jn_pre")
    fake_wechat.state.add_followers(["o_no_org_1", "o_gone_qd1"])
    await deps.db.followers.insert_many(
        [{"_id": "o_no_org_1", "subscribed": True}, {"_id": "o_gone_qd1", "subscribed": False, "org_path": ["370200"]}]
    )
    own = await make_items(deps, CITY_B, "青岛")
    qd = await client("qd_previewer", org=CITY_B, role="editor")
    path = f"/api/admin/pushes/{own['push']}/preview"
    for openid in (jn_follower, "o_no_org_1", "o_gone_qd1", "o_unknown_1"):
        resp = await qd.api("POST", path, {"openid": openid})
        assert resp.status == 400 and resp.json["code"] == "preview_target", (openid, resp.text)
        assert "本单位及下级单位的关注者" in resp.json["message"]
    assert fake_wechat.state.delivered_count("custom") == 0
    assert (await qd.api("POST", path, {"openid": qd_follower})).status == 200
    province = await client("prov_previewer", org="370000", role="editor")
    assert (await province.api("POST", path, {"openid": "o_no_org_1"})).status == 200
    assert fake_wechat.state.delivered_count("custom") == 2


async def test_links_that_run_script_are_refused_everywhere(deps: Deps, client: Client) -> None:
    """javascript: (and data:) links: news replies, customer-service news pushes, view menu buttons."""
    c = await client("link_editor", org=CITY_B, role="editor")
    push = base_bodies()["pushes"]
    for url in ("javascript:alert(document.cookie)", " JavaScript:alert(1)", "data:text/html,<script>x</script>"):
        article = {"title": "通知", "url": url}
        reply = {"kind": "welcome", "reply": {"type": "news", "articles": [article]}}
        resp = await c.api("POST", "/api/admin/replies", reply)
        assert resp.status == 400 and "http" in resp.json["message"], resp.text
        reply = {"kind": "welcome", "reply": {"type": "news", "articles": [{"title": "通知", "pic_url": url}]}}
        assert (await c.api("POST", "/api/admin/replies", reply)).status == 400
        news = {**push, "content": {"msgtype": "news", "title": "通知", "url": url}}
        resp = await c.api("POST", "/api/admin/pushes", news)
        assert resp.status == 400 and "http" in resp.json["message"], resp.text
        menu = {"button": [{"type": "view", "name": "官网", "url": url}]}
        resp = await c.api("PUT", "/api/admin/menu", menu)
        assert resp.status == 400 and "http" in resp.text, resp.text
    assert await deps.db.bot_content.count_documents({"org": CITY_B}) == 0
    assert await deps.db.pushes.count_documents({"org": CITY_B}) == 0
