"""`python -m tools.fake_wechat.sim_cli`: send one message to a callback and show the reply.

Examples:
  python -m tools.fake_wechat.sim_cli --mode safe text o_user 投票
  python -m tools.fake_wechat.sim_cli click o_user MY_ACTIVITIES
  python -m tools.fake_wechat.sim_cli event o_user subscribe EventKey=qrscene_org:370100
  python -m tools.fake_wechat.sim_cli verify
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

DEMO = {"token": "demo-callback-token", "app_id": "wxdemo0000000oa",
        "aes_key": "Mg07ILBZw2Jjxrzew1UcCaqrI559N3rxGSWq5L3Ozic"}  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.fake_wechat.sim_cli", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--url", default="http://127.0.0.1:8080/wechat")
    p.add_argument("--mode", choices=["plain", "compat", "safe"], default="plain")
    p.add_argument("--fmt", choices=["xml", "json"], default="xml")
    p.add_argument("--token", default=DEMO["token"])
    p.add_argument("--app-id", default=DEMO["app_id"])
    p.add_argument("--aes-key", default=DEMO["aes_key"])
    p.add_argument("--account", default="gh_sdgh_demo")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--fake", default=None, help="fake WeChat base URL, to mirror follows / look up QR tickets")
    p.add_argument("kind", choices=["text", "click", "event", "scan", "location", "verify"])
    p.add_argument("args", nargs="*", help="text: OPENID CONTENT | click: OPENID KEY | event: OPENID EVENT "
                   "[Field=value ...] | scan: OPENID TICKET [subscribed] | location: OPENID LAT LNG")  # fmt: skip
    return p


async def _run(ns: argparse.Namespace) -> int:
    from .simulator import ReplyError, WeChatSimulator

    sim = WeChatSimulator(ns.url, ns.token, ns.app_id, ns.aes_key,
                          ns.mode, ns.fmt, ns.account, timeout=ns.timeout, fake=ns.fake)  # fmt: skip
    a = ns.args
    try:
        if ns.kind == "verify":
            result = await sim.verify_url()
        elif ns.kind == "text":
            result = await sim.send_text(a[0], " ".join(a[1:]))
        elif ns.kind == "click":
            result = await sim.send_click(a[0], a[1])
        elif ns.kind == "event":
            fields: dict[str, Any] = dict(f.split("=", 1) for f in a[2:])
            result = await sim.send_event(a[0], a[1], **fields)
        elif ns.kind == "scan":
            result = await sim.scan_qr(a[0], a[1], subscribed=len(a) > 2 and a[2] == "subscribed")
        else:
            result = await sim.send(sim.location(a[0], float(a[1]), float(a[2])))
    except ReplyError as exc:
        sys.stderr.write(f"reply rejected as WeChat would: {exc}\n")
        return 2
    except IndexError:
        sys.stderr.write("missing arguments, see --help\n")
        return 64
    finally:
        sim.close()
    summary: dict[str, Any] = {
        "status": result.status,
        "attempts": result.attempts,
        "elapsed": round(result.elapsed, 3),
        "acknowledged": result.acknowledged,
        "failed": result.failed,
        "reply": result.reply,
        "errors": result.errors,
    }
    if result.reply is None and not result.failed:
        summary["body"] = result.text
    sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    return 1 if result.failed else 0


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(_run(_parser().parse_args(argv))))


if __name__ == "__main__":
    main()
