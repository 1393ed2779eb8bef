"""The client's address: the TCP peer, or what our own proxies say it was.

Behind a load balancer every request comes from the balancer, so the per-IP limits (login throttle,
poll anti-brushing, mini-program rate limits) need the address the balancer saw. Those headers are
also trivially forged, so they count only when the TCP peer is one of `server.trusted_proxies` (and
`server.xheaders` is on). X-Forwarded-For is read from the right: each trusted proxy appends the
address it saw, so the right-most address that is NOT one of our proxies is the client; everything
left of it was written by the client and is ignored. X-Real-IP counts only without X-Forwarded-For
(nginx's `proxy_set_header X-Real-IP $remote_addr`), so it can never override the chain.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from tornado import httputil

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _parse(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(addr: Address | None, nets: tuple[Network, ...]) -> bool:
    if addr is None:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr.version == n.version and addr in n for n in nets)


def client_address(peer: str, headers: httputil.HTTPHeaders, nets: tuple[Network, ...]) -> str:
    """The client's address for this request (the peer unless a trusted proxy forwarded it)."""
    if not nets or not _trusted(_parse(peer), nets):
        return peer
    hops = [h for value in headers.get_list("X-Forwarded-For") for h in value.split(",") if h.strip()]
    if hops:
        for hop in reversed(hops):
            addr = _parse(hop)
            if addr is None:
                return peer  # our proxy wrote something that is no address: trust nothing in the chain
            if not _trusted(addr, nets):
                return str(addr)
        return str(_parse(hops[0]))  # every hop is one of ours: the first is the origin
    real = _parse(headers.get("X-Real-IP", ""))
    return str(real) if real is not None else peer


def forwarded_scheme(peer_trusted: bool, headers: httputil.HTTPHeaders, current: str) -> str:
    if not peer_trusted:
        return current
    proto = headers.get("X-Forwarded-Proto", headers.get("X-Scheme", "")).split(",")[-1].strip().lower()
    return proto if proto in ("http", "https") else current


def is_trusted(peer: str, nets: tuple[Network, ...]) -> bool:
    return _trusted(_parse(peer), nets)
