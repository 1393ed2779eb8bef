"""A MongoDB election as users meet it: a 503 "try again" for a few seconds, nothing half-done, nothing lost.

The suite's MongoDB-wire server runs with test commands (tests/conftest.py), so a test can make it answer
like a primary in an election: `configureFailPoint failCommand` with NotWritablePrimary (10107), scoped
to the service's client (appName "sdgh") so the test's own direct client keeps working; or step it down
for real (`replSetStepDown`, force): it then reports itself SECONDARY, refuses writes and serves reads.

What pymongo does (core/db.connect_mongo): a "not primary" answer marks the server Unknown and the
write is retried once (retryWrites) on the next primary it discovers; with none within
serverSelectionTimeoutMS (5 s) the request fails with a ConnectionFailure, answered 503 with
Retry-After. On a real replica set the new primary announces itself at once; here the client finds the
node writable again at its next heartbeat (≤ 10 s), which is why the tests allow ~15 s to recover.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import ConnectionFailure

from core.clock import now
from core.deps import Deps
from core.embedded import REPLICA_SET
from services.learning import store as learning_store
from tests.conftest import Fetch
from tests.consultation.conftest import Worker, make_worker
from tests.mp.conftest import MpClient

WRITES = ["insert", "update", "delete", "findAndModify"]
NOT_WRITABLE_PRIMARY = 10107
RECOVERY_SECONDS = 15.0
CASE = {"category": "wage", "text": "公司已经三个月没有发工资了"}


@pytest.fixture
async def admin(mongo_url: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """The test's own direct connection (its own appName): unaffected by the failpoints it sets."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_url.replace(f"replicaSet={REPLICA_SET}", "directConnection=true"), appname="election-test"
    )
    yield client
    await client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    await client.close()


async def fail_writes(admin: AsyncMongoClient[dict[str, Any]], mode: Any, **data: Any) -> None:
    """Make the service's writes fail as `data` says (the service's client names itself "sdgh")."""
    command = {"configureFailPoint": "failCommand", "mode": mode,
               "data": {"failCommands": WRITES, "appName": "sdgh", **data}}  # fmt: skip
    await admin.admin.command(command)


@pytest.fixture
async def worker(deps: Deps, fetch: Fetch, fake_wechat: Any) -> Worker:
    return await make_worker(deps, MpClient(fetch, fake_wechat), "election")


async def open_case(fetch: Fetch, w: Worker, key: str, body: dict[str, str] = CASE) -> tuple[int, Any, str]:
    resp = await fetch("/api/mp/cases", method="POST", body=json.dumps(body, ensure_ascii=False),
                       headers={"Authorization": f"Bearer {w.token}", "Idempotency-Key": key})  # fmt: skip
    return resp.code, json.loads(resp.body) if resp.body else None, resp.headers.get("Retry-After", "")


async def test_an_election_answers_503_then_the_same_request_opens_exactly_one_case(
    deps: Deps, fetch: Fetch, worker: Worker, admin: AsyncMongoClient[dict[str, Any]]
) -> None:
    cases = admin[deps.settings.mongo.db].consult_cases
    await fail_writes(admin, "alwaysOn", errorCode=NOT_WRITABLE_PRIMARY)  # the primary steps down...
    try:
        status, body, retry_after = await open_case(fetch, worker, "election-0001")
    finally:
        await fail_writes(admin, "off")  # ...and the election is over
    over = time.monotonic()
    assert (status, body, retry_after) == (503, {"code": "unavailable", "message": "服务繁忙，请稍后重试"}, "5")
    assert await cases.count_documents({}) == 0  # nothing half-written

    # The worker taps again (the app waits Retry-After; the test polls faster) with the same key.
    while True:
        status, body, _ = await open_case(fetch, worker, "election-0001")
        if status != 503 or time.monotonic() - over > RECOVERY_SECONDS:
            break
    assert status == 201, body
    assert time.monotonic() - over < RECOVERY_SECONDS
    assert await cases.count_documents({}) == 1 and (await cases.find_one({}) or {})["_id"] == body["id"]
    # The failed attempt gave back its place in the daily limit of five: four more categories fit today.
    for i, category in enumerate(("injury", "contract", "insurance", "other")):
        more = {"category": category, "text": "另一个问题的描述"}
        assert (await open_case(fetch, worker, f"election-100{i}", more))[0] == 201


async def test_a_dropped_connection_before_a_write_is_retried_unseen(
    deps: Deps, fetch: Fetch, worker: Worker, admin: AsyncMongoClient[dict[str, Any]]
) -> None:
    await fail_writes(admin, {"times": 1}, closeConnection=True)
    status, body, _ = await open_case(fetch, worker, "blip-0001")
    assert status == 201, body
    assert await admin[deps.settings.mongo.db].consult_cases.count_documents({}) == 1


async def test_a_write_whose_answer_is_lost_is_retried_and_applied_once(
    deps: Deps, fetch: Fetch, worker: Worker, admin: AsyncMongoClient[dict[str, Any]]
) -> None:
    # The insert is applied, then its answer reports a retryable failure (as when the acknowledgement
    # is lost): pymongo sends it again with the same transaction number and the server, which remembers
    # it, answers without inserting twice (a second insert would even fail on the unique _id).
    await fail_writes(admin, {"times": 1}, writeConcernError={"code": 6, "errmsg": "host unreachable"},
                      errorLabels=["RetryableWriteError"])  # fmt: skip
    status, body, _ = await open_case(fetch, worker, "lost-0001")
    assert status == 201, body
    cases = admin[deps.settings.mongo.db].consult_cases
    assert await cases.count_documents({}) == 1 and (await cases.find_one({}) or {})["_id"] == body["id"]


async def test_during_a_step_down_reports_still_answer_and_writes_wait_for_a_primary(
    deps: Deps, admin: AsyncMongoClient[dict[str, Any]]
) -> None:
    db = deps.db
    credit = {"openid": "o1", "member_id": "M1", "name": "张三", "org": "370102", "org_path": ["370000", "370102"],
              "year": 2026, "credit_hours": 2.0}  # fmt: skip
    await db.learning_credits.insert_one(credit)
    await admin.admin.command({"replSetStepDown": 4, "force": True})  # SECONDARY for 4 s, like an election
    started = time.monotonic()
    rows = [r async for r in learning_store.ledger(db, "370000", 2026)]  # a report: a secondary may serve it
    assert [(r["member_id"], r["hours"]) for r in rows] == [("M1", 2.0)]
    assert time.monotonic() - started < 2
    with pytest.raises(ConnectionFailure):  # a write finds no primary: the handlers answer 503
        await db.learning_credits.insert_one({"openid": "o2", "year": 2026, "at": now()})
    while True:  # the node is primary again after 4 s; the client sees it at its next heartbeat
        try:
            await db.learning_credits.insert_one({"openid": "o2", "year": 2026, "at": now()})
            break
        except ConnectionFailure:
            assert time.monotonic() - started < RECOVERY_SECONDS
    assert await db.learning_credits.count_documents({"openid": "o2"}) == 1


async def test_a_write_caught_by_a_step_down_before_the_majority_confirmed_it_answers_503_then_its_case(
    deps: Deps, fetch: Fetch, worker: Worker, admin: AsyncMongoClient[dict[str, Any]]
) -> None:
    # Applied on the old primary, then "primary stepped down" instead of the majority's acknowledgement:
    # pymongo retries once, finds no primary within 5 s and raises the original WriteConcernError (an
    # OperationFailure, not a ConnectionFailure). That is still an election to the user: 503, not 500.
    await fail_writes(admin, {"times": 1}, writeConcernError={"code": 189, "errmsg": "primary stepped down"},
                      errorLabels=["RetryableWriteError"])  # fmt: skip
    status, body, retry_after = await open_case(fetch, worker, "stepped-0001")
    over = time.monotonic()
    assert (status, body["message"], retry_after) == (503, "服务繁忙，请稍后重试", "5")
    while True:  # the same tap again: the case the old primary had applied, answered once
        status, body, _ = await open_case(fetch, worker, "stepped-0001")
        if status != 503 or time.monotonic() - over > RECOVERY_SECONDS:
            break
    assert status == 201, body
    cases = admin[deps.settings.mongo.db].consult_cases
    assert await cases.count_documents({}) == 1 and (await cases.find_one({}) or {})["_id"] == body["id"]
