"""What a bot answer can be: small value objects, rendered by the callback (passive reply) or sent
later as a customer-service message. Editors' reply content (services.replies) compiles to them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Text:
    content: str


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    description: str = ""
    url: str = ""
    pic_url: str = ""


@dataclass(frozen=True, slots=True)
class News:
    articles: tuple[Article, ...]  # passive replies carry at most one article nowadays


@dataclass(frozen=True, slots=True)
class Image:
    media_id: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the conversation to a human agent (WeChat's customer-service system)."""

    kf_account: str = ""


@dataclass(frozen=True, slots=True)
class Ack:
    """Handled, nothing to say: WeChat gets "success"."""


ACK = Ack()
Reply = Text | News | Image | Transfer | Ack
REPLY_TYPES = frozenset({Text, News, Image, Transfer, Ack})  # `type(x) in` is cheaper than isinstance
