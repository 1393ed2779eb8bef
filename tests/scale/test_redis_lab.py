"""The lab topologies the scale tests stand on are what they claim: a three-master Redis Cluster that
refuses cross-slot scripts like a production one, and a Sentinel pair whose failover keeps every write."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tools.redis_lab import cluster, sentinel


def test_three_master_cluster_spreads_slots_and_refuses_cross_slot_scripts(tmp_path: Path) -> None:
    with cluster(tmp_path, masters=3) as lab:
        assert lab.url.startswith("redis+cluster://") and lab.url.count(",") == 2
        owners = {lab.node_for_slot(slot).port for slot in (0, 8000, 16383)}
        assert owners == {n.port for n in lab.masters}
        client = lab.client()
        for i in range(30):
            client.set(f"k{i}", i)
        assert sum(int(n.client().dbsize()) for n in lab.masters) == 30
        assert client.eval("return redis.call('INCR', KEYS[1]) + redis.call('INCR', KEYS[2])", 2, "{a}x", "{a}y") == 2
        with pytest.raises(redis.ResponseError, match="same slot"):
            lab.masters[0].client().eval("return 1", 2, "a", "b")
        client.close()


def test_sentinel_failover_promotes_the_replica_with_every_write(tmp_path: Path) -> None:
    with sentinel(tmp_path) as lab:
        assert lab.url.startswith("redis+sentinel://") and lab.url.endswith("/mymaster/0")
        old = lab.master()
        for i in range(200):
            old.client().set(f"w{i}", i)
        new_port = lab.failover()
        assert new_port != old.port and lab.master().port == new_port
        master = lab.master().client()
        assert [master.get(f"w{i}") for i in range(200)] == [str(i) for i in range(200)]
        with pytest.raises(redis.ReadOnlyError):
            old.client().set("after", 1)
