"""Binds the service's port before the heavy imports, so a restarted service is reachable at once.

Importing every handler, service and client library takes about a second on an idle machine and
several on a busy one; a load balancer or a restart script would see "connection refused" all that
time. `python app.py` imports this module first (app.py's first import): when the process is the
service itself (not a test importing app, not a `--worker`, not `--check-config`), the listening
sockets are bound here, and connections wait in the kernel's backlog until the event loop answers
them (503 "starting"/"draining" until start-up is done, handlers/starting.py). Configuration errors
are left to main(), which reports them.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

_sockets: list[socket.socket] = []


def _service_argv() -> list[str] | None:
    main = sys.modules.get("__main__")
    if Path(str(getattr(main, "__file__", ""))).name != "app.py":
        return None
    args = sys.argv[1:]
    if "--worker" in args or "--check-config" in args or "-h" in args or "--help" in args:
        return None
    return args


def _bind_early() -> None:
    args = _service_argv()
    if args is None:
        return
    import os

    from tornado.netutil import bind_sockets

    from core.config import ConfigError, load_settings

    config = Path(args[args.index("--config") + 1]) if "--config" in args[:-1] else Path("config.yaml")
    try:
        server = load_settings(config, os.environ).server
        _sockets.extend(bind_sockets(server.port, server.host, reuse_port=server.workers > 1))
    except (ConfigError, OSError):
        return  # main() reports it (a bad config, a port in use) with its one clear line


def take() -> list[socket.socket]:
    """The sockets bound early (once), or [] when none were."""
    bound = list(_sockets)
    _sockets.clear()
    return bound


_bind_early()
