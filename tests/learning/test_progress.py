"""Honest progress: replayed sessions with seeking, parallel tabs and replays earn only what was watched."""

from __future__ import annotations

from core.deps import Deps
from services.learning import admin, jobs, studying
from storage.key_moves import move_keys
from tests.learning.conftest import Clock, published_course, worker


async def test_seek_spam_and_a_parallel_tab_earn_nothing_beyond_the_watched_seconds(deps: Deps, clock: Clock) -> None:
    cid = await published_course(deps, org="370000")
    me = worker("o_learner")
    await studying.start_unit(deps, me, cid, "v1")
    watched = 0
    for _ in range(6):  # the real tab: plays 15 s, reports it, six times
        clock.advance(15)
        beat = await studying.heartbeat(deps, me, cid, "v1", watched, watched + 15)
        assert beat.counted
        watched += 15
        # 2 s later the same learner drags the bar to the end and claims the whole video ...
        clock.advance(2)
        spam = await studying.heartbeat(deps, me, cid, "v1", 0, 120)
        # ... and 3 s after that a second tab reports "its" 15 s further on.
        clock.advance(3)
        tab = await studying.heartbeat(deps, me, cid, "v1", 100, 115)
        assert not spam.counted and not tab.counted and spam.credited_s == tab.credited_s == 0
        clock.advance(-5)  # the next real heartbeat comes 15 s after the previous real one
    assert watched == 90
    page = await studying.detail(deps, me, cid)
    video = page["units"][0]
    assert video["covered_seconds"] == 90 and video["position"] == 90 and not video["done"]


async def test_adversarial_timing_is_capped_at_one_and_a_quarter_of_the_wall_clock(deps: Deps, clock: Clock) -> None:
    """Heartbeats spaced just over the 10 s gate, alternating a seek to the end and a second tab."""
    cid = await published_course(deps, org="370000")
    me = worker("o_cheat")
    await studying.start_unit(deps, me, cid, "v1")
    started, credited = clock.ms, 0
    claims = [(0, 120), (40, 120), (100, 115), (5, 60), (60, 120)] * 2
    for seg in claims:
        clock.advance(10.2)
        beat = await studying.heartbeat(deps, me, cid, "v1", *seg)
        assert beat.counted and beat.credited_s <= 12  # floor(1.25 x 10.2 s)
        credited += beat.credited_s
    wall = (clock.ms - started) / 1000
    assert credited == beat.covered_s <= 1.25 * wall  # at most 12 s a beat, never the 120 s claimed
    assert beat.covered_s < 108 and not beat.unit_done  # 102 s of wall clock did not finish a 120 s video
    await jobs.flush_all(deps)
    from tests.learning.conftest import scope

    flagged = await admin.anomalies(deps, scope(), cid)
    assert [(a["openid"], a["unit"]) for a in flagged] == [("o_cheat", "v1")] and flagged[0]["refused_seconds"] > 60


async def test_a_paused_player_gets_no_credit_for_the_pause(deps: Deps, clock: Clock) -> None:
    cid = await published_course(deps, org="370000")
    me = worker("o_pause")
    await studying.start_unit(deps, me, cid, "v1")
    clock.advance(600)  # ten minutes on pause, then one claim of the whole video
    beat = await studying.heartbeat(deps, me, cid, "v1", 0, 120)
    assert beat.counted and beat.credited_s == 37  # 1.25 x at most 30 s


async def test_a_heartbeat_for_a_unit_not_started_is_a_chinese_409(deps: Deps, clock: Clock) -> None:
    cid = await published_course(deps, org="370000")
    me = worker("o_early")
    from core.errors import Conflict

    try:
        await studying.heartbeat(deps, me, cid, "v1", 0, 15)
    except Conflict as exc:
        assert exc.code == "unit_not_started" and "请先开始学习" in exc.message
    else:
        raise AssertionError("a heartbeat before start must be refused")


async def test_progress_survives_losing_redis_and_resumes_where_it_stopped(deps: Deps, clock: Clock) -> None:
    cid = await published_course(deps, org="370000")
    me = worker("o_durable")
    await studying.start_unit(deps, me, cid, "v1")
    for pos in (0, 15, 30):
        clock.advance(15)
        await studying.heartbeat(deps, me, cid, "v1", pos, pos + 15)
    assert await jobs.flush_all(deps) >= 1
    stored = await deps.db.learning_progress.find_one({"_id": f"{cid}:v1:o_durable"})
    assert stored["cov"] == 45 and stored["segs"] == [[0, 45]]
    await deps.redis.flushall()  # Redis lost everything
    clock.advance(15)
    beat = await studying.heartbeat(deps, me, cid, "v1", 45, 60)  # reloaded from MongoDB; the clock restarts
    assert beat.covered_s == 45 and not beat.counted
    clock.advance(15)  # the player merges the uncounted segment into the next heartbeat
    beat = await studying.heartbeat(deps, me, cid, "v1", 45, 75)
    assert beat.counted and beat.covered_s == 63  # 1.25 x 15 s of the 30 s claimed
    resumed = await studying.start_unit(deps, me, cid, "v1")
    assert resumed["position"] == 75 and resumed["covered_seconds"] == 63


async def test_a_completion_interrupted_by_a_crash_is_recorded_by_the_next_heartbeat(deps: Deps, clock: Clock) -> None:
    """The script crossed 90 % but the process died before MongoDB heard of it: nothing earned is lost."""
    from services.learning import live

    short = {"id": "v1", "kind": "video", "title": "短片", "url": "https://v.example/s.mp4", "duration_s": 20}
    cid = await published_course(deps, org="370000", units=[short])
    me = worker("o_crash")
    await studying.start_unit(deps, me, cid, "v1")
    clock.advance(20)
    beat = await live.live(deps).heartbeat(me.openid, cid, "v1", 0, 20, clock.ms)  # the script alone, then "crash"
    assert beat.done_ms and beat.needs_record
    assert await deps.db.learning_enrollments.find_one({"_id": f"{cid}:o_crash", "completed_at": {"$ne": None}}) is None
    clock.advance(3)  # a retry inside the 10 s gate: not counted, yet it finishes the record
    again = await studying.heartbeat(deps, me, cid, "v1", 0, 20)
    assert not again.counted and again.unit_done and again.course_completed and again.certificate
    assert await deps.db.learning_credits.count_documents({"openid": "o_crash"}) == 1
    clock.advance(15)
    assert (await studying.heartbeat(deps, me, cid, "v1", 0, 20)).certificate == ""  # recorded once


async def test_write_behind_never_goes_back_and_waits_for_a_minute(deps: Deps, clock: Clock) -> None:
    from services.learning import store

    row = {"course": "c1", "unit": "v1", "openid": "o_w", "segs": [[0, 30]], "cov": 30, "pos": 30, "done_ms": 0,
           "rec": False, "v": 5}  # fmt: skip
    await store.write_progress(deps.db, [row])
    await store.write_progress(deps.db, [{**row, "cov": 15, "segs": [[0, 15]], "v": 3}])  # a late, older batch
    assert (await store.get_progress(deps.db, "c1", "v1", "o_w"))["cov"] == 30
    from services.learning import live

    clock.ms = live.now_ms()  # the flusher ages keys by the real clock
    cid = await published_course(deps, org="370000")
    me = worker("o_young")
    await studying.start_unit(deps, me, cid, "v1")
    clock.advance(15)
    await studying.heartbeat(deps, me, cid, "v1", 0, 15)
    assert await jobs.flush_once(deps, min_age_ms=jobs.MIN_AGE_MS) == 0  # changed just now: it waits
    assert await jobs.flush_once(deps) == 1 and await jobs.flush_once(deps) == 0  # acknowledged, not written twice


async def test_progress_left_under_the_previous_key_names_is_neither_lost_nor_stuck(deps: Deps, clock: Clock) -> None:
    """Upgrade to the Redis Cluster layout: progress not yet written to MongoDB sits in `ln:u:{<openid>}:..`
    and the one `ln:dirty` queue. The flusher drains that queue; a learner who opens the unit again gets
    the moved state, not MongoDB's older copy."""
    from services.learning import live

    cid = await published_course(deps, org="370000")
    old_a, old_b = worker("o_old_a"), worker("o_old_b")
    for me in (old_a, old_b):
        await studying.start_unit(deps, me, cid, "v1")
        for pos in (0, 15):
            clock.advance(15)
            await studying.heartbeat(deps, me, cid, "v1", pos, pos + 15)
    # As the previous release left them: old names, nothing written to MongoDB yet.
    await deps.redis.delete(live.dirty_key("o_old_a"))
    await deps.redis.delete(live.dirty_key("o_old_b"))
    for me in (old_a, old_b):
        new, old = live.unit_key(me.openid, cid, "v1"), f"ln:u:{{{me.openid}}}:{cid}:v1"
        assert await move_keys(deps.redis, [(new, old)]) == 1
        await deps.redis.zadd(live.LEGACY_DIRTY, {old: clock.ms})
    resumed = await studying.start_unit(deps, old_a, cid, "v1")  # moved on open
    assert resumed["covered_seconds"] == 30 and resumed["position"] == 30
    assert await jobs.flush_all(deps) == 2  # o_old_b's from the old queue, o_old_a's moved one
    for openid in ("o_old_a", "o_old_b"):
        stored = await deps.db.learning_progress.find_one({"_id": f"{cid}:v1:{openid}"})
        assert stored is not None and stored["cov"] == 30 and stored["openid"] == openid
    assert await deps.redis.zcard(live.LEGACY_DIRTY) == 0 and await jobs.flush_all(deps) == 0
