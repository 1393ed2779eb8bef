"""`redis.url`: one standalone server, a Sentinel-watched master, or a Redis Cluster.

    redis://[user:password@]host:6379/0        rediss://... (TLS)      unix:///path/redis.sock?db=0
    redis+sentinel://[user:password@]s1:26379,s2:26379,s3:26379/mymaster/0
    redis+cluster://[user:password@]h1:7000,h2:7001,h3:7002        (rediss+... for TLS)

TLS options ride in the query string and reach every client we open (redis-py's, the pipelined
connection, the scheduler's job store): `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`,
`ssl_cert_reqs` (required | optional | none), `ssl_check_hostname` (true | false).
`sentinel_password` authenticates to the sentinels when they have their own password.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

Kind = Literal["standalone", "sentinel", "cluster"]

_TLS_KEYS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname")
_CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
_KNOWN_QUERY = {*_TLS_KEYS, "db", "sentinel_password"}


@dataclass(frozen=True)
class Tls:
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    cert_reqs: str = "required"
    check_hostname: bool = True

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_certs)
        ctx.check_hostname = self.check_hostname and self.cert_reqs == "required"
        ctx.verify_mode = _CERT_REQS[self.cert_reqs]
        if self.certfile:
            ctx.load_cert_chain(self.certfile, self.keyfile)
        return ctx

    def redis_kwargs(self) -> dict[str, Any]:
        """redis-py's connection keywords for these options."""
        return {
            "ssl": True, "ssl_ca_certs": self.ca_certs, "ssl_certfile": self.certfile, "ssl_keyfile": self.keyfile,
            "ssl_cert_reqs": self.cert_reqs, "ssl_check_hostname": self.check_hostname,
        }  # fmt: skip


@dataclass(frozen=True)
class RedisTarget:
    kind: Kind
    nodes: tuple[tuple[str, int], ...] = ()  # the server; the sentinels; the cluster's seed nodes
    unix_path: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    service: str = ""  # the master's name as the sentinels know it
    tls: Tls | None = None
    sentinel_password: str | None = None

    def connection_kwargs(self) -> dict[str, Any]:
        """Credentials, database and TLS for a connection to one data node."""
        kw: dict[str, Any] = {"username": self.username, "password": self.password}
        if self.kind != "cluster":
            kw["db"] = self.db
        if self.tls is not None:
            kw.update(self.tls.redis_kwargs())
        return kw

    def describe(self) -> str:
        """For logs and /healthz: the topology without credentials."""
        where = self.unix_path or ",".join(f"{h}:{p}" for h, p in self.nodes)
        extra = f" master {self.service}" if self.kind == "sentinel" else ""
        return f"{self.kind} {where}{extra}{' tls' if self.tls else ''}"


def _nodes(netloc: str, default_port: int) -> tuple[tuple[str, int], ...]:
    hosts = netloc.rpartition("@")[2]
    nodes = []
    for part in hosts.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep:
            host, port = part.strip(), str(default_port)
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{part!r} is not host:port")
        nodes.append((host, int(port)))
    return tuple(nodes)


def _tls(query: dict[str, str], on: bool) -> Tls | None:
    if not on:
        if any(k in query for k in _TLS_KEYS):
            raise ValueError("ssl_* options need a rediss:// URL")
        return None
    reqs = query.get("ssl_cert_reqs", "required").lower()
    if reqs not in _CERT_REQS:
        raise ValueError(f"ssl_cert_reqs must be required, optional or none, not {reqs!r}")
    check = query.get("ssl_check_hostname", "true").lower()
    if check not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"ssl_check_hostname must be true or false, not {check!r}")
    return Tls(query.get("ssl_ca_certs"), query.get("ssl_certfile"), query.get("ssl_keyfile"), reqs,
               check in ("true", "1", "yes"))  # fmt: skip


def parse_redis_url(url: str) -> RedisTarget:
    """The topology a `redis.url` names; ValueError with a sentence saying what is wrong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    base, _, topology = scheme.partition("+")
    if base not in ("redis", "rediss", "unix") or topology not in ("", "sentinel", "cluster"):
        raise ValueError("expected redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://")
    query = dict(parse_qsl(parts.query))
    unknown = set(query) - _KNOWN_QUERY
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r}")
    tls = _tls(query, base == "rediss")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    common: dict[str, Any] = {"username": username, "password": password, "tls": tls}
    if base == "unix":
        if topology or not parts.path:
            raise ValueError("unix:// takes one socket path, e.g. unix:///run/redis.sock?db=0")
        return RedisTarget("standalone", unix_path=parts.path, db=_db(query.get("db", "0")), **common)
    netloc = parts.netloc
    if not netloc.rpartition("@")[2]:
        raise ValueError("no host")
    if topology == "":
        if "," in netloc:
            raise ValueError(
                "several hosts in a redis:// URL: write redis+cluster://h1:p1,h2:p2 for a Redis Cluster or "
                "redis+sentinel://s1:26379,s2:26379/mymaster/0 for Sentinel"
            )
        db = _db(parts.path.strip("/") or query.get("db", "0"))
        return RedisTarget("standalone", _nodes(netloc, 6379), db=db, **common)
    if topology == "cluster":
        if parts.path.strip("/") not in ("", "0"):
            raise ValueError("a Redis Cluster has only database 0")
        return RedisTarget("cluster", _nodes(netloc, 6379), **common)
    service, _, db_text = parts.path.strip("/").partition("/")
    if not service:
        raise ValueError("name the master: redis+sentinel://s1:26379,s2:26379/mymaster/0")
    return RedisTarget("sentinel", _nodes(netloc, 26379), db=_db(db_text or "0"), service=service,
                       sentinel_password=query.get("sentinel_password"), **common)  # fmt: skip


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"database {text!r} is not a number")
    return int(text)
