"""getuserriskrank through the gateway against the fake platform: ranks, and WeChat's errcodes for bad calls."""

from __future__ import annotations

from typing import Any

import pytest

from core.deps import Deps
from core.wechat import WeChatError


async def test_the_fake_answers_ranks_and_refuses_bad_calls_like_wechat(deps: Deps, fake_wechat: Any) -> None:
    fake_wechat.state.risk_ranks["oRisky0001"] = 4
    assert await deps.mp.user_risk_rank("oRisky0001", "10.0.0.1") == 4
    assert await deps.mp.user_risk_rank("oPlain0001", "10.0.0.1", scene=0) == 0
    with pytest.raises(WeChatError) as bad_scene:
        await deps.mp.user_risk_rank("oPlain0001", "10.0.0.1", scene=7)
    assert bad_scene.value.errcode == 47001
    with pytest.raises(WeChatError) as bad_openid:
        await deps.mp.user_risk_rank("not an openid!", "10.0.0.1")
    assert bad_openid.value.errcode == 40003
    with pytest.raises(WeChatError) as other_app:
        await deps.mp.client.post("wxa/getuserriskrank", {"appid": "wxsomeoneelse", "openid": "oPlain0001", "scene": 1,
                                                          "client_ip": "10.0.0.1"})  # fmt: skip
    assert other_app.value.errcode == 40013
    assert fake_wechat.state.count("wxa/getuserriskrank") == 5
