"""The nearest worker-service centres to a worker, as a reply they can act on."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.followers import centres_store as store


def valid_point(lat: float, lng: float) -> bool:
    return -90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0 and (lat, lng) != (0.0, 0.0)


def distance_text(metres: float) -> str:
    if metres < 1000:
        return f"{max(int(round(metres, -1)), 10)}米"
    if metres < 100_000:
        return f"{metres / 1000:.1f}公里"
    return f"{metres / 1000:.0f}公里"


async def nearest(db: AsyncDatabase[dict[str, Any]], lat: float, lng: float, limit: int = 3) -> list[dict[str, Any]]:
    return await store.nearest(db, lat, lng, limit)


def describe(centres: list[dict[str, Any]]) -> str:
    if not centres:
        return "暂未查到您附近的职工服务中心，请拨打职工服务热线 12351 咨询。"
    lines = ["离您最近的职工服务中心："]
    for i, c in enumerate(centres, 1):
        lines.append(f"{i}. {c['name']}（约{distance_text(float(c.get('distance', 0)))}）")
        lines.append(f"   地址：{c.get('address', '')}")
        lines.append(f"   电话：{c.get('phone', '')}" + (f"　{c['hours']}" if c.get("hours") else ""))
    lines.append("如需帮助，也可拨打职工服务热线 12351。")
    return "\n".join(lines)
