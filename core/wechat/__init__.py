"""The only code that calls WeChat's HTTP API (official account and mini-program)."""

from core.wechat.client import WeChatClient
from core.wechat.errors import WeChatError, WeChatTransportError

__all__ = ["WeChatClient", "WeChatError", "WeChatTransportError"]
