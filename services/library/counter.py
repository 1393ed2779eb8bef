"""The 书屋 counter: the keeper scans the worker's code (signed by the server, shown by the mini-program)
and the book's copy code to lend; a return needs only the copy. A return at another 书屋 than the copy's
is a transfer: the copy now belongs where it was handed in (and goes to that room's queue first).

Keepers are console accounts with the `keeper` role (or editors) whose subtree holds the room.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import timedelta
from typing import Any

from core.clock import localize, now
from core.deps import Deps
from core.errors import BadInput, Conflict, Forbidden, NotFound, TooMany
from services.editors import audit
from services.editors.scope import Scope
from services.library import queue, store

CODE_TTL_S = 600
LOAN_FOR = timedelta(days=30)
MAX_LOANS = 5
COUNTER_ROLES = ("admin", "editor", "keeper")


def _sig(deps: Deps, openid: str, exp: int) -> str:
    key = deps.settings.server.cookie_secret.encode()
    mac = hmac.new(key, f"library-code:{openid}:{exp}".encode(), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def worker_code(deps: Deps, openid: str) -> dict[str, Any]:
    """The code the mini-program shows as a QR code at the counter (valid 10 minutes)."""
    exp = int(time.time()) + CODE_TTL_S
    return {"code": f"L1.{openid}.{exp}.{_sig(deps, openid, exp)}", "expires_in": CODE_TTL_S}


def read_code(deps: Deps, code: str) -> str:
    parts = code.strip().split(".") if isinstance(code, str) else []
    if len(parts) != 4 or parts[0] != "L1" or not parts[2].isdigit():
        raise BadInput("借书码无法识别，请让读者刷新后重新出示", code="invalid_code")
    openid, exp = parts[1], int(parts[2])
    if not hmac.compare_digest(parts[3], _sig(deps, openid, exp)):
        raise BadInput("借书码无效，请让读者刷新后重新出示", code="invalid_code")
    if exp < time.time():
        raise BadInput("借书码已过期，请让读者刷新后重新出示", code="code_expired")
    return openid


async def _room(deps: Deps, scope: Scope, room_id: str) -> dict[str, Any]:
    if scope.editor.role not in COUNTER_ROLES:
        raise Forbidden("只有书屋管理员可以办理借还", code="keeper_only")
    return scope.check_doc(await store.room(deps.db, room_id), "书屋")


async def lend(deps: Deps, scope: Scope, room_id: str, code: str, copy_id: str) -> dict[str, Any]:
    room = await _room(deps, scope, room_id)
    openid = read_code(deps, code)
    copy = await store.copy(deps.db, copy_id)
    if copy is None or copy["room"] != room_id:
        raise NotFound("本书屋没有这册书（请核对书上的条码）", code="copy_not_here")
    if copy["status"] == "lent":
        raise Conflict("这册书登记为借出状态，请先办理归还", code="copy_lent")
    if copy["status"] == "held" and copy.get("holder") != openid:
        raise Conflict("这册书已为其他读者预留，请换一册", code="copy_held_for_other")
    if not await store.patron_take(deps.db, openid, "loans", MAX_LOANS):
        raise TooMany(f"每人最多同时借阅 {MAX_LOANS} 册，请先归还", code="too_many_loans")
    due = now() + LOAN_FOR
    lent = await store.take_copy(
        deps.db,
        {"_id": copy_id, "room": room_id, "$or": [{"status": "on_shelf"}, {"status": "held", "holder": openid}]},
        {"status": "lent", "borrower": openid, "due_at": due, "lent_at": now(), "renewals": 0, "holder": None,
         "hold_until": None, "hold_id": None, "overdue_notified_at": None, "last_lent_at": now()},
    )  # fmt: skip
    if lent is None:
        await store.patron_release(deps.db, openid, "loans")
        raise Conflict("这册书刚被借出或预留，请刷新后重试", code="copy_changed")
    if await store.delete_hold(deps.db, {"_id": f"{copy['isbn']}:{openid}"}):
        await store.patron_release(deps.db, openid, "holds")  # the hold is collected (or jumped by a walk-in loan)
    await audit.record(deps.db, scope.editor, "lend", "library_copy", copy_id, room["org_path"],
                       summary=f"借出 {copy['isbn']}", ip=scope.ip)  # fmt: skip
    return {"copy": copy_id, "isbn": copy["isbn"], "due_at": localize(due).isoformat()}


async def take_return(deps: Deps, scope: Scope, room_id: str, copy_id: str) -> dict[str, Any]:
    room = await _room(deps, scope, room_id)
    before = await store.change_copy(
        deps.db, {"_id": copy_id, "status": "lent"},
        {"$set": {"status": "on_shelf", "borrower": None, "due_at": None, "room": room_id, "city": room["city"],
                  "room_org_path": room["org_path"], "returned_at": now()}},
    )  # fmt: skip
    if before is None:
        raise NotFound("没有这册书的借出记录", code="loan_not_found")
    await store.patron_release(deps.db, before["borrower"], "loans")
    transferred = before["room"] != room_id
    if transferred:  # handed in elsewhere: it stays here, as a transfer
        move = {"copy": copy_id, "isbn": before["isbn"], "from": before["room"], "to": room_id,
                "kind": "return_elsewhere", "at": now(), "by": scope.editor.username}  # fmt: skip
        await store.log_move(deps.db, move)
    await audit.record(deps.db, scope.editor, "return", "library_copy", copy_id, room["org_path"],
                       summary=f"归还 {before['isbn']}" + ("（异地归还，转入本书屋）" if transferred else ""),
                       ip=scope.ip)  # fmt: skip
    overdue = before.get("due_at") is not None and localize(before["due_at"]) < now()
    held_for = await queue.allocate(deps, copy_id)
    return {"copy": copy_id, "transferred_from": before["room"] if transferred else None, "overdue": overdue,
            "held_for_next_reader": held_for is not None}  # fmt: skip
