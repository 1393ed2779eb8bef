"""Durable before delete: the MongoDB-wire server SIGKILLed right after a flush keeps every acknowledged write.

The flushers delete from Redis once MongoDB answered; that is only safe when the answer means "journaled"
(storage/batching.durable). The test runs its own MongoDB-wire server (never the session's) so it can kill it.
"""

from __future__ import annotations

import signal
from pathlib import Path

from core.deps import build_deps, close_deps
from core.embedded import start_mongo
from seed import seed_all
from services.activities import signups_store as signups_repo
from services.activities.flusher import flush_all
from services.indexes import ensure_indexes
from services.members.sessions import CurrentUser
from services.polls import ballots_store as ballots
from services.polls import flusher as ballot_flusher
from services.polls.voting import cast
from tests.conftest import Deps
from tests.mp.polls_helpers import make_poll
from tests.mp_activities.test_signups import published, sign

BALLOTS = 40
SIGNUPS = 12


async def test_killed_mongo_keeps_every_flushed_ballot_sign_up_and_content(deps: Deps, tmp_path: Path) -> None:
    own = await start_mongo(tmp_path)
    d1 = build_deps(deps.settings, redis_url=deps.settings.redis.url, mongo_url=own.url)
    try:
        await ensure_indexes(d1.db)
        await seed_all(d1.db)
        poll = await make_poll(d1)
        aid = await published(d1, capacity=SIGNUPS)
        for i in range(BALLOTS):
            await cast(d1, CurrentUser(f"o_k{i}"), poll["_id"], ["o1"], "10.0.0.1")
        for i in range(SIGNUPS):
            await sign(d1, aid, f"u{i}")
        assert await ballot_flusher.drain(d1) == BALLOTS
        assert await flush_all(d1) == SIGNUPS
        assert await ballots.pending_count(d1.redis) == 0  # deleted from Redis: MongoDB is the only copy now
    finally:
        await close_deps(d1)
    own.process.send_signal(signal.SIGKILL)  # right after the flush: nothing had time to reach disk lazily
    own.process.wait()
    again = await start_mongo(tmp_path)
    d2 = build_deps(deps.settings, redis_url=deps.settings.redis.url, mongo_url=again.url)
    try:
        assert await ballots.count(d2.db, poll["_id"]) == BALLOTS
        assert await signups_repo.count_by_status(d2.db, aid) == {"confirmed": SIGNUPS}
        assert await d2.db.polls.find_one({"_id": poll["_id"]}) is not None
        assert await d2.db.activities.find_one({"_id": aid}) is not None
    finally:
        await close_deps(d2)
        again.stop()
