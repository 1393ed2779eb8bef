"""Surveys: list, build (question builder), publish, close, delete, results with charts, exports (pages + JSON)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, ClassVar

from core.clock import now
from core.errors import BadInput, ServiceError
from handlers.console.base import ConsoleApi, ConsolePage
from handlers.console.exports import send_csv, send_xlsx
from handlers.console.render import field_errors
from services.editors import once as console_once
from services.surveys import admin as console_surveys
from services.surveys.questions import TYPE_NAMES

SURVEY_ID = r"(sv[0-9a-f]{12})"


def _form_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "questions": json.dumps(doc.get("questions") or [], ensure_ascii=False, indent=1)}


class SurveysPage(ConsolePage):
    nav: ClassVar[str] = "surveys"

    async def get(self) -> None:
        await self.render_page("console/surveys.html", rows=await console_surveys.list_for(self.deps, self.scope))


class SurveyNewPage(ConsolePage):
    nav: ClassVar[str] = "surveys"

    async def _show(self, form: dict[str, Any], errors: Any = None, status: int = 200) -> None:
        await self.render_page(
            "console/survey_form.html",
            status=status,
            form=form,
            errors=errors,
            survey=None,
            form_key=form.get("form_key") or console_once.new_key(),
        )

    async def get(self) -> None:
        starter = [{"id": "q1", "type": "single", "title": "", "required": True, "options": []}]
        await self._show(
            {
                "questions": json.dumps(starter, ensure_ascii=False),
                "max_responses_per_user": 1,
                "opens_at": now(),
                "closes_at": now() + timedelta(days=14),
            }
        )

    async def post(self) -> None:
        form = self.form()
        try:
            doc = await console_surveys.create(
                self.deps, self.scope, console_surveys.from_form(form), form.get("form_key", "")
            )
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(form, field_errors(exc), exc.status)
            return
        self.flash("问卷已创建（草稿）。检查无误后请点击“发布”。")
        self.redirect(f"/admin/surveys/{doc['_id']}", status=303)


class SurveyPage(ConsolePage):
    nav: ClassVar[str] = "surveys"

    async def _show(
        self, survey_id: str, form: dict[str, Any] | None = None, errors: Any = None, status: int = 200
    ) -> None:
        survey = await console_surveys.get(self.deps, self.scope, survey_id)
        res = await console_surveys.results(
            self.deps, self.scope, survey_id, fresh=self.get_argument("fresh", "") == "1"
        )
        texts = {}
        for q in survey["questions"]:
            if q["type"] == "text":
                texts[q["id"]] = await console_surveys.text_answers(self.deps, self.scope, survey_id, q["id"], None)
        await self.render_page(
            "console/survey.html",
            status=status,
            survey=survey,
            res=res,
            texts=texts,
            form=form or _form_of(survey),
            errors=errors,
            types=TYPE_NAMES,
        )

    async def get(self, survey_id: str) -> None:
        await self._show(survey_id)

    async def post(self, survey_id: str) -> None:
        form = self.form()
        action = form.pop("action", "")
        try:
            if action in ("publish", "close", "delete"):
                await console_surveys.act(self.deps, self.scope, survey_id, action)
                self.flash({"publish": "问卷已发布", "close": "问卷已关闭", "delete": "问卷已删除"}[action])
                self.redirect("/admin/surveys" if action == "delete" else f"/admin/surveys/{survey_id}", status=303)
                return
            if action != "edit":
                raise BadInput("操作不正确", code="action")
            survey = await console_surveys.get(self.deps, self.scope, survey_id)
            data = console_surveys.from_form(form)
            if survey["status"] != "draft":
                data = {k: data[k] for k in ("title", "description", "closes_at") if k in data}
            await console_surveys.update(self.deps, self.scope, survey_id, data)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            await self._show(survey_id, form, field_errors(exc), exc.status)
            return
        self.flash("问卷已保存")
        self.redirect(f"/admin/surveys/{survey_id}", status=303)


class SurveyExport(ConsolePage):
    nav: ClassVar[str] = "surveys"

    async def get(self, survey_id: str, what: str, fmt: str) -> None:
        survey = await console_surveys.get(self.deps, self.scope, survey_id)
        if what == "results":
            rows = console_surveys.result_rows(await console_surveys.results(self.deps, self.scope, survey_id, True))
            name = f"问卷统计-{survey['title']}"
            if fmt == "csv":
                await send_csv(self, name, rows)
            else:
                responses = [r async for r in console_surveys.response_rows(self.deps, self.scope, survey_id)]
                await send_xlsx(self, name, {"统计": rows, "答卷明细": responses})
            return
        name = f"问卷答卷-{survey['title']}"
        if fmt == "csv":
            await send_csv(self, name, console_surveys.response_rows(self.deps, self.scope, survey_id))
        else:
            responses = [r async for r in console_surveys.response_rows(self.deps, self.scope, survey_id)]
            await send_xlsx(self, name, {"答卷明细": responses})


class SurveysApi(ConsoleApi):
    async def get(self) -> None:
        self.write_json({"items": await console_surveys.list_for(self.deps, self.scope)})

    async def post(self) -> None:
        key = self.request.headers.get("Idempotency-Key", "")
        self.write_json(await console_surveys.create(self.deps, self.scope, self.json_body(), key), 201)


class SurveyApi(ConsoleApi):
    async def get(self, survey_id: str) -> None:
        self.write_json(await console_surveys.get(self.deps, self.scope, survey_id))

    async def patch(self, survey_id: str) -> None:
        self.write_json(await console_surveys.update(self.deps, self.scope, survey_id, self.json_body()))

    async def delete(self, survey_id: str) -> None:
        await console_surveys.act(self.deps, self.scope, survey_id, "delete")
        self.write_json({"ok": True})


class SurveyActionApi(ConsoleApi):
    async def post(self, survey_id: str, action: str) -> None:
        self.write_json(await console_surveys.act(self.deps, self.scope, survey_id, action))


class SurveyResultsApi(ConsoleApi):
    async def get(self, survey_id: str) -> None:
        self.write_json(await console_surveys.results(self.deps, self.scope, survey_id))


routes = [
    (r"/admin/surveys", SurveysPage),
    (r"/admin/surveys/new", SurveyNewPage),
    (r"/admin/surveys/" + SURVEY_ID, SurveyPage),
    (r"/admin/surveys/" + SURVEY_ID + r"/(results|responses)\.(csv|xlsx)", SurveyExport),
    (r"/api/admin/surveys", SurveysApi),
    (r"/api/admin/surveys/" + SURVEY_ID, SurveyApi),
    (r"/api/admin/surveys/" + SURVEY_ID + r"/(publish|close)", SurveyActionApi),
    (r"/api/admin/surveys/" + SURVEY_ID + r"/results", SurveyResultsApi),
]
