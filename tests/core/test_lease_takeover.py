"""A lease held by a dead process of this host is taken over at once; a live or remote holder keeps it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from core.deps import Deps
from core.lease import Lease

HOST = socket.gethostname()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_a_dead_local_holder_is_taken_over_a_live_or_remote_one_is_not(deps: Deps) -> None:
    await deps.redis.set("t:lease", f"{HOST}:{dead_pid()}:0000", px=60_000)
    lease = Lease(deps.redis, "t:lease", ttl=30)
    assert await lease.acquire() and await lease.holder() == lease.owner

    await deps.redis.set("t:live", f"{HOST}:{os.getppid()}:0000", px=60_000)  # our parent is alive
    assert not await Lease(deps.redis, "t:live", ttl=30).acquire()
    await deps.redis.set("t:remote", f"other-host:{dead_pid()}:0000", px=60_000)  # cannot know: wait
    assert not await Lease(deps.redis, "t:remote", ttl=30).acquire()


async def test_two_leases_of_one_process_do_not_steal_from_each_other(deps: Deps) -> None:
    first = Lease(deps.redis, "t:same", ttl=30)
    assert await first.acquire()
    second = Lease(deps.redis, "t:same", ttl=30)  # same host and pid, a live owner: not a dead incarnation
    assert not await second.acquire()
    await deps.redis.set("t:same", f"{HOST}:{os.getpid()}:gone0000", px=60_000)  # an earlier incarnation (pid reuse)
    assert await second.acquire()
