"""Real Redis topologies on loopback for tests and benchmarks: a Redis Cluster and a Sentinel set-up.

Debian's `/usr/bin/redis-server` (7.0; `tools/ensure_redis_server.sh` installs it) runs as child
processes under a data directory, each with PR_SET_PDEATHSIG (core/embedded.py's `_spawn`), so a test
run that dies leaves no server behind. Start them from the main thread: the kernel delivers the
parent-death signal when the *thread* that forked the child exits.

    cluster = start_cluster(tmp / "rc", masters=3)   # cluster.url == "redis+cluster://127.0.0.1:p1,..."
    sentinel = start_sentinel(tmp / "rs")            # sentinel.url == "redis+sentinel://.../mymaster/0"
    sentinel.failover()                               # the replica becomes master; returns its port
    cluster.stop(); sentinel.stop()

Every data node keeps an append-only file (fsync every second unless `appendfsync` says otherwise),
so a node restarted on the same directory comes back with what it acknowledged.

`python -m tools.redis_lab cluster|sentinel DATA_DIR [--port P]` starts one by hand until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from core.embedded import _free_port, _spawn

SLOTS = 16384
MASTER_NAME = "mymaster"


class LabError(RuntimeError):
    """A lab topology did not come up (or fail over) in time; the message carries the node's log tail."""


def redis_server_path() -> str:
    path = "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else shutil.which("redis-server")
    if not path:
        raise LabError("redis-server is not installed: run tools/ensure_redis_server.sh (apt-get install redis-server)")
    return path


def _wait(what: str, check: Callable[[], bool], timeout: float, tail: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        time.sleep(0.05)
    raise LabError(f"{what} not reached within {timeout:.0f}s\n{tail()}")


@dataclass
class RedisNode:
    """One redis-server (data node or sentinel) on 127.0.0.1:port with its home directory."""

    port: int
    home: Path
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    role: str = "data"  # "data" | "sentinel"
    bus_port: int = 0  # cluster nodes: the cluster bus port

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.home / "redis.log"

    def start(self) -> None:
        """(Re)start on the same port and directory: the AOF and nodes.conf bring its state back."""
        if self.alive():
            return
        self.process = _spawn([redis_server_path(), *self.args], self.log_path)
        _wait(f"redis {self.addr} answering PING", self._ping, 20.0, self.tail_log)

    def _ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise LabError(f"redis {self.addr} exited at start-up:\n{self.tail_log()}")
        with self.client() as client:
            return bool(client.ping())

    def client(self, **kwargs: Any) -> redis.Redis:
        kwargs.setdefault("socket_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, **kwargs)

    def cmd(self, *args: Any) -> Any:
        """One raw command on a fresh connection (CLUSTER ..., SENTINEL ..., ROLE)."""
        client = self.client()
        try:
            return client.execute_command(*args)  # type: ignore[no-untyped-call]
        finally:
            client.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown save, no goodbye to the cluster or the sentinels."""
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail_log(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def info(self, section: str) -> dict[str, Any]:
        with self.client() as client:
            return dict(client.info(section))


def _data_args(home: Path, port: int, appendfsync: str, extra: Sequence[str] = ()) -> list[str]:
    return [
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(home),
        "--appendonly", "yes",
        "--appendfsync", appendfsync,
        "--save", "",
        "--daemonize", "no",
        "--maxclients", "10000",
        "--logfile", "",
        *extra,
    ]  # fmt: skip


def _ports(given: Sequence[int] | None, count: int) -> list[int]:
    if given is not None:
        if len(given) < count:
            raise LabError(f"{count} ports needed, {len(given)} given")
        return list(given[:count])
    ports: list[int] = []
    while len(ports) < count:
        p = _free_port()
        if p not in ports:
            ports.append(p)
    return ports


# --------------------------------------------------------------------------------------------- cluster


@dataclass
class RedisCluster:
    nodes: list[RedisNode]
    masters: list[RedisNode]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(n.addr for n in self.masters)

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", n.port) for n in self.masters]

    def client(self, **kwargs: Any) -> redis.RedisCluster:
        kwargs.setdefault("socket_timeout", 5)
        return redis.RedisCluster(host="127.0.0.1", port=self.masters[0].port, decode_responses=True, **kwargs)

    def node_for_slot(self, slot: int) -> RedisNode:
        """The master serving `slot`, as the first live node sees it."""
        node = next(n for n in self.nodes if n.alive())
        for start, end, owner, *_ in node.cmd("CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return next(n for n in self.nodes if n.port == int(owner[1]))
        raise LabError(f"no node serves slot {slot}")

    def wait_ok(self, timeout: float = 30.0) -> None:
        """cluster_state:ok, every slot assigned, every node known, on every live node."""
        live = [n for n in self.nodes if n.alive()]

        def ok() -> bool:
            for node in live:
                info = node.cmd("CLUSTER", "INFO")
                text = info if isinstance(info, str) else str(info)
                fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
                if fields.get("cluster_state") != "ok" or fields.get("cluster_slots_assigned") != str(SLOTS):
                    return False
                if int(fields.get("cluster_known_nodes", 0)) < len(self.nodes):
                    return False
            return True

        _wait("cluster_state:ok on every node", ok, timeout, lambda: "\n".join(n.tail_log(5) for n in live))

    def flushall(self) -> None:
        for node in self.masters:
            if node.alive():
                node.client().flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(
    data_dir: Path,
    masters: int = 3,
    replicas: int = 0,
    *,
    ports: Sequence[int] | None = None,
    appendfsync: str = "everysec",
    node_timeout_ms: int = 3000,
    timeout: float = 60.0,
) -> RedisCluster:
    """A fresh Redis Cluster of `masters` masters (each with `replicas` replicas), slots split evenly.

    `ports` gives the client ports (masters first); the cluster bus ports are port + 10000 when the
    ports are given, otherwise free ports picked separately (Redis 7's `cluster-port`).
    """
    if masters < 1:
        raise LabError("a cluster needs at least one master")
    total = masters * (1 + replicas)
    client_ports = _ports(ports, total)
    bus_ports = [p + 10000 for p in client_ports] if ports is not None else _ports(None, total)
    nodes: list[RedisNode] = []
    for i, (port, bus) in enumerate(zip(client_ports, bus_ports, strict=True)):
        home = (data_dir / f"node-{i}-{port}").resolve()
        if home.exists():
            shutil.rmtree(home)  # a stale nodes.conf would rejoin a cluster that no longer exists
        home.mkdir(parents=True)
        extra = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(bus),
            "--cluster-node-timeout", str(node_timeout_ms),
            "--cluster-announce-ip", "127.0.0.1",
            # A test kills nodes on purpose; a replica must take over even after a short link loss.
            "--cluster-replica-validity-factor", "0",
        ]  # fmt: skip
        nodes.append(RedisNode(port, home, _data_args(home, port, appendfsync, extra), bus_port=bus))
    cluster = RedisCluster(nodes, nodes[:masters])
    try:
        for node in nodes:
            node.start()
        _form(cluster, masters, replicas, timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _form(cluster: RedisCluster, masters: int, replicas: int, timeout: float) -> None:
    first = cluster.nodes[0]
    for epoch, node in enumerate(cluster.nodes, start=1):
        # Distinct config epochs up front (what `redis-cli --cluster create` does): no collision dance.
        node.cmd("CLUSTER", "SET-CONFIG-EPOCH", epoch)
    per = SLOTS // masters
    for i, node in enumerate(cluster.masters):
        start = i * per
        end = SLOTS - 1 if i == masters - 1 else start + per - 1
        node.cmd("CLUSTER", "ADDSLOTSRANGE", start, end)
    for node in cluster.nodes[1:]:
        node.cmd("CLUSTER", "MEET", "127.0.0.1", first.port, first.bus_port)

    def everyone_known() -> bool:
        return all(len(n.cmd("CLUSTER", "NODES").strip().splitlines()) == len(cluster.nodes) for n in cluster.nodes)

    _wait("every node knowing every other", everyone_known, timeout)
    if replicas:
        for r in range(replicas):
            for i, master in enumerate(cluster.masters):
                replica = cluster.nodes[masters * (1 + r) + i]
                master_id = master.cmd("CLUSTER", "MYID")
                replica.cmd("CLUSTER", "REPLICATE", master_id)
    cluster.wait_ok(timeout)


# -------------------------------------------------------------------------------------------- sentinel


@dataclass
class RedisSentinel:
    """A master, one replica and three sentinels watching them under `MASTER_NAME`."""

    data: list[RedisNode]  # [initial master, initial replica]
    sentinels: list[RedisNode]
    master_name: str = MASTER_NAME
    db: int = 0
    failovers: int = field(default=0)

    @property
    def url(self) -> str:
        hosts = ",".join(s.addr for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.master_name}/{self.db}"

    def master(self) -> RedisNode:
        """The data node the sentinels currently name as master."""
        for s in self.sentinels:
            if not s.alive():
                continue
            with contextlib.suppress(redis.RedisError):
                _, port = s.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name)
                return next(n for n in self.data if n.port == int(port))
        raise LabError("no sentinel answers")

    def replica(self) -> RedisNode:
        master = self.master()
        return next(n for n in self.data if n is not master)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Every sentinel names the same master, sees the replica and the two other sentinels."""
        expected = self.master().port

        def ready() -> bool:
            for s in self.sentinels:
                state = s.cmd("SENTINEL", "MASTER", self.master_name)
                fields = dict(zip(state[::2], state[1::2], strict=True)) if isinstance(state, list) else state
                if int(fields["port"]) != expected or int(fields["num-slaves"]) < 1:
                    return False
                if int(fields["num-other-sentinels"]) < len(self.sentinels) - 1:
                    return False
                if "s_down" in fields["flags"] or "o_down" in fields["flags"]:
                    return False
                replicas = s.cmd("SENTINEL", "REPLICAS", self.master_name)
                if not any(
                    "down" not in _fields(r)["flags"] and _fields(r).get("master-link-status") == "ok" for r in replicas
                ):
                    return False
            return _replica_in_sync(self.master(), self.replica())

        _wait("sentinels agreeing on master and replica", ready, timeout, self._tails)

    def failover(self, *, pause_writes: bool = True, timeout: float = 60.0) -> int:
        """SENTINEL FAILOVER, then wait until the old replica is master everywhere; returns its port.

        With `pause_writes` (default) the old master's writes are paused first and the replica allowed
        to catch up, as Redis's own FAILOVER command does: a write either lands before the switch and is
        replicated, or waits and then fails on the demoted node (READONLY / disconnect), never
        acknowledged-then-lost. Without it, Sentinel's plain asynchronous failover is exercised.
        """
        self.wait_ready(timeout)
        old, new = self.master(), self.replica()
        if pause_writes:
            old.cmd("CLIENT", "PAUSE", int(timeout * 1000), "WRITE")
            _wait("replica catching up with the paused master", lambda: _replica_in_sync(old, new), timeout)
        try:
            _wait("a sentinel accepting SENTINEL FAILOVER", self._ask_failover, timeout, self._tails)

            def switched() -> bool:
                if new.cmd("ROLE")[0] != "master":
                    return False
                return all(
                    int(s.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name)[1]) == new.port
                    for s in self.sentinels
                    if s.alive()
                )

            _wait(f"replica {new.addr} promoted", switched, timeout, self._tails)
        finally:
            if pause_writes and old.alive():
                with contextlib.suppress(redis.RedisError):
                    old.cmd("CLIENT", "UNPAUSE")
        # The old master rejoins as a replica of the new one. Sentinel would tell it so only at its next
        # 10 s INFO round; saying it now is the same command, sooner. Wait for the link, so the next
        # failover finds a replica in sync.
        if old.alive():
            old.cmd("REPLICAOF", "127.0.0.1", new.port)
        _wait(
            f"old master {old.addr} replicating from {new.addr}",
            lambda: (
                old.info("replication").get("master_port") == new.port
                and old.info("replication").get("master_link_status") == "up"
            ),
            timeout,
            self._tails,
        )
        self.failovers += 1
        return new.port

    def _ask_failover(self) -> bool:
        # A sentinel answers NOGOODSLAVE until its own INFO round has seen the replica in sync
        # (after a previous failover that takes up to one 10 s INFO period): ask again.
        for s in self.sentinels:
            if s.alive():
                try:
                    s.cmd("SENTINEL", "FAILOVER", self.master_name)
                    return True
                except redis.ResponseError as e:
                    if "NOGOODSLAVE" not in str(e) and "INPROG" not in str(e):
                        raise
        time.sleep(0.2)
        return False

    def _tails(self) -> str:
        return "\n".join(f"--- {n.addr}\n{n.tail_log(6)}" for n in [*self.data, *self.sentinels])

    def flushall(self) -> None:
        self.master().client().flushall()

    def stop(self) -> None:
        for node in [*self.sentinels, *self.data]:
            node.stop()


def _fields(reply: Any) -> dict[str, Any]:
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _replica_in_sync(master: RedisNode, replica: RedisNode) -> bool:
    m = master.info("replication")
    r = replica.info("replication")
    return (
        r.get("master_link_status") == "up"
        and r.get("master_port") == master.port
        and int(r.get("slave_repl_offset", -1)) >= int(m.get("master_repl_offset", 0))
    )


def start_sentinel(
    data_dir: Path,
    *,
    ports: Sequence[int] | None = None,
    appendfsync: str = "always",
    down_after_ms: int = 2000,
    timeout: float = 60.0,
) -> RedisSentinel:
    """A master and a replica (AOF, fsync `appendfsync`) and three sentinels (`ports`: the two data
    ports, then the three sentinel ports); returns once the sentinels agree on both data nodes."""
    master_port, replica_port, *sentinel_ports = _ports(ports, 5)
    data: list[RedisNode] = []
    for name, port, extra in (
        ("master", master_port, []),
        ("replica", replica_port, ["--replicaof", "127.0.0.1", str(master_port)]),
    ):
        home = (data_dir / f"{name}-{port}").resolve()
        if home.exists():
            shutil.rmtree(home)
        home.mkdir(parents=True)
        data.append(RedisNode(port, home, _data_args(home, port, appendfsync, extra)))
    sentinels: list[RedisNode] = []
    for port in sentinel_ports:
        home = (data_dir / f"sentinel-{port}").resolve()
        if home.exists():
            shutil.rmtree(home)
        home.mkdir(parents=True)
        conf = home / "sentinel.conf"  # Sentinel rewrites its own config file: it must be its own copy
        conf.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            f"dir {home}\n"
            'logfile ""\n'
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}\n"
            f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        sentinels.append(RedisNode(port, home, [str(conf), "--sentinel"], role="sentinel"))
    lab = RedisSentinel(data, sentinels)
    try:
        for node in data:
            node.start()
        _wait("replica linked to master", lambda: _replica_in_sync(data[0], data[1]), timeout, lab._tails)
        for s in sentinels:
            s.start()
        lab.wait_ready(timeout)
    except BaseException:
        lab.stop()
        raise
    return lab


@contextlib.contextmanager
def cluster(data_dir: Path, masters: int = 3, replicas: int = 0, **kwargs: Any) -> Iterator[RedisCluster]:
    lab = start_cluster(data_dir, masters, replicas, **kwargs)
    try:
        yield lab
    finally:
        lab.stop()


@contextlib.contextmanager
def sentinel(data_dir: Path, **kwargs: Any) -> Iterator[RedisSentinel]:
    lab = start_sentinel(data_dir, **kwargs)
    try:
        yield lab
    finally:
        lab.stop()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tools.redis_lab", description="Start a Redis topology until Ctrl-C.")
    p.add_argument("kind", choices=["cluster", "sentinel"])
    p.add_argument("data_dir", type=Path)
    p.add_argument("--masters", type=int, default=3)
    p.add_argument("--replicas", type=int, default=0)
    p.add_argument("--port", type=int, default=0, help="first port; the others follow it (default: free ports)")
    ns = p.parse_args(argv)
    count = ns.masters * (1 + ns.replicas) if ns.kind == "cluster" else 5
    ports = list(range(ns.port, ns.port + count)) if ns.port else None
    lab: RedisCluster | RedisSentinel
    if ns.kind == "cluster":
        lab = start_cluster(ns.data_dir, ns.masters, ns.replicas, ports=ports)
    else:
        lab = start_sentinel(ns.data_dir, ports=ports)
    print(lab.url, flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        lab.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
