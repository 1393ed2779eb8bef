"""Automatic replies and menus through the console: scope, validation, audit, WeChat calls on the fake."""

from __future__ import annotations

import asyncio
from typing import Any

from core.deps import Deps
from tests.console.conftest import CITY_A, CITY_B, Client, audit_count


async def test_keyword_rule_create_edit_delete_with_audit(client: Client, deps: Deps) -> None:
    c = await client("jn_editor", org=CITY_A, role="editor")
    page = await c.get("/admin/replies/new?kind=keyword")
    assert page.status == 200
    form = {
        "name": "健步走",
        "patterns": "健步走\n走路",
        "match": "contains",
        "priority": "50",
        "reply_type": "text",
        "text": "{{ org_name }}健步走活动报名中",
        "enabled": "1",
        "form_key": "abcdefgh1234",
    }
    assert (await c.post("/admin/replies/new?kind=keyword", form)).status == 303
    assert (await c.post("/admin/replies/new?kind=keyword", form)).status == 303  # a double submit
    docs = await deps.db.bot_content.find({"org": CITY_A, "kind": "keyword"}).to_list()
    assert len(docs) == 1 and docs[0]["patterns"] == ["健步走", "走路"] and docs[0]["updated_by"] == "jn_editor"
    doc_id = docs[0]["_id"]
    listing = await c.get("/admin/replies")
    assert "健步走" in listing.text
    edit = await c.post(f"/admin/replies/{doc_id}", {**form, "priority": "60"})
    assert edit.status == 303
    entry = await deps.db.audit_log.find_one({"action": "reply.update", "target_id": doc_id, "after.priority": 60})
    assert entry["before"]["priority"] == 50 and entry["after"]["priority"] == 60
    assert (await c.post(f"/admin/replies/{doc_id}", {"action": "delete"})).status == 303
    assert await deps.db.bot_content.count_documents({"_id": doc_id}) == 0
    assert await deps.db.audit_log.count_documents({"action": "reply.delete", "target_id": doc_id}) == 1


async def test_reply_errors_come_back_next_to_the_form(client: Client, deps: Deps) -> None:
    c = await client("jn_editor2", org=CITY_A, role="editor")
    bad = {"name": "坏规则", "patterns": r"(a)\1", "match": "regex", "priority": "1", "reply_type": "text", "text": "x"}
    resp = await c.post("/admin/replies/new?kind=keyword", bad)
    assert resp.status == 400 and "不支持的写法" in resp.text and 'value="坏规则"' in resp.text
    resp = await c.post("/admin/replies/new?kind=keyword", {**bad, "patterns": "好", "match": "exact", "text": "{{ x"})
    assert resp.status == 400 and "语法错误" in resp.text
    resp = await c.post("/admin/replies/new?kind=click", {"key": "bad key!", "reply_type": "text", "text": "x"})
    assert resp.status == 400 and 'data-error-for="key"' in resp.text
    assert await deps.db.bot_content.count_documents({"org": CITY_A}) == 0


async def test_welcome_and_concurrent_edit_conflict(client: Client, deps: Deps) -> None:
    c = await client("jn_editor3", org=CITY_A, role="editor")
    resp = await c.post("/admin/replies/welcome", {"reply_type": "text", "text": "欢迎关注济南工会", "enabled": "1"})
    assert resp.status == 303
    doc = await deps.db.bot_content.find_one({"_id": f"{CITY_A}:welcome"})
    assert doc["reply"]["text"] == "欢迎关注济南工会"
    api = await c.api("GET", f"/api/admin/replies/{CITY_A}:welcome")
    stale = "2000-01-01T00:00:00+08:00"
    resp = await c.api(
        "PUT",
        f"/api/admin/replies/{CITY_A}:welcome",
        {**{k: api.json[k] for k in ("reply", "enabled")}, "version": stale},
    )
    assert resp.status == 409 and resp.json["code"] == "edit_conflict"


async def test_city_editor_cannot_touch_other_cities_or_the_province(client: Client, deps: Deps) -> None:
    c = await client("jn_editor4", org=CITY_A, role="editor")
    qd = await client("qd_editor", org=CITY_B, role="editor")
    assert (await qd.post("/admin/replies/welcome", {"reply_type": "text", "text": "青岛欢迎你"})).status == 303
    before = await audit_count(deps)
    targets = [f"{CITY_B}:welcome", "370000:welcome", "370000:kw:vote"]
    seeded = await deps.db.bot_content.find_one({"org": "370000", "kind": "keyword"})
    targets.append(seeded["_id"])
    for doc_id in targets:
        assert (await c.get(f"/admin/replies/{doc_id}")).status == 404
        assert (await c.post(f"/admin/replies/{doc_id}", {"reply_type": "text", "text": "改掉"})).status == 404
        assert (await c.post(f"/admin/replies/{doc_id}", {"action": "delete"})).status == 404
        assert (await c.api("GET", f"/api/admin/replies/{doc_id}")).status == 404
        assert (
            await c.api("PUT", f"/api/admin/replies/{doc_id}", {"reply": {"type": "text", "text": "x"}})
        ).status == 404
        assert (await c.api("DELETE", f"/api/admin/replies/{doc_id}")).status == 404
    listing = await c.api("GET", "/api/admin/replies")
    assert all(d["org"] == CITY_A for d in listing.json["items"])
    assert "青岛欢迎你" not in (await c.get("/admin/replies")).text
    # switching to another city's org is refused, and the working org stays
    resp = await c.post("/admin/org", {"org": CITY_B, "next": "/admin/replies"})
    assert resp.status == 403
    assert (await deps.db.bot_content.find_one({"_id": f"{CITY_B}:welcome"}))["reply"]["text"] == "青岛欢迎你"
    assert await audit_count(deps) == before


def _menu_form(buttons: list[tuple[str, str, str, list[tuple[str, str, str]]]]) -> dict[str, str]:
    form: dict[str, str] = {}
    for i, (name, kind, value, subs) in enumerate(buttons, 1):
        form |= {f"b{i}_name": name, f"b{i}_type": kind, f"b{i}_value": value}
        for j, (sn, sk, sv) in enumerate(subs, 1):
            form |= {f"b{i}_s{j}_name": sn, f"b{i}_s{j}_type": sk, f"b{i}_s{j}_value": sv}
    return form


async def test_menu_validation_in_chinese_next_to_the_slot(client: Client, fake_wechat: Any) -> None:
    c = await client("prov_menu")
    subs = [(f"子{j}", "click", f"K{j}") for j in range(1, 6)]
    bad = _menu_form(
        [("这个名字太长了", "click", "MENU_VOTE", []), ("活动", "", "", subs), ("网页", "view", "ftp://x", [])]
    )
    resp = await c.post("/admin/menu", {**bad, "action": "publish"})
    assert resp.status == 400
    assert 'data-error-for="b1_name"' in resp.text and "最多 4 个汉字" in resp.text
    assert 'data-error-for="b3_value"' in resp.text and "http://" in resp.text
    assert 'value="这个名字太长了"' in resp.text  # the form keeps what was typed
    no_type = _menu_form([("投票", "", "MENU_VOTE", [])])
    resp = await c.api("PUT", "/api/admin/menu", {"button": [{"name": "投票"}]})
    assert resp.status == 400 and resp.json["code"] == "invalid_menu" and "b1_type" in resp.json["errors"]
    resp = await c.post("/admin/menu", {**no_type, "action": "save"})
    assert resp.status == 400 and 'data-error-for="b1_type"' in resp.text
    assert fake_wechat.state.count("cgi-bin/menu/create") == 0


async def test_province_publishes_default_then_city_conditional_with_tagging(
    client: Client, deps: Deps, fake_wechat: Any
) -> None:
    state = fake_wechat.state
    openids = [f"o_jinan_{i:03d}" for i in range(120)]
    state.add_followers([*openids, "o_qingdao_1"])
    await deps.db.followers.insert_many(
        [{"_id": o, "subscribed": True, "org": CITY_A, "org_path": ["370000", CITY_A], "tags": []} for o in openids]
        + [{"_id": "o_qingdao_1", "subscribed": True, "org": CITY_B, "org_path": ["370000", CITY_B], "tags": []}]
    )
    jinan = await client("jn_menu", org=CITY_A, role="editor")
    city_menu = _menu_form(
        [
            (
                "济南服务",
                "",
                "",
                [("健步走", "view", "https://gh.jinan.example/walk"), ("小程序", "miniprogram", "pages/index/index")],
            )
        ]
    )
    early = await jinan.post("/admin/menu", {**city_menu, "action": "publish"})
    assert early.status == 400 and "默认菜单" in early.text  # 65303: the province has not published yet
    province = await client("prov_menu2")
    assert (await province.get("/admin/menu")).status == 200
    resp = await province.post("/admin/menu", {**_menu_form([("投票", "click", "MENU_VOTE", [])]), "action": "publish"})
    assert resp.status == 303, resp.text
    assert state.menus["wxdemo0000000oa"]["button"] == [{"name": "投票", "type": "click", "key": "MENU_VOTE"}]
    resp = await jinan.post("/admin/menu", {**city_menu, "action": "publish"})
    assert resp.status == 303, resp.text
    conditional = state.menus["wxdemo0000000oa"]["conditional"]
    assert len(conditional) == 1
    tag_id = int(conditional[0]["matchrule"]["tag_id"])
    assert state.tags[tag_id] == "济南市总工会关注者"
    sub = conditional[0]["button"][0]["sub_button"][1]
    assert sub["type"] == "miniprogram" and sub["pagepath"] == "pages/index/index" and sub["appid"]
    for _ in range(100):
        doc = await deps.db.menus.find_one({"_id": CITY_A})
        if doc["tagging"]["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert doc["tagging"]["tagged"] == 120 and doc["tagging"]["failed"] == 0
    assert all(tag_id in state.followers.tags_of(o) for o in openids)
    assert tag_id not in state.followers.tags_of("o_qingdao_1")
    assert await deps.db.followers.count_documents({"tags": tag_id}) == 120
    # a follower who binds later is tagged by "重新打标签"
    state.add_followers(["o_jinan_late"])
    await deps.db.followers.insert_one(
        {"_id": "o_jinan_late", "subscribed": True, "org": CITY_A, "org_path": ["370000", CITY_A], "tags": []}
    )
    assert (await jinan.post("/admin/menu", {"action": "retag"})).status == 303
    for _ in range(100):
        if tag_id in state.followers.tags_of("o_jinan_late"):
            break
        await asyncio.sleep(0.05)
    assert tag_id in state.followers.tags_of("o_jinan_late")
    # publishing again replaces the city's conditional menu instead of adding a second one
    assert (await jinan.post("/admin/menu", {**city_menu, "action": "publish"})).status == 303
    assert len(state.menus["wxdemo0000000oa"]["conditional"]) == 1
    entries = await deps.db.audit_log.find({"action": "menu.publish"}).to_list()
    assert {e["org"] for e in entries} == {"370000", CITY_A}
    # a city editor can neither see nor publish the province's menu (their page is their own city's)
    api = await jinan.api("GET", "/api/admin/menu")
    assert api.json["org"] == CITY_A and api.json["kind"] == "conditional"
    county = await client("county_menu", org="370102", role="editor")
    resp = await county.post("/admin/menu", {**city_menu, "action": "save"})
    assert resp.status == 400 and "市总工会" in resp.text
