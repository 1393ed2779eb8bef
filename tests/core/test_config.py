"""Configuration errors stop start-up with one clear line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.config import ConfigError, env_name, load_settings, parse_settings

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "server": {"cookie_secret": "s"},
    "wechat": {"app_id": "wx1", "app_secret": "sec", "token": "tok"},
    "miniprogram": {"app_id": "wx2", "app_secret": "sec2"},
}


def _with(path: str, value: object) -> dict:
    raw = {k: dict(v) for k, v in GOOD.items()}
    section, key = path.split(".")
    raw.setdefault(section, {})[key] = value
    return raw


def test_committed_config_is_valid() -> None:
    s = load_settings(ROOT / "config.yaml", env={})
    assert s.server.port == 8080
    assert s.redis.url == "" and s.mongo.url == ""  # embedded defaults
    assert len(s.wechat.encoding_aes_key) == 43


def test_environment_overrides_every_key() -> None:
    env = {
        env_name("server.port"): "9090",
        env_name("wechat.app_secret"): "from-env",
        env_name("redis.url"): "redis://10.0.0.5:6379/0",
        env_name("log.json"): "true",
    }
    s = parse_settings(GOOD, env)
    assert (s.server.port, s.wechat.app_secret, s.redis.url, s.log.json) == (
        9090,
        "from-env",
        "redis://10.0.0.5:6379/0",
        True,
    )
    assert env_name("wechat.encoding_aes_key") == "SDGH_WECHAT_ENCODING_AES_KEY"


@pytest.mark.parametrize(
    ("raw", "env", "expected"),
    [
        (_with("server.colour", "red"), {}, "server.colour: unknown key"),
        ({**GOOD, "wechatt": {"app_id": "x"}}, {}, "wechatt: unknown key"),
        (
            _with("wechat.app_secret", ""),
            {},
            "wechat.app_secret: missing (set it in the config file or as SDGH_WECHAT_APP_SECRET)",
        ),
        (_with("wechat.encoding_aes_key", "tooshort"), {}, "wechat.encoding_aes_key: must be the 43-character"),
        (_with("wechat.api_base", "api.weixin.qq.com"), {}, "wechat.api_base: 'api.weixin.qq.com' is not a valid URL"),
        (_with("redis.url", "http://localhost:6379"), {}, "redis.url: 'http://localhost:6379' is not a valid URL"),
        (_with("mongo.url", "localhost:27017"), {}, "mongo.url: 'localhost:27017' is not a valid URL"),
        (  # several hosts in a plain URL once passed --check-config and crashed at start
            _with("redis.url", "redis://h1:7000,h2:7001"),
            {},
            "redis.url: 'redis://h1:7000,h2:7001' is not a valid URL (several hosts in a redis:// URL: write "
            "redis+cluster://",
        ),
        (
            _with("redis.url", "redis+sentinel://:pw@s1:26379,s2:26379"),
            {},
            "redis.url: 'redis+sentinel://:***@s1:26379,s2:26379' is not a valid URL (name the master",
        ),
        (_with("redis.url", "rediss://h:6380/0?ssl_cert_reqs=maybe"), {}, "redis.url: 'rediss://h:6380/0?ssl_cert"),
        (_with("server.instances", 3), {}, "redis.url: required when server.instances is 3"),
        (_with("server.port", "eighty"), {}, "server.port: expected a whole number, got 'eighty'"),
        (GOOD, {"SDGH_SERVER_PROT": "1"}, "SDGH_SERVER_PROT: unknown environment override"),
        (GOOD, {"SDGH_LOG_JSON": "maybe"}, "log.json: expected true or false, got 'maybe'"),
    ],
)
def test_each_error_names_its_key(raw: dict, env: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, env)
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


def test_every_redis_topology_is_accepted_with_its_options() -> None:
    from core.redis_url import parse_redis_url

    cluster = parse_redis_url("redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7001")
    assert (cluster.kind, cluster.nodes, cluster.password) == (
        "cluster", (("10.0.0.1", 7000), ("10.0.0.2", 7001)), "secret",
    )  # fmt: skip
    sentinel = parse_redis_url("rediss+sentinel://s1:26379,s2/mymaster/2?ssl_ca_certs=/etc/ca.pem&sentinel_password=x")
    assert (sentinel.kind, sentinel.service, sentinel.db, sentinel.nodes[1]) == (
        "sentinel",
        "mymaster",
        2,
        ("s2", 26379),
    )
    assert sentinel.tls is not None and sentinel.tls.ca_certs == "/etc/ca.pem" and sentinel.sentinel_password == "x"
    plain = parse_redis_url("rediss://h:6380/1?ssl_cert_reqs=none&ssl_check_hostname=false")
    assert plain.tls is not None and plain.tls.redis_kwargs()["ssl_cert_reqs"] == "none" and plain.db == 1
    shared = {"redis": {"url": "redis+cluster://h1:7000"}, "mongo": {"url": "mongodb://m1,m2/?replicaSet=rs0"}}
    settings = parse_settings({**GOOD, "server": {"cookie_secret": "s", "instances": 3}, **shared}, {})
    assert settings.server.instances == 3


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  port: 8080\n   host: x\n")
    with pytest.raises(ConfigError, match=r"is not valid YAML at line 3"):
        load_settings(bad, env={})


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("server: [1, 2\n", "config error: config file:"),
        ("wechat:\n  app_id: x\n  bogus: 1\n", "config error: wechat.bogus: unknown key"),
    ],
)
def test_service_refuses_to_start_with_one_line(tmp_path: Path, content: str, expected: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(content)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(expected)
