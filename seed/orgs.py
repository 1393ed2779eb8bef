"""The five-level union org tree's seed: the province, its 16 cities and their county-level units.

Codes are the administrative division codes (GB/T 2260). 莱芜 (371200) merged into 济南 in 2019:
its districts 莱芜区 (370116) and 钢城区 (370117) sit under 济南. Townships and enterprises are
added by editors (their codes extend the county code).
"""

from __future__ import annotations

from typing import Any

from services.orgs.store import PROVINCE_CODE

PROVINCE = (PROVINCE_CODE, "山东省总工会")

CITIES: dict[str, str] = {
    "370100": "济南市总工会",
    "370200": "青岛市总工会",
    "370300": "淄博市总工会",
    "370400": "枣庄市总工会",
    "370500": "东营市总工会",
    "370600": "烟台市总工会",
    "370700": "潍坊市总工会",
    "370800": "济宁市总工会",
    "370900": "泰安市总工会",
    "371000": "威海市总工会",
    "371100": "日照市总工会",
    "371300": "临沂市总工会",
    "371400": "德州市总工会",
    "371500": "聊城市总工会",
    "371600": "滨州市总工会",
    "371700": "菏泽市总工会",
}

# County-level unions (a representative set; the roster import adds the rest as needed).
COUNTIES: dict[str, tuple[str, str]] = {
    "370102": ("历下区总工会", "370100"),
    "370103": ("市中区总工会", "370100"),
    "370104": ("槐荫区总工会", "370100"),
    "370105": ("天桥区总工会", "370100"),
    "370112": ("历城区总工会", "370100"),
    "370116": ("莱芜区总工会", "370100"),
    "370117": ("钢城区总工会", "370100"),
    "370202": ("市南区总工会", "370200"),
    "370203": ("市北区总工会", "370200"),
    "370211": ("黄岛区总工会", "370200"),
    "370212": ("崂山区总工会", "370200"),
    "370302": ("淄川区总工会", "370300"),
    "370303": ("张店区总工会", "370300"),
    "370402": ("市中区总工会", "370400"),
    "370502": ("东营区总工会", "370500"),
    "370602": ("芝罘区总工会", "370600"),
    "370702": ("潍城区总工会", "370700"),
    "370705": ("奎文区总工会", "370700"),
    "370811": ("任城区总工会", "370800"),
    "370902": ("泰山区总工会", "370900"),
    "371002": ("环翠区总工会", "371000"),
    "371102": ("东港区总工会", "371100"),
    "371302": ("兰山区总工会", "371300"),
    "371402": ("德城区总工会", "371400"),
    "371502": ("东昌府区总工会", "371500"),
    "371602": ("滨城区总工会", "371600"),
    "371702": ("牡丹区总工会", "371700"),
}

# A few townships/streets and enterprises so all five levels exist from the start.
TOWNSHIPS: dict[str, tuple[str, str]] = {
    "370102001": ("解放路街道总工会", "370102"),
    "370202001": ("八大关街道总工会", "370202"),
}
ENTERPRISES: dict[str, tuple[str, str]] = {
    "370102001001": ("济南某机械制造有限公司工会", "370102001"),
    "370202001001": ("青岛某港务集团工会", "370202001"),
}


def seed_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    pcode, pname = PROVINCE
    docs.append({"_id": pcode, "name": pname, "level": "province", "parent": None, "path": [pcode]})
    for code, name in CITIES.items():
        docs.append({"_id": code, "name": name, "level": "city", "parent": pcode, "path": [pcode, code]})
    paths = {d["_id"]: d["path"] for d in docs}
    for level, table in (("county", COUNTIES), ("township", TOWNSHIPS), ("enterprise", ENTERPRISES)):
        for code, (name, parent) in table.items():
            path = [*paths[parent], code]
            paths[code] = path
            docs.append({"_id": code, "name": name, "level": level, "parent": parent, "path": path})
    return docs
