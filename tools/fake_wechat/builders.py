"""Builders for the messages and events WeChat pushes to the callback, as plain dicts.

Field names and nesting follow WeChat's docs (and wechatpy's parser): e.g. location messages
carry Location_X (latitude) / Location_Y (longitude); menu scan events nest ScanCodeInfo.
"""

from __future__ import annotations

import secrets
import time
from typing import Any


class MessageBuilder:
    account: str  # the official account's original id (gh_...), the ToUserName of every message

    def _base(self, openid: str, msgtype: str) -> dict[str, Any]:
        return {"ToUserName": self.account, "FromUserName": openid, "CreateTime": int(time.time()), "MsgType": msgtype}

    @staticmethod
    def new_msg_id() -> int:
        return 10**18 + secrets.randbelow(8 * 10**18)  # 19 digits, fits a signed 64-bit int

    def _message(self, openid: str, msgtype: str, msg_id: int | None, **fields: Any) -> dict[str, Any]:
        msg = self._base(openid, msgtype)
        msg.update({k: v for k, v in fields.items() if v is not None})
        msg["MsgId"] = self.new_msg_id() if msg_id is None else msg_id
        return msg

    def text(self, openid: str, content: str, msg_id: int | None = None) -> dict[str, Any]:
        return self._message(openid, "text", msg_id, Content=content)

    def image(self, openid: str, pic_url: str, media_id: str, msg_id: int | None = None) -> dict[str, Any]:
        return self._message(openid, "image", msg_id, PicUrl=pic_url, MediaId=media_id)

    def voice(
        self, openid: str, media_id: str, fmt: str = "amr", recognition: str | None = None, msg_id: int | None = None
    ) -> dict[str, Any]:
        return self._message(openid, "voice", msg_id, MediaId=media_id, Format=fmt, Recognition=recognition)

    def video(self, openid: str, media_id: str, thumb_media_id: str, msg_id: int | None = None) -> dict[str, Any]:
        return self._message(openid, "video", msg_id, MediaId=media_id, ThumbMediaId=thumb_media_id)

    def shortvideo(self, openid: str, media_id: str, thumb_media_id: str, msg_id: int | None = None) -> dict[str, Any]:
        return self._message(openid, "shortvideo", msg_id, MediaId=media_id, ThumbMediaId=thumb_media_id)

    def location(
        self, openid: str, lat: float, lng: float, scale: int = 15, label: str = "", msg_id: int | None = None
    ) -> dict[str, Any]:
        return self._message(openid, "location", msg_id, Location_X=lat, Location_Y=lng, Scale=scale, Label=label)

    def link(self, openid: str, title: str, description: str, url: str, msg_id: int | None = None) -> dict[str, Any]:
        return self._message(openid, "link", msg_id, Title=title, Description=description, Url=url)

    def event(self, openid: str, event: str, **fields: Any) -> dict[str, Any]:
        """Any event: `event(o, "CLICK", EventKey="MY_ACTIVITIES")`; nested dicts become nested
        elements, e.g. `ScanCodeInfo={"ScanType": "qrcode", "ScanResult": "..."}`."""
        msg = self._base(openid, "event")
        msg["Event"] = event
        msg.update(fields)
        return msg

    # --- common events, spelled out -----------------------------------------------------------
    def click(self, openid: str, key: str) -> dict[str, Any]:
        return self.event(openid, "CLICK", EventKey=key)

    def scancode(self, openid: str, key: str, result: str, waitmsg: bool = False) -> dict[str, Any]:
        info = {"ScanType": "qrcode", "ScanResult": result}
        return self.event(openid, "scancode_waitmsg" if waitmsg else "scancode_push", EventKey=key, ScanCodeInfo=info)

    def location_select(self, openid: str, key: str, lat: float, lng: float, label: str = "") -> dict[str, Any]:
        info = {"Location_X": lat, "Location_Y": lng, "Scale": 15, "Label": label, "Poiname": ""}
        return self.event(openid, "location_select", EventKey=key, SendLocationInfo=info)

    def pics(self, openid: str, key: str, md5s: list[str], event: str = "pic_photo_or_album") -> dict[str, Any]:
        info = {"Count": len(md5s), "PicList": {"item": [{"PicMd5Sum": m} for m in md5s]}}
        return self.event(openid, event, EventKey=key, SendPicsInfo=info)

    def subscribe_msg_popup(self, openid: str, choices: dict[str, str], scene: int = 2) -> dict[str, Any]:
        """choices: template_id -> "accept" | "reject"."""
        items = [{"TemplateId": t, "SubscribeStatusString": s, "PopupScene": scene} for t, s in choices.items()]
        return self.event(openid, "subscribe_msg_popup_event", SubscribeMsgPopupEvent={"List": items})

    def template_finished(self, openid: str, msg_id: int, status: str = "success") -> dict[str, Any]:
        return self.event(openid, "TEMPLATESENDJOBFINISH", MsgID=msg_id, Status=status)

    def subscribe_sent(self, openid: str, notices: list[tuple[str, int, str]]) -> dict[str, Any]:
        """subscribe_msg_sent_event: one List item per (template id, msgid, ErrorStatus)."""
        items = [{"TemplateId": t, "MsgID": m, "ErrorCode": 0 if s == "success" else 1, "ErrorStatus": s}
                 for t, m, s in notices]  # fmt: skip
        return self.event(openid, "subscribe_msg_sent_event", SubscribeMsgSentEvent={"List": items})

    def mass_finished(self, account_openid: str, job: dict[str, Any]) -> dict[str, Any]:
        """From a `FakeWeChat.mass_jobs` entry (WeChat sends it from the account's own openid)."""
        counts = {k: job[k] for k in ("TotalCount", "FilterCount", "SentCount", "ErrorCount")}
        return self.event(account_openid, "MASSSENDJOBFINISH", MsgID=job["msg_id"], Status=job["Status"], **counts)
