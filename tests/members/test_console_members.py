"""Members in the console: list and search (phones masked), edit, unbind (the worker binds again),
transfer within the editor's subtree carrying the mini-program user, their sessions and their
follower along; every change audited. Through the real app, mini-program API and databases."""

from __future__ import annotations

from core.deps import Deps
from services.editors import accounts
from services.editors.scope import Scope
from services.members import admin as members_admin
from services.members.roster import import_roster
from tests.console.conftest import CITY_A, CITY_B, Client, ConsoleClient
from tests.console.test_roster_qrcodes import upload
from tests.mp.conftest import MpClient
from tests.mp.roster_files import HEADER, csv_bytes

COUNTY = "370102"  # 历下区, under 济南


async def _roster(deps: Deps) -> None:
    rows = [HEADER, ["JN0001", "张三", "13800138000", ""], ["JN0002", "张小三", "13900139000", COUNTY],
            ["JN0003", "李四", "", ""]]  # fmt: skip
    assert (await import_roster(deps, CITY_A, csv_bytes(rows), "r.csv")).ok
    assert (await import_roster(deps, CITY_B, csv_bytes([HEADER, ["QD0001", "张青", "13700137000", ""]]), "r.csv")).ok


async def _ids(c: ConsoleClient, q: str) -> list[str]:
    resp = await c.api("GET", f"/api/admin/members?q={q}")
    assert resp.status == 200, resp.text
    return [m["member_no"] for m in resp.json["items"]]


async def test_search_by_name_number_or_phone_within_the_subtree(client: Client, deps: Deps) -> None:
    await _roster(deps)
    c = await client("jn_members", org=CITY_A, role="editor")
    listed = (await c.api("GET", "/api/admin/members")).json
    assert [m["member_no"] for m in listed["items"]] == ["JN0001", "JN0002", "JN0003"]  # not 青岛's
    assert listed["items"][0]["phone"] == "138****8000" and listed["next_cursor"] is None
    assert await _ids(c, "张") == ["JN0001", "JN0002"]
    assert await _ids(c, "jn0002") == ["JN0002"]
    assert await _ids(c, "138 0013 8000") == ["JN0001"]
    assert await _ids(c, "张青") == []  # another city's member does not exist here
    assert (await c.api("GET", "/api/admin/members/QD0001")).status == 404
    assert (await c.api("GET", "/api/admin/members/JN0001")).json["phone"] == "13800138000"
    viewer = await client("jn_members_v", org=CITY_A, role="viewer")
    assert (await viewer.api("GET", "/api/admin/members/JN0001")).json["phone"] == "138****8000"
    assert await _ids(c, "%5E%28%3F%3A") == []  # "^(?:": the text is matched literally, not as a pattern
    page = await c.get("/admin/members?q=张三")
    assert page.status == 200 and 'data-member="JN0001"' in page.text and "138****8000" in page.text
    # paging: the cursor carries on where the page ended, nothing twice, nothing skipped
    scope = Scope(accounts.from_doc(await deps.db.editors.find_one({"_id": "jn_members"})), CITY_A)
    first = await members_admin.list_members(deps, scope, limit=2)
    second = await members_admin.list_members(deps, scope, cursor=first.next_cursor, limit=2)
    assert [r.member_no for r in first.rows + second.rows] == ["JN0001", "JN0002", "JN0003"]
    assert second.next_cursor == ""


async def test_edit_unbind_and_transfer_follow_the_person(client: Client, deps: Deps, mp: MpClient) -> None:
    await _roster(deps)
    await deps.db.followers.insert_one({"_id": "o_oa_zhang", "subscribed": True, "unionid": "u_zhang", "tags": []})
    token = await mp.login("o_mp_zhang", unionid="u_zhang")
    status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "phone": "13800138000"}, token)
    assert status == 200
    c = await client("jn_admin", org=CITY_A, role="editor")

    # edit: a wrong phone is refused in Chinese, a right one saved and audited (masked)
    bad = await c.api("PATCH", "/api/admin/members/JN0001", {"name": "张三", "phone": "123"})
    assert bad.status == 400 and "11 位手机号" in bad.json["message"]
    ok = await c.api("PATCH", "/api/admin/members/JN0001", {"name": "张 三", "phone": "13800138001"})
    assert ok.status == 200 and ok.json["name"] == "张三" and ok.json["phone"] == "13800138001"
    entry = await deps.db.audit_log.find_one({"action": "member.update"})
    assert entry["before"]["phone"] == "138****8000" and entry["after"]["phone"] == "138****8001"

    # transfer: out of the editor's subtree is refused; inside it, the user, their session and follower move
    assert (await c.api("POST", "/api/admin/members/JN0001/transfer", {"org": CITY_B})).status == 404
    moved = await c.api("POST", "/api/admin/members/JN0001/transfer", {"org": COUNTY})
    assert moved.status == 200 and moved.json["org"] == COUNTY
    assert (await deps.db.mini_users.find_one({"_id": "o_mp_zhang"}))["org"] == COUNTY
    status, me = await mp.call("GET", "/api/mp/me", token=token)
    assert status == 200 and me["org"]["code"] == COUNTY
    follower = await deps.db.followers.find_one({"_id": "o_oa_zhang"})
    assert follower["org"] == COUNTY and follower["org_path"] == ["370000", CITY_A, COUNTY]
    entry = await deps.db.audit_log.find_one({"action": "member.transfer"})
    assert entry["before"]["org"] == CITY_A and entry["after"]["org"] == COUNTY and "历下区" in entry["summary"]

    # unbind: the worker is unbound at once (live session too) and may bind again
    other = await client("qd_admin", org=CITY_B, role="editor")
    assert (await other.api("POST", "/api/admin/members/JN0001/unbind")).status == 404
    resp = await c.api("POST", "/api/admin/members/JN0001/unbind")
    assert resp.status == 200 and resp.json == {"bound": False}
    status, me = await mp.call("GET", "/api/mp/me", token=token)
    assert me["bound"] is False
    again = await c.api("POST", "/api/admin/members/JN0001/unbind")
    assert again.status == 400 and "尚未绑定" in again.json["message"]
    status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": "张三", "phone": "13800138001"}, token)
    assert status == 200
    assert await deps.db.audit_log.count_documents({"action": "member.unbind", "target_id": "JN0001"}) == 1
    viewer = await client("jn_viewer", org=CITY_A, role="viewer")
    assert (await viewer.api("POST", "/api/admin/members/JN0001/unbind")).status == 403


async def test_the_import_report_lists_what_changed(client: Client, deps: Deps) -> None:
    await _roster(deps)
    c = await client("jn_importer", org=CITY_A, role="editor")
    rows = [HEADER, ["JN0001", "张三", "13800138009", ""], ["JN0002", "张小三", "13900139000", COUNTY],
            ["JN0004", "王五", "", ""]]  # fmt: skip
    dry = await upload(c, "/api/admin/members/import", "r.csv", csv_bytes(rows), dry_run="1")
    assert dry.json["change_count"] == 2  # a dry run shows what would change
    assert (await deps.db.members.find_one({"_id": "JN0001"}))["phone"] == "13800138000"
    resp = await upload(c, "/admin/members/import", "r.csv", csv_bytes(rows))
    assert resp.status == 303
    page = await c.get(resp.location)
    assert 'data-change="JN0004" data-kind="inserted"' in page.text
    assert 'data-change="JN0001" data-kind="updated"' in page.text and "138****8000 → 138****8009" in page.text
    assert 'data-change="JN0002"' not in page.text  # unchanged rows are not listed
    moved = await upload(c, "/api/admin/members/import", "r.csv", csv_bytes([HEADER, ["JN0003", "李四", "", COUNTY]]))
    assert moved.json["changes"] == [
        {"member_no": "JN0003", "kind": "updated", "name": "李四",
         "fields": [{"field": "工会", "before": "济南市总工会", "after": "历下区总工会"}]}
    ]  # fmt: skip
