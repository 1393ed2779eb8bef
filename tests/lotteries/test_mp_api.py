"""The mini-program's view over HTTP: enter and see my 抽签码, the verify data, an instant play, my birthday."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.birthdays import admin as birthday_admin
from services.birthdays import granting
from services.lotteries import admin
from services.members import roster
from tests.lotteries.conftest import draw_def, editor_scope
from tools import verify_draw

ROSTER = (
    "会员编号,姓名,手机号,工会编码,生日\nJN0001,张三,13800138000,370102,1990-12-09\nJN0002,李四,13900139000,370102,\n"
)


async def bound_token(deps: Deps, mp: Any, openid: str, name: str, phone: str) -> str:
    token: str = await mp.login(openid)
    status, _ = await mp.call("POST", "/api/mp/members/bind", {"name": name, "phone": phone}, token)
    assert status == 200
    return token


async def test_worker_enters_and_verifies_the_published_draw(deps: Deps, mp: Any) -> None:
    await roster.import_roster(deps, "370100", ROSTER.encode(), "r.csv")
    scope = editor_scope()
    lot = await admin.create(deps, scope, draw_def(tiers=[{"name": "一等奖", "title": "疗休养", "count": 1}]))
    guest = await mp.login("o-guest")
    status, body = await mp.call("POST", f"/api/mp/lotteries/{lot}/entries", None, guest)
    assert status == 404  # a city lottery is not visible to an unbound worker

    token = await bound_token(deps, mp, "o-zs", "张三", "13800138000")
    status, listed = await mp.call("GET", "/api/mp/lotteries?state=live", None, token)
    assert status == 200 and [i["id"] for i in listed["items"]] == [lot]
    status, entry = await mp.call("POST", f"/api/mp/lotteries/{lot}/entries", None, token)
    assert status == 201 and len(entry["code"]) == 10
    status, again = await mp.call("POST", f"/api/mp/lotteries/{lot}/entries", None, token)
    assert status == 200 and again["code"] == entry["code"]
    other = await bound_token(deps, mp, "o-ls", "李四", "13900139000")
    await mp.call("POST", f"/api/mp/lotteries/{lot}/entries", None, other)

    status, _ = await mp.call("GET", f"/api/mp/lotteries/{lot}/publication")
    assert status == 404  # nothing to recompute before the 公示
    await admin.close(deps, scope, lot, now=now() + timedelta(hours=2))
    await admin.run_draw(deps, scope, lot, beacon_value="07 12 25 31 33 + 09")
    await admin.publish(deps, scope, lot)

    status, listed = await mp.call("GET", "/api/mp/lotteries?state=live&limit=1", None, token)
    assert [i["state"] for i in listed["items"]] == ["publicized"] and listed["next_cursor"] is None
    status, mine = await mp.call("GET", f"/api/mp/lotteries/{lot}/entries/mine", None, token)
    assert status == 200 and mine["code"] == entry["code"] and mine["result"] in ("won", "lost") and mine["proof"]
    status, pub = await mp.call("GET", f"/api/mp/lotteries/{lot}/publication")
    assert status == 200 and verify_draw.verify(pub) == []
    status, detail = await mp.call("GET", f"/api/mp/lotteries/{lot}", None, token)
    assert detail["winners"] == pub["winners"] and detail["commitment"] == pub["commitment"]
    assert "JN0001" not in json.dumps(pub)  # only pseudonymous codes are published


async def test_instant_play_and_my_birthday(deps: Deps, mp: Any) -> None:
    await roster.import_roster(deps, "370100", ROSTER.encode(), "r.csv")
    lot = await admin.create(deps, editor_scope(), {
        "mode": "instant", "title": "即开", "ends_at": (now() + timedelta(hours=1)).isoformat(),
        "tiers": [{"name": "一等奖", "title": "水杯", "count": 5, "percent": 100}],
    })  # fmt: skip
    token = await bound_token(deps, mp, "o-zs", "张三", "13800138000")
    status, play = await mp.call("POST", f"/api/mp/lotteries/{lot}/plays", None, token)
    assert status == 200 and play["result"] == "won" and play["entitlement_id"] == f"lot:{lot}:JN0001"
    status, again = await mp.call("POST", f"/api/mp/lotteries/{lot}/plays", None, token)
    assert again["replayed"] and again["entitlement_id"] == play["entitlement_id"]
    guest = await mp.login("o-guest2")
    status, refused = await mp.call("GET", "/api/mp/birthday", None, guest)
    assert status == 200 and refused["bound"] is False and refused["birth_md"] == ""

    await birthday_admin.save_policy(deps, editor_scope(), {
        "enabled": True, "title": "生日蛋糕券", "value_cents": 6000, "budget_cents": 600000, "window_days": 30,
    })  # fmt: skip
    await granting.run_month(deps, now().year, 12)
    status, mine = await mp.call("GET", "/api/mp/birthday", None, token)
    assert status == 200 and mine["birth_md"] == "12-09" and mine["policy"]["title"] == "生日蛋糕券"
    assert mine["gift"]["entitlement_id"] == f"bday:{now().year}:JN0001"
