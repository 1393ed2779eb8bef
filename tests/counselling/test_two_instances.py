"""Two service instances sharing MongoDB (each with its own clients and its own sweeper): still one slot, one person."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tornado.testing import bind_unused_port

from app import Server, make_app
from core.deps import Deps, build_deps, close_deps
from services.counselling import jobs
from tests.conftest import Fetch
from tests.counselling.conftest import INTAKE, Api, late_slots, make_counsellor, member, token_for


@pytest.fixture
async def second(deps: Deps, redis_url: str, mongo_url: str) -> AsyncIterator[Api]:
    """Another instance of the app: new Redis and MongoDB clients, its own HTTP server and sweeper loop."""
    import tornado.httpclient

    other = build_deps(deps.settings, redis_url=redis_url, mongo_url=mongo_url)
    await jobs.start(other)
    sock, port = bind_unused_port()
    server = Server(make_app(other))
    server.add_sockets([sock])
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)

    async def fetch(path: str, **kw: object) -> tornado.httpclient.HTTPResponse:
        return await client.fetch(f"http://127.0.0.1:{port}{path}", raise_error=False, **kw)  # type: ignore[arg-type]

    yield Api(fetch)
    client.close()
    server.stop()
    await close_deps(other)


async def test_holds_split_over_two_instances_still_give_one_booking_per_slot(
    deps: Deps, fetch: Fetch, api: Api, second: Api
) -> None:
    await make_counsellor(deps, "two_xl")
    slots = await late_slots(deps, "two_xl", 10)
    tokens = await asyncio.gather(*(token_for(deps, member(f"t{i}")) for i in range(100)))
    instances = (api, second)
    holds = await asyncio.gather(
        *(
            instances[i % 2].call("POST", f"/api/mp/counselling/slots/{slots[i % 10]}/hold", t)
            for i, t in enumerate(tokens)
        )
    )
    won = [(i, b) for i, (c, b) in enumerate(holds) if c == 201]
    assert len(won) == 10 and {b["slot_id"] for _, b in won} == set(slots)
    confirms = await asyncio.gather(  # each confirmed on the other instance than the one that held
        *(instances[(i + 1) % 2].call("POST", f"/api/mp/counselling/bookings/{b['id']}/confirm", tokens[i], INTAKE)
          for i, b in won)
    )  # fmt: skip
    assert [c for c, _ in confirms] == [200] * 10
    booked = await deps.db.counselling_bookings.find({"status": "confirmed"}).to_list(None)
    assert len(booked) == 10 and len({b["member"] for b in booked}) == 10 and len({b["slot_id"] for b in booked}) == 10
