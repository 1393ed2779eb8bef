"""Three real service processes (`python app.py`) on one Redis Cluster (or Sentinel) and one MongoDB-wire
server, with the fake WeChat platform: what issue 12 calls "tested on loopback".

The Redis topologies come from tools/redis_lab.py (Debian's redis-server 7.0) and live for the whole
test session; each test gets an empty Redis (FLUSHALL on every master), its own MongoDB database, a
fresh fake WeChat and its own three instances, started by the test (`await scale.start()`) after it
has written what the instances read at start (push tuning, for one).

`TEST_SCALE_REDIS=standalone` runs the same tests on one plain redis-server (a quick check of a test
itself; `make test-cluster` always runs the cluster).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.deps import Deps, build_deps, close_deps
from core.embedded import EmbeddedServer, _free_port, start_mongo
from seed import seed_all
from services.indexes import ensure_indexes
from tests.conftest import TOKEN, make_settings
from tools import redis_lab

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = os.environ.get("TEST_SCALE_REDIS", "cluster")
COOKIE_SECRET = "test-cookie-secret"  # what tests.conftest.make_settings signs with: the same secrets here
_db_counter = itertools.count()


@dataclass
class RedisLab:
    """The Redis the instances share: its URL, and how to empty it between tests."""

    url: str
    kind: str
    flush: Any  # () -> None
    cluster: redis_lab.RedisCluster | None = None
    sentinel: redis_lab.RedisSentinel | None = None


@pytest.fixture(scope="session")
def lab_mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = asyncio.run(start_mongo(tmp_path_factory.mktemp("scale-mongo")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lab_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisLab]:
    data = tmp_path_factory.mktemp("scale-redis")
    if TOPOLOGY == "standalone":
        node = redis_lab.start_standalone(data)
        yield RedisLab(node.url, "standalone", lambda: node.client().flushall())
        node.stop()
        return
    cluster = redis_lab.start_cluster(data, masters=3)
    yield RedisLab(cluster.url, "cluster", cluster.flushall, cluster=cluster)
    cluster.stop()


@pytest.fixture(scope="session")
def lab_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisLab]:
    sentinel = redis_lab.start_sentinel(tmp_path_factory.mktemp("scale-sentinel"))
    yield RedisLab(sentinel.url, "sentinel", sentinel.flushall, sentinel=sentinel)
    sentinel.stop()


@dataclass
class Instance:
    """One service process on its own port."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def spawn(self) -> None:
        cmd = [sys.executable, str(ROOT / "app.py"), "--config", str(ROOT / "config.yaml")]
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, cwd=str(ROOT), env=self.env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )

    async def wait_healthy(self, within: float = 90.0) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.returncode is not None:
                    raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    async with http.get(self.url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy within {within:.0f}s:\n{self.tail()}")

    async def kill(self) -> None:
        """kill -9: no shutdown hook runs, leases are left to expire (or to be recognised as dead)."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self, grace: float = 20.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class Scale:
    """A test's world: deps on the shared Redis (for set-up and checks), the fake WeChat, the instances."""

    deps: Deps
    redis: RedisLab
    mongo_url: str
    fake: Any
    workdir: Path
    instances: list[Instance] = field(default_factory=list)
    _rr: itertools.count[int] = field(default_factory=itertools.count)

    def env(self, port: int, data_dir: Path) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("SDGH_")}
        return {
            **base,
            "SDGH_SERVER_PORT": str(port), "SDGH_SERVER_WORKERS": "1", "SDGH_SERVER_INSTANCES": "3",
            "SDGH_SERVER_COOKIE_SECRET": COOKIE_SECRET,
            "SDGH_SERVER_PUBLIC_URL": "http://127.0.0.1:8080",
            "SDGH_REDIS_URL": self.redis.url, "SDGH_MONGO_URL": self.mongo_url,
            "SDGH_MONGO_DB": self.deps.settings.mongo.db,
            "SDGH_DEMO_FAKE_WECHAT": "false", "SDGH_WECHAT_TOKEN": TOKEN,
            "SDGH_WECHAT_API_BASE": self.fake.url, "SDGH_MINIPROGRAM_API_BASE": self.fake.url,
            "SDGH_DATA_DIR": str(data_dir), "SDGH_LOG_LEVEL": "WARNING",
        }  # fmt: skip

    async def start(self, n: int = 3) -> list[Instance]:
        """Start `n` more instances at once and wait until every one answers /healthz."""
        new = []
        for _ in range(n):
            name = f"instance-{len(self.instances) + len(new) + 1}"
            home = self.workdir / name
            home.mkdir(parents=True, exist_ok=True)
            port = _free_port()
            new.append(Instance(name, port, self.env(port, home / "data"), home / "service.log"))
        for inst in new:
            await inst.spawn()
        self.instances += new
        await asyncio.gather(*(inst.wait_healthy() for inst in new))
        return new

    async def restart(self, inst: Instance) -> None:
        await inst.stop()
        await inst.spawn()
        await inst.wait_healthy()

    def live(self) -> list[Instance]:
        return [i for i in self.instances if i.alive()]

    def next_url(self) -> str:
        """Round robin over the live instances: consecutive requests land on different processes."""
        live = self.live()
        return live[next(self._rr) % len(live)].url

    def by_pid(self, pid: int) -> Instance:
        return next(i for i in self.instances if i.alive() and i.pid == pid)

    def logs(self) -> str:
        return "\n".join(f"--- {i.name} (pid {i.proc.pid if i.proc else '-'})\n{i.tail(1500)}" for i in self.instances)

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self.instances))


async def _scale(redis: RedisLab, mongo: EmbeddedServer, fake: Any, tmp_path: Path) -> AsyncIterator[Scale]:
    redis.flush()
    settings = make_settings(redis.url, mongo.url, fake.url, tmp_path / "tests-data")
    deps = build_deps(settings, redis_url=redis.url, mongo_url=mongo.url)
    await ensure_indexes(deps.db)
    await seed_all(deps.db)
    scale = Scale(deps, redis, mongo.url, fake, tmp_path)
    try:
        yield scale
    finally:
        await scale.stop()
        await deps.mongo.drop_database(settings.mongo.db)
        await close_deps(deps)


@pytest.fixture
async def scale(
    lab_cluster: RedisLab, lab_mongo: EmbeddedServer, fake_wechat: Any, tmp_path: Path
) -> AsyncIterator[Scale]:
    """Three-instance world on the Redis Cluster (instances not yet started: `await scale.start()`)."""
    async for s in _scale(lab_cluster, lab_mongo, fake_wechat, tmp_path):
        yield s


@pytest.fixture
async def scale_sentinel(
    lab_sentinel: RedisLab, lab_mongo: EmbeddedServer, fake_wechat: Any, tmp_path: Path
) -> AsyncIterator[Scale]:
    """The same on Redis Sentinel (a master, one replica, three sentinels)."""
    async for s in _scale(lab_sentinel, lab_mongo, fake_wechat, tmp_path):
        yield s


# ------------------------------------------------------------------------------------- HTTP as the phone


@dataclass
class Answer:
    status: int | None  # None: no answer (connection refused or cut: the outcome is unknown to the user)
    body: Any = None
    url: str = ""


NETWORKS = 16  # workers arrive from this many addresses (127.0.0.2 ...): per-IP limits see many networks


class Phones:
    """Mini-program clients over real HTTP, each request sent to the next instance (round robin).

    A worker always calls from the same loopback address, one of `NETWORKS` (a factory's Wi-Fi, a
    phone network): the per-IP limits (600 logins, 60 binds per address) see realistic traffic."""

    def __init__(self) -> None:
        self.scale: Scale | None = None
        self._sessions: dict[int, aiohttp.ClientSession] = {}

    def _http(self, who: str) -> aiohttp.ClientSession:
        net = zlib.crc32(who.encode()) % NETWORKS
        if net not in self._sessions:
            self._sessions[net] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, local_addr=(f"127.0.0.{net + 2}", 0)),
                timeout=aiohttp.ClientTimeout(total=30),
            )
        return self._sessions[net]

    async def close(self) -> None:
        for http in self._sessions.values():
            await http.close()

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str = "", headers: dict[str, str] | None = None,
        url: str = "", who: str = "",
    ) -> Answer:  # fmt: skip
        assert self.scale is not None
        base = url or self.scale.next_url()
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        try:
            async with self._http(who or token).request(method, base + path, json=body, headers=h) as resp:
                return Answer(resp.status, await resp.json(content_type=None), base)
        except (aiohttp.ClientError, TimeoutError, ConnectionError):
            return Answer(None, None, base)

    async def login(self, openid: str, *, url: str = "") -> str:
        assert self.scale is not None
        code = self.scale.fake.state.mint_js_code(openid)  # one-time, like wx.login()
        got = await self.call("POST", "/api/mp/login", {"code": code}, url=url, who=openid)
        assert got.status == 200, (got, openid)
        return str(got.body["token"])

    async def login_many(self, openids: Sequence[str], concurrency: int = 20) -> list[str]:
        sem = asyncio.Semaphore(concurrency)

        async def one(openid: str) -> str:
            async with sem:
                return await self.login(openid)

        return list(await asyncio.gather(*(one(o) for o in openids)))


async def _phones(scale: Scale) -> AsyncIterator[Phones]:
    phones = Phones()
    phones.scale = scale
    try:
        yield phones
    finally:
        await phones.close()


@pytest.fixture
async def phones(scale: Scale) -> AsyncIterator[Phones]:
    async for p in _phones(scale):
        yield p


@pytest.fixture
async def sentinel_phones(scale_sentinel: Scale) -> AsyncIterator[Phones]:
    async for p in _phones(scale_sentinel):
        yield p


async def wait_for(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
