"""Org settings through the service: editors' rules, the per-(org, version) cache, the home."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient

from core.deps import Deps
from core.errors import BadInput, Forbidden
from services.editors.accounts import Editor
from services.editors.scope import Scope
from services.members.roster import import_roster
from services.settings import admin, effective
from tests.mp.conftest import MpClient
from tests.mp.roster_files import HEADER, csv_bytes
from tests.support.service import ServiceProcess

PROVINCE, QINGDAO, JINAN = "370000", "370200", "370100"


def scope(org: str, path: tuple[str, ...], role: str = "editor") -> Scope:
    return Scope(Editor("e_" + org, "编辑", role, org, path), org)


PROV = scope(PROVINCE, (PROVINCE,))
QD = scope(QINGDAO, (PROVINCE, QINGDAO))


async def test_a_city_customises_and_the_province_locks(deps: Deps) -> None:
    await admin.change(deps, QD, "brand.name_suffix", "·青岛行")
    await admin.change(deps, QD, "contact.hotline", "0532-12351")
    rows = {r.setting.key: r for r in await admin.rows(deps, QD)}
    assert rows["brand.name_suffix"].value == "·青岛行" and rows["brand.name_suffix"].source == "本级设置"
    assert rows["contact.hotline"].value == "0532-12351"
    assert rows["modules.votes"].source == "系统默认"
    # The province sets and locks the hotline: 青岛's own value no longer applies and cannot change.
    await admin.change(deps, PROV, "contact.hotline", "12351", locked=True)
    rows = {r.setting.key: r for r in await admin.rows(deps, QD)}
    assert rows["contact.hotline"].value == "12351"
    assert rows["contact.hotline"].source == "山东省总工会锁定" and not rows["contact.hotline"].editable
    with pytest.raises(Forbidden) as refused:
        await admin.change(deps, QD, "contact.hotline", "0532-8888")
    assert "锁定" in refused.value.message
    # Branding suffixes are for cities and counties, not the province; values are checked.
    with pytest.raises(Forbidden):
        await admin.change(deps, PROV, "brand.name_suffix", "·全省")
    with pytest.raises(BadInput):
        await admin.change(deps, QD, "brand.banner_url", "javascript:alert(1)")
    with pytest.raises(BadInput):
        await admin.change(deps, QD, "modules.votes", "yes")
    with pytest.raises(Forbidden):
        await admin.change(deps, scope(QINGDAO, (PROVINCE, QINGDAO), role="viewer"), "modules.votes", False)
    entries = await deps.db.audit_log.count_documents({"action": "settings.change"})
    assert entries == 3  # one per accepted change, none for the refused ones
    province_lock = await deps.db.audit_log.find_one({"action": "settings.change", "org_path": [PROVINCE]})
    assert province_lock["after"] == {"value": "12351", "locked": True}


async def test_no_two_orgs_ever_share_a_cache_entry(deps: Deps) -> None:
    await admin.change(deps, QD, "brand.name_suffix", "·青岛行")
    await admin.change(deps, scope(JINAN, (PROVINCE, JINAN)), "brand.name_suffix", "·泉城")
    paths = [(PROVINCE, QINGDAO), (PROVINCE, JINAN), (PROVINCE,)] * 30
    results = await asyncio.gather(*(effective.values_for_path(deps, p) for p in paths))
    for path, values in zip(paths, results, strict=True):
        expected = {QINGDAO: "·青岛行", JINAN: "·泉城", PROVINCE: ""}[path[-1]]
        assert values["brand.name_suffix"] == expected
    assert set(effective.cache(deps).entries) == {PROVINCE, QINGDAO, JINAN}


async def test_the_home_shows_the_citys_brand_modules_and_hotline(deps: Deps, mp: MpClient) -> None:
    assert (
        await import_roster(deps, QINGDAO, csv_bytes([HEADER, ["QD0009", "赵青", "13700137009", QINGDAO]]), "r.csv")
    ).ok
    token = await mp.login("o_home")
    status, before = await mp.call("GET", "/api/mp/home", token=token)
    assert status == 200 and before["org"] == PROVINCE and before["brand"]["name"] == "齐鲁工惠"
    assert before["member"] == {"bound": False, "bind_page": "pages/member/bind"}
    await mp.call("POST", "/api/mp/members/bind", {"name": "赵青", "phone": "13700137009"}, token)
    await admin.change(deps, QD, "brand.name_suffix", "·青岛行")
    await admin.change(deps, QD, "modules.lottery", False)
    status, home = await mp.call("GET", "/api/mp/home", token=token)
    assert home["org"] == QINGDAO and home["brand"]["name"] == "齐鲁工惠·青岛行"
    keys = [m["key"] for m in home["modules"]]
    assert "lottery" not in keys and "votes" in keys
    assert {s["module"] for s in home["on_now"]} == {
        "votes",
        "surveys",
        "activities",
        "coupons",
        "learning",
        "counselling",
        "consultation",
        "competitions",
    }
    status, _ = await mp.call("GET", "/api/mp/home")
    assert status == 401


async def test_a_change_on_one_instance_is_seen_by_another_within_a_second(
    deps: Deps, mp: MpClient, fake_wechat: Any, redis_url: str, mongo_url: str, tmp_path: Path
) -> None:
    assert (
        await import_roster(deps, QINGDAO, csv_bytes([HEADER, ["QD0010", "钱青", "13700137010", QINGDAO]]), "r.csv")
    ).ok
    s = deps.settings
    other = ServiceProcess(
        tmp_path, **{"redis.url": redis_url, "mongo.url": mongo_url, "mongo.db": s.mongo.db,
                     "wechat.api_base": fake_wechat.url, "miniprogram.api_base": fake_wechat.url,
                     "wechat.app_id": s.wechat.app_id, "wechat.app_secret": s.wechat.app_secret,
                     "miniprogram.app_id": s.miniprogram.app_id, "miniprogram.app_secret": s.miniprogram.app_secret},
    )  # fmt: skip
    await asyncio.to_thread(other.start)
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:

        async def call(method: str, path: str, body: Any = None, token: str = "") -> Any:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            resp = await client.fetch(other.url + path, method=method, headers=headers, raise_error=False,
                                      body=None if body is None else json.dumps(body))  # fmt: skip
            return json.loads(resp.body)

        login = await call("POST", "/api/mp/login", {"code": fake_wechat.state.mint_js_code("o_far")})
        token = login["token"]
        await call("POST", "/api/mp/members/bind", {"name": "钱青", "phone": "13700137010"}, token)
        assert (await call("GET", "/api/mp/home", token=token))["brand"]["name"] == "齐鲁工惠"  # cached there now
        await admin.change(deps, QD, "brand.name_suffix", "·青岛行")  # this process is the other instance
        changed_at = time.monotonic()
        while (await call("GET", "/api/mp/home", token=token))["brand"]["name"] != "齐鲁工惠·青岛行":
            assert time.monotonic() - changed_at < 3, "the change never reached the other instance"
            await asyncio.sleep(0.02)
        assert time.monotonic() - changed_at < 1.0
    finally:
        client.close()
        await asyncio.to_thread(other.terminate)
