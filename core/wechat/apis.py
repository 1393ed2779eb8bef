"""Typed wrappers for the WeChat APIs we call, named after what they do for us.

Field names follow WeChat's documentation. Each method is one HTTP call through WeChatClient.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from core.wechat.client import JsonDict, WeChatClient


class OfficialAccountAPI:
    """山东工会: the official account."""

    def __init__(self, client: WeChatClient) -> None:
        self.client = client

    # --- messages -------------------------------------------------------------------------------
    async def send_custom_text(self, openid: str, content: str) -> JsonDict:
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        return await self.client.post("cgi-bin/message/custom/send", body)

    async def send_custom(self, openid: str, msgtype: str, payload: JsonDict) -> JsonDict:
        body = {"touser": openid, "msgtype": msgtype, msgtype: payload}
        return await self.client.post("cgi-bin/message/custom/send", body)

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict[str, Any],
        *,
        url: str | None = None,
        miniprogram: dict[str, str] | None = None,
        client_msg_id: str | None = None,
    ) -> JsonDict:
        body: JsonDict = {"touser": openid, "template_id": template_id, "data": data}
        if url:
            body["url"] = url
        if miniprogram:
            body["miniprogram"] = miniprogram
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        # Idempotent with client_msg_id: WeChat sends one message per openid + id within 10 minutes.
        return await self.client.post("cgi-bin/message/template/send", body, idempotent=bool(client_msg_id))

    async def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, Any], *, page: str | None = None
    ) -> JsonDict:
        body: JsonDict = {"touser": openid, "template_id": template_id, "data": data}
        if page:
            body["page"] = page
        return await self.client.post("cgi-bin/message/subscribe/bizsend", body)

    async def mass_send(self, openids: list[str], msg: JsonDict, *, clientmsgid: str | None = None) -> JsonDict:
        body: JsonDict = {"touser": openids, **msg, "send_ignore_reprint": 0}
        if clientmsgid:
            body["clientmsgid"] = clientmsgid
        return await self.client.post("cgi-bin/message/mass/send", body, idempotent=bool(clientmsgid))

    async def mass_send_all(
        self, msg: JsonDict, *, tag_id: int | None = None, clientmsgid: str | None = None
    ) -> JsonDict:
        flt: JsonDict = {"is_to_all": tag_id is None}
        if tag_id is not None:
            flt["tag_id"] = tag_id
        body: JsonDict = {"filter": flt, **msg, "send_ignore_reprint": 0}
        if clientmsgid:
            body["clientmsgid"] = clientmsgid
        return await self.client.post("cgi-bin/message/mass/sendall", body, idempotent=bool(clientmsgid))

    async def mass_preview(self, openid: str, msg: JsonDict) -> JsonDict:
        return await self.client.post("cgi-bin/message/mass/preview", {"touser": openid, **msg})

    # --- drafts and publishing ------------------------------------------------------------------
    async def draft_add(self, articles: list[JsonDict]) -> str:
        return str((await self.client.post("cgi-bin/draft/add", {"articles": articles}))["media_id"])

    async def freepublish_submit(self, media_id: str) -> JsonDict:
        return await self.client.post("cgi-bin/freepublish/submit", {"media_id": media_id})

    # --- menus ----------------------------------------------------------------------------------
    async def menu_create(self, buttons: list[JsonDict]) -> JsonDict:
        return await self.client.post("cgi-bin/menu/create", {"button": buttons}, idempotent=True)

    async def menu_add_conditional(self, buttons: list[JsonDict], matchrule: JsonDict) -> str:
        data = await self.client.post("cgi-bin/menu/addconditional", {"button": buttons, "matchrule": matchrule})
        return str(data["menuid"])

    async def menu_del_conditional(self, menuid: str) -> JsonDict:
        return await self.client.post("cgi-bin/menu/delconditional", {"menuid": menuid}, idempotent=True)

    async def menu_get(self) -> JsonDict:
        return await self.client.get("cgi-bin/menu/get")

    # --- users and tags -------------------------------------------------------------------------
    async def user_info(self, openid: str) -> JsonDict:
        return await self.client.get("cgi-bin/user/info", {"openid": openid, "lang": "zh_CN"})

    async def iter_follower_openids(self) -> AsyncIterator[str]:
        """All followers, page by page (10,000 a page), never the whole list in memory."""
        next_openid = ""
        while True:
            page = await self.client.get("cgi-bin/user/get", {"next_openid": next_openid})
            for openid in page.get("data", {}).get("openid", []):
                yield openid
            next_openid = page.get("next_openid", "")
            if not page.get("count") or not next_openid:
                return

    async def tag_create(self, name: str) -> int:
        return int((await self.client.post("cgi-bin/tags/create", {"tag": {"name": name}}))["tag"]["id"])

    async def tags(self) -> list[JsonDict]:
        return list((await self.client.get("cgi-bin/tags/get")).get("tags", []))

    async def tag_users(self, openids: list[str], tag_id: int) -> JsonDict:
        body = {"openid_list": openids, "tagid": tag_id}
        return await self.client.post("cgi-bin/tags/members/batchtagging", body, idempotent=True)

    async def untag_users(self, openids: list[str], tag_id: int) -> JsonDict:
        body = {"openid_list": openids, "tagid": tag_id}
        return await self.client.post("cgi-bin/tags/members/batchuntagging", body, idempotent=True)

    # --- QR codes -------------------------------------------------------------------------------
    async def qrcode_create(self, scene: str, *, expire_seconds: int | None = None) -> JsonDict:
        """A parametric QR code carrying `scene` (a string scene); permanent when expire_seconds is None."""
        action = "QR_LIMIT_STR_SCENE" if expire_seconds is None else "QR_STR_SCENE"
        body: JsonDict = {"action_name": action, "action_info": {"scene": {"scene_str": scene}}}
        if expire_seconds is not None:
            body["expire_seconds"] = expire_seconds
        return await self.client.post("cgi-bin/qrcode/create", body)


class MiniProgramAPI:
    """齐鲁工惠: the mini-program."""

    def __init__(self, client: WeChatClient, app_secret: str) -> None:
        self.client = client
        self._secret = app_secret

    async def code_to_session(self, js_code: str) -> JsonDict:
        """Exchange a wx.login code for openid, session_key and (when bound) unionid."""
        params = {
            "appid": self.client.app_id,
            "secret": self._secret,
            "js_code": js_code,
            "grant_type": "authorization_code",
        }
        return await self.client.call("GET", "sns/jscode2session", params=params, auth=False)

    async def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, Any], *, page: str | None = None
    ) -> JsonDict:
        body: JsonDict = {"touser": openid, "template_id": template_id, "data": data, "miniprogram_state": "formal"}
        if page:
            body["page"] = page
        return await self.client.post("cgi-bin/message/subscribe/send", body)

    async def msg_sec_check(self, openid: str, content: str, scene: int = 2) -> JsonDict:
        body = {"content": content, "version": 2, "scene": scene, "openid": openid}
        return await self.client.post("wxa/msg_sec_check", body, idempotent=True)

    async def user_risk_rank(self, openid: str, client_ip: str, *, scene: int = 1) -> int:
        """WeChat's risk rank of a user (0 lowest .. 4 highest) for a marketing scene (1) or sign-up (0)."""
        body = {"appid": self.client.app_id, "openid": openid, "scene": scene, "client_ip": client_ip or "127.0.0.1"}
        answer = await self.client.post("wxa/getuserriskrank", body, idempotent=True)
        return int(answer["risk_rank"])
