"""Slow clients are cut off: dribbled headers (slowloris), stalled bodies and idle connections."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest
from tornado.testing import bind_unused_port

from app import Server, make_app
from core.deps import Deps


@pytest.fixture
async def port(deps: Deps) -> AsyncIterator[int]:
    """The app with short limits: headers 1 s from their first byte, body 1 s, idle 4 s."""
    server_settings = dataclasses.replace(
        deps.settings.server, header_timeout=1.0, body_timeout=1.0, idle_connection_timeout=4.0
    )
    sock, port = bind_unused_port()
    server = Server.for_settings(make_app(deps), server_settings)
    server.add_sockets([sock])
    yield port
    server.stop()
    await server.close_all_connections()


async def closed_after(reader: asyncio.StreamReader, limit: float) -> float:
    """Seconds until the server closed the connection (reads to EOF)."""
    started = time.monotonic()
    while await asyncio.wait_for(reader.read(4096), limit):
        pass
    return time.monotonic() - started


async def test_a_connection_dribbling_headers_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    sent = 0
    try:
        while time.monotonic() - started < 6:
            writer.write(b"X-Slow-%d: a\r\n" % sent)  # one header line every 0.2 s: never complete
            await writer.drain()
            sent += 1
            if reader.at_eof() or await _eof_within(reader, 0.2):
                break
    except ConnectionError:
        pass
    finally:
        writer.close()
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.5, elapsed  # 1 s from the first byte, checked every 250 ms; not the 4 s idle timer


async def _eof_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(4096), seconds) == b""
    except TimeoutError:
        return False


async def test_a_stalled_body_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b'POST /api/mp/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"code":')
    await writer.drain()
    assert await closed_after(reader, 5) < 3.0
    writer.close()


async def test_an_idle_connection_is_closed_but_keep_alive_survives_the_header_deadline(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    writer.write(request)
    assert b"200 OK" in await asyncio.wait_for(reader.read(4096), 5)
    await asyncio.sleep(1.5)  # idle longer than the header deadline, shorter than the idle timeout
    writer.write(request)
    assert b"200 OK" in await asyncio.wait_for(reader.read(4096), 5)
    assert 3.0 < await closed_after(reader, 8) < 5.5  # then nothing: closed after the 4 s idle timeout
    writer.close()
