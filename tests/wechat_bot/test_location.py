"""Location: the three nearest worker-service centres, from a 2dsphere query over the seeded list."""

from __future__ import annotations

from core.deps import Deps
from services.followers import centres
from services.orgs.store import seed_docs
from tests.wechat_bot.conftest import SimFactory


async def test_every_city_has_a_centre_and_finds_it_first(deps: Deps) -> None:
    cities = [d for d in seed_docs() if d["level"] == "city"]
    assert len(cities) == 16
    for city in cities:
        centre = await deps.db.centres.find_one({"_id": f"{city['_id']}-01"})
        assert centre is not None, city["name"]
        lng, lat = centre["loc"]["coordinates"]
        nearest = await centres.nearest(deps.db, lat + 0.01, lng - 0.01)
        assert [c["_id"] for c in nearest][0] == centre["_id"], city["name"]
        assert len(nearest) == 3 and nearest[0]["distance"] < nearest[1]["distance"] <= nearest[2]["distance"]


async def test_location_message_answers_and_remembers(make_sim: SimFactory, deps: Deps) -> None:
    sim = make_sim("safe", "json")
    r = await sim.send(sim.location("o_loc", 37.5393, 121.3914, label="烟台市芝罘区"))
    assert r.reply is not None
    lines = r.reply["Content"].splitlines()
    assert lines[0] == "离您最近的职工服务中心："
    assert lines[1].startswith("1. 烟台市职工服务中心（约") and "电话：12351" in lines[3]
    doc = await deps.db.followers.find_one({"_id": "o_loc"})
    assert doc is not None
    assert doc["location"] == {"type": "Point", "coordinates": [121.3914, 37.5393]}


async def test_nonsense_coordinates_get_a_helpful_answer(make_sim: SimFactory) -> None:
    sim = make_sim("plain")
    for lat, lng in ((0.0, 0.0), (95.0, 117.0), (36.0, 200.0)):
        r = await sim.send(sim.location("o_loc_bad", lat, lng))
        assert r.reply is not None and "没能识别您发送的位置" in r.reply["Content"]
    r = await sim.send({**sim.location("o_loc_bad", 1, 1), "Location_X": "north"})
    assert r.reply is not None and "没能识别" in r.reply["Content"]


def test_distances_read_naturally() -> None:
    assert centres.distance_text(4) == "10米"
    assert centres.distance_text(846) == "850米"
    assert centres.distance_text(12_345) == "12.3公里"
    assert centres.distance_text(345_678) == "346公里"
