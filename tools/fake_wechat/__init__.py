"""A fake WeChat platform for tests, benchmarks and the demo (WeChat itself is unreachable here).

- `FakeWeChat`: in-memory state and WeChat's rules (tokens, quotas, followers, deliveries...).
- `start_fake_wechat()`: serves it over real loopback HTTP with WeChat's API paths + `/_fake/`.
- `WeChatSimulator`: plays WeChat's side of the message callback (signed, optionally encrypted).
"""

from typing import Any

from .server import FakeWeChatServer, start_fake_wechat
from .state import FakeWeChat

__all__ = ["FakeWeChat", "FakeWeChatServer", "ReplyError", "SimResult", "WeChatSimulator", "start_fake_wechat"]


def __getattr__(name: str) -> Any:
    # Imported lazily so `python -m tools.fake_wechat.sim_cli` does not import the server.
    if name in ("WeChatSimulator", "SimResult", "ReplyError"):
        from . import simulator

        return getattr(simulator, name)
    raise AttributeError(name)
