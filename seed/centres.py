"""Seed worker-service centres: one city centre and one county-level station in each of the 16 cities.

Positions are the city (or county) seats; addresses name the district only and the phone is the
national workers' hotline 12351, which every city union answers. Each document says
`source: "seed"`: the union's editors replace these with the real addresses and numbers.
"""

from __future__ import annotations

from typing import Any

# city code, city, (district, lng, lat) of the city centre, (county-level unit, lng, lat) of a station
_CITIES: list[tuple[str, str, tuple[str, float, float], tuple[str, float, float]]] = [
    ("370100", "济南", ("历下区", 117.0767, 36.6664), ("莱芜区", 117.6765, 36.2144)),
    ("370200", "青岛", ("市南区", 120.3952, 36.0707), ("黄岛区", 120.1980, 35.9601)),
    ("370300", "淄博", ("张店区", 118.0176, 36.8069), ("临淄区", 118.3090, 36.8268)),
    ("370400", "枣庄", ("市中区", 117.5565, 34.8639), ("滕州市", 117.1651, 35.1140)),
    ("370500", "东营", ("东营区", 118.5824, 37.4486), ("广饶县", 118.4070, 37.0537)),
    ("370600", "烟台", ("芝罘区", 121.4003, 37.5407), ("龙口市", 120.4777, 37.6460)),
    ("370700", "潍坊", ("奎文区", 119.1325, 36.7074), ("寿光市", 118.7909, 36.8554)),
    ("370800", "济宁", ("任城区", 116.6284, 35.4145), ("曲阜市", 116.9865, 35.5810)),
    ("370900", "泰安", ("泰山区", 117.1353, 36.1920), ("新泰市", 117.7670, 35.9088)),
    ("371000", "威海", ("环翠区", 122.1234, 37.5020), ("荣成市", 122.4866, 37.1652)),
    ("371100", "日照", ("东港区", 119.4621, 35.4254), ("莒县", 118.8371, 35.5801)),
    ("371300", "临沂", ("兰山区", 118.3478, 35.0516), ("沂水县", 118.6280, 35.7900)),
    ("371400", "德州", ("德城区", 116.2997, 37.4507), ("禹城市", 116.6383, 36.9343)),
    ("371500", "聊城", ("东昌府区", 115.9885, 36.4344), ("临清市", 115.7050, 36.8383)),
    ("371600", "滨州", ("滨城区", 118.0199, 37.4320), ("邹平市", 117.7431, 36.8630)),
    ("371700", "菏泽", ("牡丹区", 115.4172, 35.2520), ("曹县", 115.5423, 34.8253)),
]

HOTLINE = "12351"


def centre_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for code, city, (district, lng, lat), (county, slng, slat) in _CITIES:
        docs.append({
            "_id": f"{code}-01", "city": code, "name": f"{city}市职工服务中心",
            "address": f"{city}市{district}", "phone": HOTLINE, "hours": "工作日 9:00-17:00",
            "loc": {"type": "Point", "coordinates": [lng, lat]}, "source": "seed",
        })  # fmt: skip
        docs.append({
            "_id": f"{code}-02", "city": code, "name": f"{county}职工服务站",
            "address": f"{city}市{county}", "phone": HOTLINE, "hours": "工作日 9:00-17:00",
            "loc": {"type": "Point", "coordinates": [slng, slat]}, "source": "seed",
        })  # fmt: skip
    return docs
