"""The official account answers 抽奖 and 生日 with the mini-program page (editable seeded rules)."""

from __future__ import annotations

from tools.fake_wechat import WeChatSimulator


async def test_lottery_and_birthday_keywords_link_to_the_mini_program(sim: WeChatSimulator) -> None:
    lottery = await sim.send_text("o_lot_1", "我想抽奖")
    assert lottery.reply is not None and "pages/lottery/index" in lottery.reply["Content"]
    birthday = await sim.send_text("o_lot_1", "生日蛋糕怎么领")
    assert birthday.reply is not None and "pages/birthday/index" in birthday.reply["Content"]
