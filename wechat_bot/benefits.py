"""抢券 / 优惠券: the bot answers with the mini-program's coupons page (after editors' keyword rules,
so an org that wrote its own answer for these words keeps it)."""

from __future__ import annotations

from html import escape

from services.replies.compile import normalize
from wechat_bot.context import Ctx
from wechat_bot.message import Message, Reply, Text

COUPON_WORDS = ("抢券", "优惠券", "领券", "消费券")
COUPONS_PAGE = "pages/coupons/index"


def coupons_link(msg: Message, ctx: Ctx) -> Reply | None:
    text = normalize(msg.content)
    if not any(w in text for w in COUPON_WORDS):
        return None
    s = ctx.deps.settings
    link = (f'<a href="{escape(s.server.public_url)}" data-miniprogram-appid="{escape(s.miniprogram.app_id)}" '
            f'data-miniprogram-path="{COUPONS_PAGE}">点此进入抢券</a>')  # fmt: skip
    return Text(
        f"工会优惠券在“齐鲁工惠”小程序里按时段开抢：{link}\n"
        "每位会员每批限领 1 张，先抢本单位份额，再抢公共池；首次使用请先完成会员绑定。"
        "领到的券在「我的权益」中出示券码，到指定商户核销。"
    )
