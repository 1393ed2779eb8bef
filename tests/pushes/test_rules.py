"""Composing pushes: clear Chinese refusals for bad input, schedules, editing rules and org scope."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import clock
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound
from services.pushes import compose as pushes
from services.pushes import rules as push_rules
from services.pushes import trial_and_uploads as push_tools
from tests.pushes.conftest import JINAN, PROVINCE, QINGDAO, TEMPLATE


def test_cron_is_standard_crontab_in_beijing_time() -> None:
    monday_9 = push_rules.cron_trigger("0 9 * * 1")  # crontab: 1 = Monday (APScheduler 3 alone says Tuesday)
    fires = push_rules.next_fires(monday_9, clock.now(), 3)
    assert [(f.weekday(), f.hour, f.minute) for f in fires] == [(0, 9, 0)] * 3
    assert {f.weekday() for f in push_rules.next_fires(push_rules.cron_trigger("30 8 * * 0"), clock.now(), 2)} == {6}
    weekdays = push_rules.next_fires(push_rules.cron_trigger("0 18 * * 1-5"), clock.now(), 10)
    assert {f.weekday() for f in weekdays} == {0, 1, 2, 3, 4}
    for bad in ("0 9 * *", "61 9 * * *", "0 9 * * 8", "every monday"):
        with pytest.raises(BadInput, match="重复规则格式不正确"):
            push_rules.cron_trigger(bad)
    with pytest.raises(BadInput, match="不能短于 1 小时"):
        push_rules.clean_schedule({"kind": "cron", "cron": "*/10 * * * *"}, clock.now())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"channel": "sms"}, "请选择推送方式"),
        ({"channel": ["template"]}, "请选择推送方式"),  # not a string: refused, not a 500
        ({"content": {"template_id": "T1", "data": {}}}, "请填写模板的各项内容"),
        ({"content": {"template_id": "T1", "data": {"thing1": "x" * 201}}}, "不能超过 200 个字"),
        ({"content": {"template_id": "T1", "data": {"thing 1": "x"}}}, "模板字段名"),
        ({"content": {"template_id": "T1", "data": {"thing1": "x"}, "url": "javascript:alert(1)"}}, "http://"),
        ({"audience": {"kind": "tags", "tags": ["a"]}}, "标签编号必须是整数"),
        ({"audience": {"kind": "everyone"}}, "请选择推送对象"),
        ({"audience": {"kind": "openids", "upload_id": "u000000000000"}}, "名单不存在"),
        ({"schedule": {"kind": "at", "at": "2020-01-01T09:00"}}, "已经过去"),
        ({"schedule": {"kind": "at", "at": "next friday"}}, "时间格式不正确"),
        ({"title": ""}, "请填写推送标题"),
        ({"channel": "custom", "content": {"msgtype": "voice"}}, "客服消息类型不正确"),
        ({"channel": "mass", "content": {"articles": []}}, "1 至 8 篇"),
        ({"channel": "mass", "content": {"articles": [{"title": "t", "content": "c"}]}}, "封面素材 ID"),
    ],
)
async def test_bad_input_is_refused_in_chinese(deps: Deps, change: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(BadInput, match=message) as err:
        await pushes.create(deps, {**TEMPLATE, **change}, editor_org=PROVINCE, editor="editor1")
    assert err.value.status == 400


async def test_editing_rules_and_scope(deps: Deps) -> None:
    at = (clock.now() + timedelta(days=1)).replace(microsecond=0)
    data = {**TEMPLATE, "schedule": {"kind": "at", "at": at.isoformat()}}
    push = await pushes.create(deps, data, editor_org=JINAN, editor="jn1")
    assert (push["status"], push["org"], push["schedule"]["at"]) == ("draft", JINAN, at.isoformat())
    edited = await pushes.update(
        deps, push["id"], {"title": "改过的标题", "version": 1}, editor_org=JINAN, editor="jn2"
    )
    assert (edited["title"], edited["version"], edited["updated_by"]) == ("改过的标题", 2, "jn2")
    with pytest.raises(Conflict, match="已被他人修改"):
        await pushes.update(deps, push["id"], {"title": "旧版本上的修改", "version": 1}, editor_org=JINAN, editor="jn3")
    scheduled = await pushes.submit(deps, push["id"], editor_org=JINAN, editor="jn1")
    assert scheduled["status"] == "scheduled" and await deps.redis.get("sched:version")
    assert await pushes.get(deps, push["id"], editor_org=PROVINCE)  # the province sees the city's pushes
    for other in (QINGDAO, "370102"):  # another city, or a county below: not theirs
        with pytest.raises(NotFound):
            await pushes.get(deps, push["id"], editor_org=other)
        with pytest.raises(NotFound):
            await pushes.cancel(deps, push["id"], editor_org=other, editor="x")
    assert [p["id"] for p in await pushes.list_pushes(deps, editor_org=JINAN)] == [push["id"]]
    assert await pushes.list_pushes(deps, editor_org=QINGDAO) == []
    with pytest.raises(BadInput, match="不在您管理的范围内"):
        await pushes.create(deps, {**TEMPLATE, "org": PROVINCE}, editor_org=JINAN, editor="jn1")
    cancelled = await pushes.cancel(deps, push["id"], editor_org=JINAN, editor="jn1")
    assert cancelled["status"] == "cancelled"
    with pytest.raises(Conflict):
        await pushes.update(deps, push["id"], {"title": "x"}, editor_org=JINAN, editor="jn1")


async def test_preview_and_templates(deps: Deps, fake_wechat) -> None:
    fake_wechat.state.add_followers(["oEditorSelf01"])
    push = await pushes.create(deps, TEMPLATE, editor_org=PROVINCE, editor="editor1")
    sent = await push_tools.preview(deps, push["id"], "oEditorSelf01", editor_org=PROVINCE, editor="editor1")
    assert sent["ok"] and fake_wechat.state.delivered_count("template") == 1
    with pytest.raises(BadInput, match="openid 格式不正确"):
        await push_tools.preview(deps, push["id"], "not an openid", editor_org=PROVINCE, editor="editor1")
    with pytest.raises(Exception, match="预览发送失败.*openid 无效"):
        await push_tools.preview(deps, push["id"], "oNobodyAtAll1", editor_org=PROVINCE, editor="editor1")
    listed = await push_tools.templates(deps)
    notice = next(t for t in listed if t["template_id"] == "TPL_ACTIVITY_NOTICE")
    assert notice["fields"] == ["thing1", "time2"]
    assert pushes.schedule_preview({"kind": "cron", "cron": "0 9 * * 1"}, 2)[0].endswith("+08:00")
