"""The official account answers 学习 / 在线学习 / 书屋 / 借书 with the mini-program's pages."""

from __future__ import annotations

from tools.fake_wechat import WeChatSimulator


async def test_learning_and_library_keywords_link_to_their_pages(sim: WeChatSimulator) -> None:
    for word, page in (("学习", "pages/learning/index"), ("我想在线学习", "pages/learning/index"),
                       ("书屋", "pages/library/index"), ("怎么借书", "pages/library/index")):  # fmt: skip
        r = await sim.send(sim.text("o_bot_reader", word))
        assert r.status == 200 and r.reply is not None, r.errors
        assert f'data-miniprogram-path="{page}"' in r.reply["Content"], (word, r.reply)
