"""A template push bigger than the daily template quota: the composer says how long it would take
and proposes mass send (群发), on the push page and in the estimate API."""

from __future__ import annotations

from typing import Any

import pytest

from core.deps import Deps
from tests.console.conftest import CITY_A, Client
from tests.console.test_pushes import add_followers, compose, post_multipart


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"pushes.template_daily_quota": 20}


async def test_a_template_audience_over_the_quota_is_steered_to_mass_send(
    client: Client, deps: Deps, fake_wechat: Any
) -> None:
    await add_followers(deps, fake_wechat, CITY_A, 45, "o_q_")
    c = await client("jn_quota", org=CITY_A, role="editor")
    resp = await post_multipart(c, "/admin/pushes/new", compose(form_key="pushquota001"))
    page_url = resp.location.removesuffix("#confirm")
    push_id = page_url.rsplit("/", 1)[1]

    estimate = (await c.api("GET", f"/api/admin/pushes/{push_id}/estimate")).json
    warning = estimate["quota_warning"]
    assert estimate["count"] == 45 and warning["days"] == 3 and warning["suggest_channel"] == "mass"
    assert "每天最多发送 20 条" in warning["text"] and "约 3 天" in warning["text"] and "群发" in warning["text"]
    page = await c.get(page_url)
    assert 'data-field="quota_warning"' in page.text and "改用群发图文" in page.text
    edit = await c.get(f"/admin/pushes/{push_id}/edit?channel=mass")
    assert edit.status == 200 and 'value="mass" data-switch="channel" checked' in edit.text

    small = await add_followers(deps, fake_wechat, "370200", 3, "o_q_qd_")  # another city: 3 people
    assert len(small) == 3
    c2 = await client("qd_quota", org="370200", role="editor")
    resp2 = await post_multipart(c2, "/admin/pushes/new", compose(form_key="pushquota002"))
    other = resp2.location.removesuffix("#confirm").rsplit("/", 1)[1]
    fits = (await c2.api("GET", f"/api/admin/pushes/{other}/estimate")).json
    assert fits["count"] == 3 and fits["quota_warning"] is None
