"""Which of our addresses other hosts can dial, as we advertise them.

Theory of operation
-------------------
A node listens on one or more `/ip4|ip6/<ip>/tcp/<port>` addresses. A
wildcard (`0.0.0.0`, `::`) is bound once but reached at every address of the
host's interfaces, and port 0 becomes a real port only once bound: neither can
be dialled as written. `Advertiser` is the one place that turns what is bound
into what is advertised, and py-libp2p calls it (as the host's
`addrs_factory`) for identify, signed peer records and `P2PNode.listen_addrs`
(so `troth id` and `node.json`):

- a wildcard becomes one address per interface address of its family, read
  with psutil (interfaces that are up; no link-local or multicast addresses,
  which need an interface name to be dialled);
- the operator's `announce` addresses (a public address forwarded to us by a
  router) come first;
- nothing undialable is ever listed: no unspecified IP, no port 0;
- order: announced, then public, then private, then loopback (a peer tries
  them in this order); at most `ADVERTISED_MAX`.

Interfaces change (DHCP, a laptop moving): the interface list is re-read at
most every `INTERFACES_TTL_S`, because py-libp2p asks for our addresses on
every pubsub RPC (it signs a peer record into each); for the same reason the
last answer is kept and given again while the bound addresses and the
interface list it came from are unchanged.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Sequence

import multiaddr
import psutil

__all__ = ["Advertiser", "interface_ips", "ip_of", "is_dialable", "is_host_tcp",
           "expand_wildcard", "scope_of", "ADVERTISED_MAX", "INTERFACES_TTL_S", "HOST_PROTOCOLS"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Addresses we advertise at most: identify and every signed peer record carry
# them all, and a host with many bridges (containers) would otherwise send
# dozens that peers try one by one.
ADVERTISED_MAX = 16
# How long an interface listing is trusted before it is read again.
INTERFACES_TTL_S = 10.0

# What names a host in an address others dial (`/<host proto>/<host>/tcp/<port>`).
HOST_PROTOCOLS = ("ip4", "ip6", "dns", "dns4", "dns6")

# The order a peer should try our addresses in (lower first).
_RANK = {"announced": 0, "public": 1, "private": 2, "loopback": 3}


def interface_ips() -> list[IPAddress]:
    """Unicast addresses of the interfaces that are up (psutil), loopback included."""
    stats = psutil.net_if_stats()
    ips: list[IPAddress] = []
    for name, snics in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        for snic in snics:
            if snic.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:  # an IPv6 link-local address carries "%<interface>"
                ip = ipaddress.ip_address(snic.address.split("%", 1)[0])
            except ValueError:
                continue
            if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
                continue
            ips.append(ip)
    return ips


def ip_of(addr: multiaddr.Multiaddr) -> IPAddress | None:
    """The address's IP (`/ip4` or `/ip6`), or None (a DNS name, no IP)."""
    for proto in ("ip4", "ip6"):
        try:
            value = addr.value_for_protocol(proto)
        except Exception:  # noqa: BLE001 - multiaddr raises several types for "absent"
            continue
        if value:
            return ipaddress.ip_address(str(value))
    return None


def _tcp_port(addr: multiaddr.Multiaddr) -> int | None:
    try:
        value = addr.value_for_protocol("tcp")
    except Exception:  # noqa: BLE001
        return None
    return int(value) if value else None


def is_dialable(addr: multiaddr.Multiaddr) -> bool:
    """Could another host dial this, as written? No wildcard IP, no port 0."""
    names = [p.name for p in addr.protocols()]
    if "p2p-circuit" in names:
        return True  # a relayed address: the relay's part was checked when it was made
    ip = ip_of(addr)
    if ip is not None and (ip.is_unspecified or ip.is_multicast):
        return False
    return "tcp" not in names or _tcp_port(addr) not in (None, 0)


def is_host_tcp(addr: multiaddr.Multiaddr) -> bool:
    """Is `addr` exactly `/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>` (no `/p2p/`)?"""
    names = [p.name for p in addr.protocols()]
    return len(names) == 2 and names[0] in HOST_PROTOCOLS and names[1] == "tcp"


def scope_of(addr: multiaddr.Multiaddr) -> str:
    """`loopback`, `public` (globally routed; also a DNS name) or `private`
    (LAN, ULA, CGNAT, and the rest)."""
    ip = ip_of(addr)
    if ip is None:
        return "public"
    if ip.is_loopback:
        return "loopback"
    return "public" if ip.is_global else "private"


def expand_wildcard(bound: multiaddr.Multiaddr, ips: Iterable[IPAddress]
                    ) -> list[multiaddr.Multiaddr]:
    """`bound` itself, or for a wildcard IP one address per interface IP of its family."""
    ip = ip_of(bound)
    if ip is None or not ip.is_unspecified:
        return [bound]
    proto = "ip4" if ip.version == 4 else "ip6"
    rest = str(bound).split("/", 3)[3]  # "/ip4/0.0.0.0/tcp/4001" -> "tcp/4001"
    return [multiaddr.Multiaddr(f"/{proto}/{each}/{rest}")
            for each in ips if each.version == ip.version]


class Advertiser:
    """py-libp2p's `addrs_factory`: bound (and observed) addresses -> what we advertise.

    `announce` are multiaddrs without `/p2p/` (checked by the caller);
    `read_interfaces` and `clock` are parameters so tests can give their own.
    """

    def __init__(self, announce: Sequence[multiaddr.Multiaddr] = (), *,
                 read_interfaces: Callable[[], list[IPAddress]] = interface_ips,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._announce = list(announce)
        self._read_interfaces = read_interfaces
        self._clock = clock
        self._ips: list[IPAddress] = []
        self._read_at: float | None = None
        # The last answer, for the candidates (as bytes) and interface list
        # it was made from: py-libp2p asks again for every RPC it sends.
        self._last: tuple[tuple[bytes, ...], list[IPAddress] | None,
                          list[multiaddr.Multiaddr]] | None = None

    def _interfaces(self) -> list[IPAddress]:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= INTERFACES_TTL_S:
            self._ips = self._read_interfaces()
            self._read_at = now
        return self._ips

    def __call__(self, candidates: list[multiaddr.Multiaddr]) -> list[multiaddr.Multiaddr]:
        key = tuple(c.to_bytes() for c in candidates)
        if self._last is not None and self._last[0] == key:
            _, ips_used, answer = self._last
            if ips_used is None or self._interfaces() is ips_used:
                return list(answer)
        wildcard = any((ip := ip_of(c)) is not None and ip.is_unspecified
                       for c in candidates)
        ips = self._interfaces() if wildcard else None
        answer = self._advertise(candidates, ips or [])
        self._last = (key, ips, answer)
        return list(answer)

    def _advertise(self, candidates: list[multiaddr.Multiaddr],
                   ips: list[IPAddress]) -> list[multiaddr.Multiaddr]:
        ranked: dict[str, tuple[int, int, multiaddr.Multiaddr]] = {}

        def add(addr: multiaddr.Multiaddr, rank: int) -> None:
            key = str(addr)
            if key not in ranked and is_dialable(addr):
                ranked[key] = (rank, len(ranked), addr)

        for addr in self._announce:
            add(addr, _RANK["announced"])
        for candidate in candidates:
            for addr in expand_wildcard(candidate, ips):
                add(addr, _RANK[scope_of(addr)])
        ordered = sorted(ranked.values(), key=lambda r: (r[0], r[1]))
        return [addr for _, _, addr in ordered[:ADVERTISED_MAX]]
