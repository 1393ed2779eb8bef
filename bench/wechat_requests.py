"""Pre-built WeChat callback requests for wrk: safe mode, XML, each a new message (MsgId, nonce).

Encrypted and signed with the fake WeChat's own crypto (tools/fake_wechat/crypto.py), which is
independent of the service's, so the benchmark also checks that the two agree.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

from tools.fake_wechat.crypto import MessageCrypto, sha1_signature
from tools.fake_wechat.messages import to_xml

FOLLOWERS = 1000  # messages come from this many distinct workers
TEXT = "投票"


def write_requests(path: Path, n: int, token: str, app_id: str, aes_key: str, series: int = 0) -> str:
    """Writes n requests; returns the text our service answers (WeRoBot is told to answer it too).

    Each `series` has its own message ids and nonces, so a warm-up or an earlier run never makes
    a later run's requests look like retries or replays (no Redis flush between runs).
    """
    crypto = MessageCrypto(token, aes_key, app_id)
    now = int(time.time())
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            openid = f"o_bench_{i % FOLLOWERS:06d}"
            msg = {"ToUserName": "gh_sdgh_demo", "FromUserName": openid, "CreateTime": now, "MsgType": "text",
                   "Content": TEXT, "MsgId": int(f"{now}{series:02d}{i:07d}")}  # fmt: skip
            encrypted = crypto.encrypt(to_xml(msg).encode())
            body = to_xml({"ToUserName": "gh_sdgh_demo", "Encrypt": encrypted})
            ts, nonce = str(now), f"{series:02d}{i:08d}"
            query = {"signature": sha1_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce,
                     "openid": openid, "encrypt_type": "aes",
                     "msg_signature": sha1_signature(token, ts, nonce, encrypted)}  # fmt: skip
            out.write(f"/wechat?{urlencode(query)}\t{body}\n")
    return reply_text()


def reply_text(mp_appid: str = "wxdemo0000000mp", public_url: str = "http://127.0.0.1:8080") -> str:
    """Our seeded answer to 投票, rendered as the service renders it."""
    from seed.bot_content import TEMPLATES
    from services.replies.compile import Globals, make_env

    source = (TEMPLATES / "vote.j2").read_text(encoding="utf-8").strip()
    return make_env(Globals(mp_appid=mp_appid, public_url=public_url)).from_string(source).render().strip()
