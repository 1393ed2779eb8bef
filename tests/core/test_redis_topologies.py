"""Every Redis client we open follows the topology redis.url names: a three-master Cluster and Sentinel.

Real servers (tools/redis_lab.py, Debian's redis-server): the pipelined connection routes each command
to the master owning its slot, follows MOVED after a slot moved and ASK while it migrates; the
Sentinel-watched pipe and redis-py client find the new master after a failover; the scheduler's
blocking client reaches the same data; CROSSSLOT is refused by the server and answered 503 by handlers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from redis.exceptions import RedisClusterException, ResponseError

from core.db import connect_pipe, connect_redis, connect_redis_sync
from core.outage import is_storage_fault, is_unavailable
from core.redis_pipe import RedisReplyError
from storage.batching import ScriptBatcher
from storage.keys import all_shard_tags, slot
from tools.redis_lab import RedisCluster, RedisSentinel, start_cluster, start_sentinel


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    lab = start_cluster(tmp_path_factory.mktemp("cluster"), masters=3)
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinel]:
    lab = start_sentinel(tmp_path_factory.mktemp("sentinel"))
    yield lab
    lab.stop()


INCR_BOTH = "return {redis.call('incr', KEYS[1]), redis.call('incr', KEYS[2])}"


async def test_the_pipe_routes_every_command_to_its_slots_master(cluster: RedisCluster) -> None:
    pipe = connect_pipe(cluster.url)
    client = connect_redis(cluster.url)
    try:
        keys = [f"t:route:{i}" for i in range(60)]
        assert len({cluster.node_for_slot(slot(k)).port for k in keys}) == 3  # the keys span every master
        replies = await pipe.execute_many([("SET", k, i) for i, k in enumerate(keys)])
        assert replies == ["OK"] * 60
        assert [await client.get(k) for k in keys] == [str(i) for i in range(60)]  # redis-py sees the same data
        for k in keys[:5]:  # each key is on its own slot's master, nowhere else
            node = cluster.node_for_slot(slot(k))
            assert node.cmd("GET", k) == str(keys.index(k))
        # One script over two keys of one partition tag: one slot, so the cluster runs it atomically.
        tag = all_shard_tags("t")[5]
        script = ScriptBatcher(pipe, INCR_BOTH)
        assert await script([f"a:{tag}", f"b:{tag}"], []) == [1, 1]
        with pytest.raises(RedisReplyError, match="CROSSSLOT"):  # two slots: refused by Redis itself
            await script(["t:x:{one}", "t:x:{two}"], [])
    finally:
        await pipe.close()
        await client.aclose()


async def test_the_pipe_follows_a_slot_moved_to_another_master(cluster: RedisCluster) -> None:
    pipe = connect_pipe(cluster.url)
    try:
        key = "t:moving"
        assert await pipe.execute("SET", key, "before") == "OK"  # the pipe has learned the slot map
        s = slot(key)
        source = cluster.node_for_slot(s)
        target = next(n for n in cluster.masters if n.port != source.port)
        target_id, source_id = target.cmd("CLUSTER", "MYID"), source.cmd("CLUSTER", "MYID")
        target.cmd("CLUSTER", "SETSLOT", s, "IMPORTING", source_id)
        source.cmd("CLUSTER", "SETSLOT", s, "MIGRATING", target_id)
        # While the slot migrates and the key has not moved yet, the source still answers.
        assert await pipe.execute("GET", key) == "before"
        source.cmd("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", key)
        # Key moved, slot still migrating: the source answers ASK, the pipe asks the target.
        assert await pipe.execute("GET", key) == "before"
        for node in cluster.masters:
            node.cmd("CLUSTER", "SETSLOT", s, "NODE", target_id)
        # Slot now owned by the target: the source answers MOVED, the pipe updates its map and resends.
        assert await pipe.execute("INCR", "t:moving:n") in (1,)  # another key, maybe another slot: just works
        assert await pipe.execute("SET", key, "after") == "OK"
        assert target.cmd("GET", key) == "after"
        assert pipe._slots[s] == ("127.0.0.1", target.port)  # noqa: SLF001 - the map learned the move
    finally:
        await pipe.close()


async def test_pre_encoded_batches_are_refused_on_a_cluster(cluster: RedisCluster) -> None:
    pipe = connect_pipe(cluster.url)
    try:
        with pytest.raises(TypeError):
            await pipe.execute_many((b"*1\r\n$4\r\nPING\r\n", 1))
    finally:
        await pipe.close()


async def test_scheduler_client_and_cluster_transactions(cluster: RedisCluster) -> None:
    sync = connect_redis_sync(cluster.url)
    client = connect_redis(cluster.url)
    try:
        async with client.pipeline(transaction=True) as tx:
            tx.hset("{sched}:jobs", "j", "1")
            tx.zadd("{sched}:run_times", {"j": 1})
            await tx.execute()
        assert sync.hget("{sched}:jobs", "j") == b"1"  # the job store's blocking client reads the same cluster
        # Two slots in one transaction: refused (by redis-py before sending, or by the server).
        with pytest.raises((ResponseError, RedisClusterException)) as refused:
            async with client.pipeline(transaction=True) as tx:
                tx.set("t:tx:{a}", 1)
                tx.set("t:tx:{b}", 1)
                await tx.execute()
        assert is_storage_fault(refused.value)  # a handler answers it 503, and logs the traceback
    finally:
        sync.close()
        await client.aclose()


async def test_sentinel_clients_follow_a_failover(sentinel: RedisSentinel) -> None:
    pipe = connect_pipe(sentinel.url)
    client = connect_redis(sentinel.url)
    try:
        assert await pipe.execute("SET", "t:failover", "1") == "OK"
        assert await client.incr("t:failover") == 2
        before = sentinel.master().port
        await asyncio.to_thread(sentinel.failover)
        assert sentinel.master().port != before
        # The first command may meet the old connection's end (a 503 for its request); then the new master.
        for _ in range(50):
            try:
                value = await pipe.execute("INCR", "t:failover")
                break
            except Exception as exc:  # noqa: BLE001 - must be a "try again" kind of error
                assert is_unavailable(exc) or "READONLY" in str(exc), exc
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the pipe never reached the new master")
        assert value == 3  # nothing acknowledged before the failover was lost
        for _ in range(50):
            try:
                assert await client.incr("t:failover") == 4
                break
            except Exception as exc:  # noqa: BLE001
                assert is_unavailable(exc), exc
                await asyncio.sleep(0.1)
        assert sentinel.master().cmd("GET", "t:failover") == "4"
    finally:
        await pipe.close()
        await client.aclose()


def test_the_scheduler_job_store_works_on_a_cluster(cluster: RedisCluster) -> None:
    import datetime

    from apscheduler.jobstores.redis import RedisJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    store = RedisJobStore(jobs_key="{sched}:jobs", run_times_key="{sched}:run_times")
    store.redis = connect_redis_sync(cluster.url)
    scheduler = BackgroundScheduler(jobstores={"default": store})
    scheduler.start()
    try:
        soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        for job_id in ("j1", "j2"):
            scheduler.add_job(print, "date", run_date=soon, id=job_id)
        scheduler.reschedule_job("j1", trigger="date", run_date=soon + datetime.timedelta(hours=1))
        scheduler.remove_job("j2")
        assert [job.id for job in scheduler.get_jobs()] == ["j1"]
        assert cluster.client().zcard("{sched}:run_times") == 1  # what another leader would find after failover
    finally:
        scheduler.shutdown(wait=False)
