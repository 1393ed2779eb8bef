"""The Redis Cluster key layout (storage/keys.py): tags land in one slot, partitions spread, shards stay put."""

from __future__ import annotations

from collections import Counter

import pytest

from storage.keys import SHARDS, SLOTS, all_shard_tags, entity_shard_tag, entity_tag, shard_of, shard_tag, slot


def test_an_aggregates_keys_share_one_slot() -> None:
    tag = entity_tag("poll", "42")
    keys = [f"mp:poll:{tag}:meta", f"mp:poll:{tag}:counts", f"mp:poll:{tag}:u"]
    assert len({slot(k) for k in keys}) == 1
    assert slot(keys[0]) == slot(tag.strip("{}"))  # only the part inside {...} counts


def test_partition_tags_spread_evenly_over_the_slot_space() -> None:
    """Partition n hashes into the n-th sixteenth of the slots: on masters with even slot ranges
    (redis-cli --cluster create), every master gets the same number of partitions."""
    width = SLOTS // SHARDS
    for space in ("cpn", "lot", "ln", "msg", "anything"):
        tags = all_shard_tags(space)
        assert len(set(tags)) == SHARDS
        assert [slot(t) // width for t in tags] == list(range(SHARDS))
        for masters in (2, 4, 8, 16):  # masters that divide SHARDS get exactly SHARDS / masters each
            assert set(Counter(slot(t) * masters // SLOTS for t in tags).values()) == {SHARDS // masters}
        # Three masters: a sixteenth straddling a range boundary goes to either side, still no idle master.
        assert min(Counter(slot(t) * 3 // SLOTS for t in tags).values()) >= 4


def test_an_aggregate_and_its_partition_stream_share_a_slot() -> None:
    for entity in ("b1", "2024-coupons", "o" * 28):
        tag = entity_shard_tag("cpn", entity)
        assert slot(f"cpn:{tag}:{entity}:stock") == slot(f"cpn:grants:{tag}")
        assert tag == shard_tag("cpn", shard_of(entity))


def test_shards_are_stable_across_processes_and_releases() -> None:
    # Fixed values: a change here moves live aggregates to other partitions (their keys orphaned).
    assert [shard_of(x) for x in ("a", "b1", "oABC123", "poll:42")] == [3, 0, 1, 12]
    assert [shard_tag("cpn", n) for n in (0, 1, 15)] == ["{cpn.0.63}", "{cpn.1.60}", "{cpn.15.0}"]
    assert {shard_of(f"id{n}") for n in range(2000)} == set(range(SHARDS))
    counts = Counter(shard_of(f"o{n:08d}") for n in range(16000))
    assert max(counts.values()) < 1.15 * 1000 and min(counts.values()) > 0.85 * 1000


def test_shard_tag_refuses_a_partition_outside_the_range() -> None:
    with pytest.raises(ValueError):
        shard_tag("cpn", SHARDS)
