"""Editors and 书屋: rooms, importing copies from a spreadsheet, idle titles, waiting holds, transfers (漂流).

Import columns: ISBN, 书名, 作者, 出版社, 册数 (CSV or .xlsx). Each ISBN's check digit is verified; a bad
row is reported with its line number and nothing of the file is written. The sheet says how many copies
the room holds: re-importing it adds none (copy ids are `<isbn>-<room>-<n>`).

A suggested transfer: a title that workers of one city queue for, with no copy on a shelf there, and a
copy idle on a shelf in another city of the editor's subtree. The editor confirms it: the copy moves
(one guarded update: only while still on the shelf where it was) and goes to the first in the queue.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict
from services.editors import audit
from services.editors.scope import Scope
from services.library import queue, store
from services.library.isbn import normalize
from services.members.roster import read_rows

IDLE_AFTER = timedelta(days=90)
HEADER = {"isbn": ("isbn", "书号"), "title": ("书名", "题名"), "author": ("作者",), "publisher": ("出版社",),
          "count": ("册数", "数量")}  # fmt: skip
MAX_COPIES_PER_ROW = 200


def _text(raw: Any, label: str, max_len: int) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw.strip()) > max_len:
        raise BadInput(f"{label}不能为空，且不超过 {max_len} 字", code="invalid_room")
    return raw.strip()


async def create_room(deps: Deps, scope: Scope, raw: Any) -> dict[str, Any]:
    scope.require_write()
    if not isinstance(raw, dict):
        raise BadInput("书屋信息应为 JSON 对象", code="invalid_room")
    owner = await scope.owner(deps.db, raw.get("org"))
    doc: dict[str, Any] = {"_id": secrets.token_hex(6), "org": owner.code, "org_path": list(owner.path),
           "city": owner.path[1] if len(owner.path) > 1 else owner.code, "name": _text(raw.get("name"), "书屋名称", 50),
           "address": _text(raw.get("address"), "地址", 100), "hours": _text(raw.get("hours"), "开放时间", 100),
           "created_at": now()}  # fmt: skip
    await store.insert_room(deps.db, doc)
    await audit.record(deps.db, scope.editor, "create", "library_room", doc["_id"], owner.path, summary=doc["name"],
                       after=doc, ip=scope.ip)  # fmt: skip
    return {**doc, "id": doc["_id"]}


async def list_rooms(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    return [{**r, "id": r["_id"]} for r in await store.rooms_in(deps.db, {"org_path": scope.org})]


def _columns(header: list[str]) -> dict[str, int]:
    cols: dict[str, int] = {}
    for i, name in enumerate(header):
        key = next((k for k, names in HEADER.items() if name.strip().lower() in names), None)
        if key and key not in cols:
            cols[key] = i
    missing = [HEADER[k][-1] if k != "isbn" else "ISBN" for k in ("isbn", "title") if k not in cols]
    if missing:
        raise BadInput(
            f"表头缺少：{'、'.join(missing)}（需要 ISBN、书名，可选 作者、出版社、册数）", code="invalid_header"
        )
    return cols


def parse_sheet(rows: list[list[str]]) -> list[dict[str, Any]]:
    """The sheet's books, or BadInput listing the first bad rows by line number."""
    if not rows:
        raise BadInput("文件是空的", code="empty_file")
    cols = _columns(rows[0])
    books: list[dict[str, Any]] = []
    errors: list[str] = []

    def get(row: list[str], key: str) -> str:
        i = cols.get(key)
        return row[i].strip() if i is not None and i < len(row) else ""

    for line, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        isbn, title, count = normalize(get(row, "isbn")), get(row, "title"), get(row, "count") or "1"
        if isbn is None:
            errors.append(f"第 {line} 行 ISBN「{get(row, 'isbn')}」校验位不正确")
        elif not title or len(title) > 200:
            errors.append(f"第 {line} 行缺少书名")
        elif not count.isdigit() or not 1 <= int(count) <= MAX_COPIES_PER_ROW:
            errors.append(f"第 {line} 行册数应为 1 到 {MAX_COPIES_PER_ROW} 的整数")
        else:
            books.append({"isbn": isbn, "title": title, "author": get(row, "author")[:100],
                          "publisher": get(row, "publisher")[:100], "count": int(count)})  # fmt: skip
    if errors:
        more = f"等 {len(errors)} 处" if len(errors) > 5 else ""
        raise BadInput("；".join(errors[:5]) + more + "。请修改后重新导入（本次未导入任何图书）", code="invalid_rows")
    return books


async def import_copies(deps: Deps, scope: Scope, room_id: str, data: bytes, filename: str) -> dict[str, Any]:
    scope.require_write()
    room = scope.check_doc(await store.room(deps.db, room_id), "书屋")
    books = parse_sheet(read_rows(data, filename))
    new = 0
    for b in books:
        await store.upsert_title(
            deps.db, b["isbn"], {"title": b["title"], "author": b["author"], "publisher": b["publisher"]}
        )
        copies = [{"_id": f"{b['isbn']}-{room_id}-{n}", "isbn": b["isbn"], "room": room_id, "city": room["city"],
                   "room_org_path": room["org_path"], "status": "on_shelf", "added_at": now()}
                  for n in range(1, b["count"] + 1)]  # fmt: skip
        new += await store.ensure_copies(deps.db, copies)
    await audit.record(deps.db, scope.editor, "import", "library_room", room_id, room["org_path"],
                       summary=f"导入 {len(books)} 种、新增 {new} 册", ip=scope.ip)  # fmt: skip
    for b in books:  # new copies may serve workers already queueing for the title
        for n in range(1, b["count"] + 1):
            await queue.allocate(deps, f"{b['isbn']}-{room_id}-{n}")
    return {"titles": len(books), "new_copies": new}


async def idle_titles(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    """Titles with copies on a shelf that nobody borrowed in 90 days, per room (the 漂流 candidates)."""
    cutoff = now() - IDLE_AFTER
    never_lately = [{"last_lent_at": None}, {"last_lent_at": {"$lt": cutoff}}]
    query = {"room_org_path": scope.org, "status": "on_shelf", "$or": never_lately,
             "added_at": {"$lt": cutoff}}  # fmt: skip
    rows = await store.copy_counts(deps.db, query)
    return sorted(({"isbn": r["_id"]["isbn"], "room": r["_id"]["room"], "idle_copies": r["total"]} for r in rows),
                  key=lambda r: (-r["idle_copies"], r["isbn"]))  # fmt: skip


async def waiting(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    """Queues by title and city within the subtree: how many wait, and copies on a shelf in that city."""
    out: dict[tuple[str, str], int] = {}
    for h in await store.holds(deps.db, {"status": "waiting"}, limit=5000):
        out[(h["isbn"], h.get("city", ""))] = out.get((h["isbn"], h.get("city", "")), 0) + 1
    rows = []
    for (isbn, city), n in sorted(out.items(), key=lambda kv: -kv[1]):
        rooms = await store.rooms_in(
            deps.db, {"org_path": scope.org, "city": city} if city else {"org_path": scope.org}
        )
        if rooms:
            rows.append({"isbn": isbn, "city": city, "waiting": n, "rooms": [r["_id"] for r in rooms]})
    return rows


async def suggestions(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    out = []
    for w in await waiting(deps, scope):
        spare = await store.copies(deps.db, {"isbn": w["isbn"], "status": "on_shelf", "room_org_path": scope.org,
                                             "city": {"$ne": w["city"]}}, limit=w["waiting"])  # fmt: skip
        out += [{"copy": c["_id"], "isbn": w["isbn"], "from_room": c["room"], "to_room": w["rooms"][0],
                 "to_city": w["city"], "waiting": w["waiting"]} for c in spare]  # fmt: skip
    return out


async def confirm_transfer(deps: Deps, scope: Scope, copy_id: str, to_room: str) -> dict[str, Any]:
    scope.require_write()
    target = scope.check_doc(await store.room(deps.db, to_room), "书屋")
    copy = scope.check_doc(
        {**c, "org_path": c["room_org_path"]} if (c := await store.copy(deps.db, copy_id)) else None, "图书"
    )
    moved = await store.take_copy(
        deps.db, {"_id": copy_id, "status": "on_shelf", "room": copy["room"]},
        {"room": to_room, "city": target["city"], "room_org_path": target["org_path"], "moved_at": now()},
    )  # fmt: skip
    if moved is None:
        raise Conflict("这册书已被借出或预留，调拨未执行", code="copy_changed")
    await store.log_move(deps.db, {"copy": copy_id, "isbn": copy["isbn"], "from": copy["room"], "to": to_room,
                                   "kind": "transfer", "at": now(), "by": scope.editor.username})  # fmt: skip
    await audit.record(deps.db, scope.editor, "transfer", "library_copy", copy_id, target["org_path"],
                       summary=f"漂流 {copy['isbn']}：{copy['room']} → {to_room}", ip=scope.ip)  # fmt: skip
    held_for = await queue.allocate(deps, copy_id)
    return {"copy": copy_id, "room": to_room, "held_for_next_reader": held_for is not None}
