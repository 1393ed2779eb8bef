"""Automatic replies: keyword rules, welcome, default and menu-click replies of the working org (pages + JSON)."""

from __future__ import annotations

from typing import Any, ClassVar

from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.render import field_errors
from services.editors import once as console_once
from services.menus.names import click_names
from services.replies import admin as console_replies
from services.replies.preview import rendered

DOC_ID = r"([0-9]{6,20}:[A-Za-z0-9:_\-]{1,120})"
FIELDS = {
    "invalid_content": "reply",
    "invalid_key": "key",
    "key": "key",
    "reply_type": "reply_type",
    "priority": "priority",
    "edit_conflict": "_",
}


def form_values(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as the form's fields."""
    reply = doc.get("reply") or {}
    article = (reply.get("articles") or [{}])[0]
    return {
        "name": doc.get("name", ""),
        "match": doc.get("match", "exact"),
        "priority": doc.get("priority", 0),
        "patterns": "\n".join(doc.get("patterns") or []),
        "key": doc.get("key", ""),
        "reply_type": reply.get("type", "text"),
        "text": reply.get("text", ""),
        "media_id": reply.get("media_id", ""),
        "kf_account": reply.get("kf_account", ""),
        "enabled": "0" if doc.get("enabled") is False else "1",
        **{f"article_{k}": article.get(k, "") for k in ("title", "description", "url", "pic_url")},
    }


async def readable(handler: ConsolePage | ConsoleApi, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each reply with `shown` (the text as the worker reads it) and, for menu clicks, `button`
    (the name of the menu button carrying the key)."""
    org = await handler.scope.owner(handler.deps.db)
    names = await click_names(handler.deps, org.path)
    return [
        {**d, "shown": rendered(d.get("reply"), org.name), "button": names.get(d.get("key") or "", "")} for d in docs
    ]


class RepliesPage(ConsolePage):
    nav: ClassVar[str] = "replies"

    async def get(self) -> None:
        docs = await readable(self, await console_replies.list_for(self.deps, self.scope))
        await self.render_page(
            "console/replies.html",
            docs=docs,
            kinds=console_replies.KIND_NAMES,
            matches=console_replies.MATCH_NAMES,
            reply_types=console_replies.REPLY_TYPES,
        )


class ReplyFormPage(ConsolePage):
    """New keyword or click reply (`?kind=`), the single welcome/default of the org, or one document by id."""

    nav: ClassVar[str] = "replies"

    async def _doc(self, target: str) -> tuple[str, dict[str, Any] | None]:
        if target in ("welcome", "default"):
            docs = [d for d in await console_replies.list_for(self.deps, self.scope) if d["kind"] == target]
            return target, (docs[0] if docs else None)
        if target == "new":
            kind = self.get_argument("kind", "keyword")
            if kind not in ("keyword", "click"):
                raise BadInput("回复类型不正确", code="kind")
            return kind, None
        doc = await console_replies.get(self.deps, self.scope, target)
        return doc["kind"], doc

    async def _show(
        self, kind: str, doc: dict[str, Any] | None, form: dict[str, Any], errors: Any = None, status: int = 200
    ) -> None:
        await self.render_page(
            "console/reply_form.html",
            status=status,
            kind=kind,
            doc=doc,
            form=form,
            errors=errors,
            kinds=console_replies.KIND_NAMES,
            matches=console_replies.MATCH_NAMES,
            reply_types=console_replies.REPLY_TYPES,
            version=console_replies.version_of(doc),
            form_key=self.get_body_argument("form_key", None) or console_once.new_key(),
        )

    async def get(self, target: str) -> None:
        kind, doc = await self._doc(target)
        form = form_values(doc) if doc else {"match": "exact", "priority": 0, "reply_type": "text", "enabled": "1"}
        await self._show(kind, doc, form)

    async def post(self, target: str) -> None:
        kind, doc = await self._doc(target)
        form = self.form()
        if form.pop("action", "") == "delete" and doc is not None:
            await console_replies.delete(self.deps, self.scope, doc["_id"])
            self.flash("已删除")
            self.redirect("/admin/replies", status=303)
            return
        try:
            data = console_replies.from_form(form, kind)
            await console_replies.save(
                self.deps,
                self.scope,
                data,
                doc_id=doc["_id"] if doc else None,
                version=form.get("version", ""),
                form_key=form.get("form_key", ""),
            )
        except ServiceError as exc:
            if exc.status == 404:
                raise
            await self._show(kind, doc, form, field_errors(exc, FIELDS), exc.status)
            return
        self.flash("已保存，公众号将在几秒内使用新的回复")
        self.redirect("/admin/replies", status=303)


class RepliesApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json({"items": await readable(self, await console_replies.list_for(self.deps, self.scope))})

    async def post(self) -> None:
        body = self.json_body()
        if not isinstance(body.get("kind"), str) or body["kind"] not in console_replies.KIND_NAMES:
            raise BadInput("kind 应为 keyword、welcome、default 或 click", code="kind")
        key = self.request.headers.get("Idempotency-Key", "")
        doc = await console_replies.save(self.deps, self.scope, body, form_key=key)
        self.write_json(doc, 201)


class ReplyApi(ConsoleApi):
    async def get(self, doc_id: str) -> None:
        self.write_json(await console_replies.get(self.deps, self.scope, doc_id))

    async def put(self, doc_id: str) -> None:
        body = self.json_body()
        version = str(body.pop("version", "") or "")
        self.write_json(await console_replies.save(self.deps, self.scope, body, doc_id=doc_id, version=version))

    async def delete(self, doc_id: str) -> None:
        await console_replies.delete(self.deps, self.scope, doc_id)
        self.write_json({"ok": True})


routes = [
    (r"/admin/replies", RepliesPage),
    (r"/admin/replies/(new|welcome|default)", ReplyFormPage),
    (r"/admin/replies/" + DOC_ID, ReplyFormPage),
    (r"/api/admin/replies", RepliesApi),
    (r"/api/admin/replies/" + DOC_ID, ReplyApi),
]
