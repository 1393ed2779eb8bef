"""Editors read content as workers will: replies rendered (mini-program links as their label),
menu keys as the buttons' names, sign-ups with member names or 未绑定会员 and org names, and a
push preview target found by name or member number."""

from __future__ import annotations

import csv
import io
from typing import Any

from core.deps import Deps
from services.activities import signups
from services.members.roster import import_roster
from services.members.sessions import CurrentUser
from tests.console.conftest import CITY_A, Client
from tests.console.test_replies_menu import _menu_form
from tests.mp.conftest import MpClient, mp  # noqa: F401 - fixture
from tests.mp.roster_files import HEADER, csv_bytes
from tests.mp_activities.conftest import FORM
from tests.mp_activities.test_checkin import make, soon

TEMPLATE = "{{ org_name }}的投票在这里：{{ mp_link('pages/votes/index', '参与投票') }}，热线 {{ hotline }}"
SHOWN = "济南市总工会的投票在这里：【参与投票】，热线 12351"


async def test_reply_and_menu_lists_show_what_workers_read(client: Client, deps: Deps, fake_wechat: Any) -> None:
    c = await client("jn_readable", org=CITY_A, role="editor")
    form = {"key": "MENU_VOTE", "reply_type": "text", "text": TEMPLATE, "enabled": "1", "form_key": "readable0001"}
    assert (await c.post("/admin/replies/new?kind=click", form)).status == 303
    menu = _menu_form([("活动", "", "", [("本市投票", "click", "MENU_VOTE"), ("没回复", "click", "MENU_NONE")])])
    assert (await c.post("/admin/menu", {**menu, "action": "save"})).status == 303

    listing = await c.get("/admin/replies")
    assert SHOWN in listing.text and "mp_link" not in listing.text and "{{" not in listing.text
    assert "<b data-button>本市投票</b>" in listing.text  # the button's name, the key only beside it
    api = await c.api("GET", "/api/admin/replies")
    vote = next(d for d in api.json["items"] if d.get("key") == "MENU_VOTE")
    assert vote["shown"] == SHOWN and vote["button"] == "本市投票"

    page = await c.get("/admin/menu")
    assert 'data-click="MENU_VOTE"' in page.text and SHOWN in page.text
    assert "没有设置回复" in page.text  # MENU_NONE answers nothing: the editor sees it before publishing


async def test_signup_lists_show_names_or_unbound_and_org_names(client: Client, deps: Deps) -> None:
    aid = await make(deps, {**soon(capacity=5), "org": "370000"})  # province-wide: workers without membership too
    await deps.db.members.insert_one(
        {"_id": "JN0001", "name": "张三", "phone": "13800138000", "org": CITY_A, "org_path": ["370000", CITY_A]}
    )
    path = ("370000", CITY_A)
    bound = CurrentUser(openid="o_su_bound", member_id="JN0001", org=CITY_A, org_path=path)
    await signups.sign_up(deps, bound, aid, "s1", FORM)
    await signups.sign_up(deps, CurrentUser(openid="o_su_guest"), aid, "s1", FORM)
    c = await client("prov_signups", role="viewer")
    page = await c.get(f"/admin/activities/{aid}")
    assert "张三" in page.text and "未绑定会员" in page.text and "济南市总工会" in page.text
    export = await c.get(f"/admin/activities/{aid}/signups.csv")
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    names, orgs = rows[0].index("姓名"), rows[0].index("所属工会")
    assert [(r[names], r[orgs]) for r in rows[1:]] == [("张三", "济南市总工会"), ("未绑定会员", "")]


async def test_push_preview_target_found_by_name_or_member_number(
    client: Client,
    deps: Deps,
    mp: MpClient,  # noqa: F811 - the fixture
) -> None:
    rows = [HEADER, ["JN0001", "张三", "13800138000", ""], ["JN0002", "张三丰", "13800138002", ""]]
    assert (await import_roster(deps, CITY_A, csv_bytes(rows), "r.csv")).ok
    assert (await import_roster(deps, "370200", csv_bytes([HEADER, ["QD0001", "张三", "13700137000", ""]]), "r.csv")).ok
    for openid, no, unionid in (("zs", "JN0001", "u_zs"), ("zsf", "JN0002", "u_zsf"), ("qd", "QD0001", "u_qd")):
        subscribed = openid != "zsf"  # 张三丰 unfollowed the account: a preview cannot reach him
        await deps.db.followers.insert_one({"_id": f"o_oa_{openid}", "subscribed": subscribed, "unionid": unionid})
        token = await mp.login(f"o_mp_{openid}", unionid=unionid)
        status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": "张三" if openid != "zsf" else "张三丰",
                                                                   "member_no": no}, token)  # fmt: skip
        assert status == 200
    c = await client("jn_pusher", org=CITY_A, role="editor")
    found = (await c.api("GET", "/api/admin/followers/search?q=张三")).json["items"]
    assert found == [
        {"openid": "o_oa_zs", "name": "张三", "member_no": "JN0001", "org": CITY_A, "org_name": "济南市总工会"}
    ]  # fmt: skip  (not 青岛's 张三, not the unfollowed one)
    assert [t["openid"] for t in (await c.api("GET", "/api/admin/followers/search?q=jn0001")).json["items"]] == [
        "o_oa_zs"
    ]
    assert (await c.api("GET", "/api/admin/followers/search?q=")).json["items"] == []
