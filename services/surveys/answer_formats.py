"""Formats a text answer can be required to have (a phone number, an ID card number, an email address)."""

from __future__ import annotations

import re

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[A-Za-z]{2,}$")
ID_CARD_RE = re.compile(r"^\d{17}[\dXx]$")
TEXT_FORMATS = {
    "phone": "请填写正确的 11 位手机号码",
    "id_card": "请填写正确的 18 位身份证号码",
    "email": "请填写正确的邮箱地址",
}


def format_ok(fmt: str, value: str) -> bool:
    if fmt == "phone":
        return bool(PHONE_RE.match(value))
    if fmt == "email":
        return bool(EMAIL_RE.match(value))
    if not ID_CARD_RE.match(value):
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(value[:17], weights, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()
