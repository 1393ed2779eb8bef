"""The official account: a worker typing 抢券 or 优惠券 gets the mini-program's coupons page."""

from __future__ import annotations

from tests.wechat_bot.conftest import SimFactory, make_sim  # noqa: F401 - the simulator fixture
from tests.wechat_bot.test_callback_kinds import text_of


async def test_coupon_words_answer_with_the_coupons_page(make_sim: SimFactory) -> None:  # noqa: F811
    sim = make_sim("safe", "xml")
    for words in ("抢券", "怎么领优惠券？", "ＱＱ抢 券"):
        reply = text_of(await sim.send(sim.text("o_cpn_bot_0001", words)))
        assert 'data-miniprogram-path="pages/coupons/index"' in reply and "每位会员每批限领 1 张" in reply
    assert "coupons" not in text_of(await sim.send(sim.text("o_cpn_bot_0001", "今天天气不错")))
