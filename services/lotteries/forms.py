"""The console's lottery form → the definition `model.parse` checks (one tier per line)."""

from __future__ import annotations

from typing import Any

from core.errors import BadInput


def tiers_from_text(text: str, instant: bool) -> list[dict[str, Any]]:
    """Lines "名称|奖品|数量|面值(分)" (+ "|概率%" for instant win), e.g. "一等奖|智能手环|10|19900|0.5"."""
    tiers = []
    for n, line in enumerate((ln.strip() for ln in text.splitlines()), start=1):
        if not line:
            continue
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        if len(parts) < (5 if instant else 3):
            want = "名称|奖品|数量|面值(分)|概率%" if instant else "名称|奖品|数量|面值(分)"
            raise BadInput(f"奖项第 {n} 行格式应为 {want}", code="invalid_tiers")
        tier: dict[str, Any] = {"name": parts[0], "title": parts[1], "count": parts[2]}
        tier["value_cents"] = parts[3] if len(parts) > 3 and parts[3] else "0"
        if instant:
            tier["percent"] = parts[4]
        tiers.append(tier)
    return tiers


def from_form(form: dict[str, str]) -> dict[str, Any]:
    mode = form.get("mode", "draw")
    data: dict[str, Any] = {
        "mode": mode, "title": form.get("title", ""), "description": form.get("description", ""),
        "tiers": tiers_from_text(form.get("tiers", ""), mode == "instant"),
        "prize_days": form.get("prize_days") or "30",
    }  # fmt: skip
    if form.get("vendor_org"):
        data["vendor_org"] = form["vendor_org"]
    if mode == "draw":
        data["entries_until"] = form.get("entries_until", "")
        data["reserves"] = form.get("reserves") or None
        if data["reserves"] is None:
            del data["reserves"]
        data["beacon"] = {"kind": form.get("beacon_kind", "drand"), "base_url": form.get("beacon_url", ""),
                          "description": form.get("beacon_description", "")}  # fmt: skip
    else:
        data |= {"starts_at": form.get("starts_at", ""), "ends_at": form.get("ends_at", ""),
                 "per_day": form.get("per_day") == "1", "slices": form.get("slices") or "1"}  # fmt: skip
        if form.get("fallback_title"):
            data["fallback"] = {"title": form["fallback_title"], "count": form.get("fallback_count") or "-1",
                                "value_cents": form.get("fallback_value") or "0"}  # fmt: skip
    return data
