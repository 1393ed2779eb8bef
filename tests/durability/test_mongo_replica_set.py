"""What the service sends MongoDB on a replica set: ledgers and flushes with w=majority, reports to a secondary.

The suite's MongoDB URL is the replica-set form (tests/conftest.py), so the production write path runs in
every test; these tests look at the commands on the wire (a pymongo command listener on the client the
service builds, core/db.connect_mongo) to check the write concern and read preference actually sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pymongo import monitoring

from core.db import Mongo, connect_mongo
from core.deps import Deps
from core.embedded import REPLICA_SET
from services import benefits
from services.consultation import store as consult_store
from services.learning import store as learning_store
from services.members.sessions import CurrentUser
from services.polls import flusher as ballot_flusher
from services.polls.voting import cast
from tests.benefits.test_ledger import req
from tests.mp.polls_helpers import make_poll

WRITES = ("insert", "update", "delete", "findAndModify")


class Wire(monitoring.CommandListener):
    """Every command the client sends, as sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def writes_to(self, collection: str) -> list[dict[str, Any]]:
        return [c for name, c in self.sent if name in WRITES and c.get(name) == collection]

    def reads_of(self, collection: str) -> list[dict[str, Any]]:
        return [c for name, c in self.sent if name in ("find", "aggregate") and c.get(name) == collection]


def direct_url(replica_set_url: str) -> str:
    return replica_set_url.replace(f"replicaSet={REPLICA_SET}", "directConnection=true")


Observe = Callable[[str], Awaitable[tuple[Deps, Wire]]]


@pytest.fixture
async def observe(deps: Deps, mongo_url: str) -> AsyncIterator[Observe]:
    """observe(url_form): the test's deps on a client made by connect_mongo with a listener, over that URL form."""
    assert f"replicaSet={REPLICA_SET}" in mongo_url  # the suite runs on the replica-set URL
    clients: list[Mongo] = []

    async def make(form: str) -> tuple[Deps, Wire]:
        wire = Wire()
        client = connect_mongo(mongo_url if form == "replica_set" else direct_url(mongo_url), listeners=[wire])
        clients.append(client)
        fresh = {"tasks": set(), "closers": [], "_slots": {}}
        return dataclasses.replace(deps, mongo=client, db=client[deps.settings.mongo.db], **fresh), wire

    yield make
    for client in clients:
        await client.close()


@pytest.mark.parametrize("form", ["replica_set", "direct"])
async def test_ledger_writes_and_flushes_are_majority_on_a_replica_set_and_journaled_on_one_server(
    observe: Observe, form: str
) -> None:
    d, wire = await observe(form)
    expected = {"w": "majority", "j": True} if form == "replica_set" else {"j": True}

    granted, new = await benefits.grant(d, req("M100"))  # the benefits ledger
    assert new and granted.id == "bday:2026:M100"
    poll = await make_poll(d)
    for i in range(3):
        await cast(d, CurrentUser(f"o_wc{i}"), poll["_id"], ["o1"], "10.0.0.1")
    assert await ballot_flusher.drain(d) == 3  # the ballots' write-behind flush (Redis → MongoDB)

    ledger, ballots = wire.writes_to("entitlements"), wire.writes_to("ballots")
    assert ledger and ballots
    assert [c.get("writeConcern") for c in ledger + ballots] == [expected] * len(ledger + ballots)
    # An ordinary write keeps the server's default: durable() is what asks for more.
    await d.db.scratch.insert_one({"x": 1})
    assert "writeConcern" not in wire.writes_to("scratch")[0]


async def test_reports_prefer_a_fresh_secondary_and_decisions_read_the_primary(observe: Observe) -> None:
    d, wire = await observe("replica_set")
    rows = [r async for r in learning_store.ledger(d.db, "370000", 2026)]  # the 学时台账 export
    assert rows == []
    assert await consult_store.open_case_of(d.db, "nobody:wage") is None  # "already an open case?": a decision

    (report,) = wire.reads_of("learning_credits")
    assert report["$readPreference"] == {"mode": "secondaryPreferred", "maxStalenessSeconds": 90}
    (decision,) = wire.reads_of("consult_cases")
    assert "$readPreference" not in decision  # primary
