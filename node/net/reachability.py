"""Reachability: can others dial this node, or does it need a relay?

Theory of operation
-------------------
A node cannot tell from its own addresses whether it is reachable (a home
router's NAT, a firewall, a private address all look the same from inside),
so it asks peers it is connected to directly to dial it back: libp2p's
AutoNAT v1 (`/libp2p/autonat/1.0.0`, specs: autonat/README.md). py-libp2p's
`AutoNATService` speaks the protocol on both sides; it dials back only
addresses whose IP is the one it sees the request come from (a NAT'd node
advertises a private address the server does not see: refused, i.e. not
reachable), and refuses requests over relayed connections.

One fix, measured (docs/decisions/0012-relays.md): py-libp2p's server dials
back with `host.connect()`, which returns at once because the requester is
already connected, so every answer was "reachable". `DialBack` probes each
address on a fresh TCP connection instead and counts it reachable when a
libp2p listener answers there (the multistream-select header, which a libp2p
listener sends first). The probe never completes a handshake, so it never
becomes a connection the swarm, pubsub or the runtime see.

The verdict (`Reachability`): `public` if any peer reached us, `private` if
peers answered and none did, `unknown` before any answer (or when the
operator forces one with `network.reachability`, which wins).
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import socket
from collections.abc import Sequence

import multiaddr
import trio
from libp2p.abc import IHost, INetConn
from libp2p.host.autonat.autonat import AutoNATService
from libp2p.host.autonat.pb.autonat_pb2 import Message
from libp2p.host.basic_host import BasicHost
from libp2p.peer.id import ID

from .addrs import expand_wildcard, ip_of

__all__ = ["Reachability", "DialBack", "addrs_towards", "direct_ip", "DIALBACK_PROBE_TIMEOUT_S",
           "DIALBACK_QUERY_TIMEOUT_S"]

logger = logging.getLogger(__name__)

# A dial-back probe: TCP connect plus the first 20 bytes. Across a WAN a
# connect takes well under a second; a NAT drops the SYN and we wait it out.
DIALBACK_PROBE_TIMEOUT_S = 5.0
# Asking one peer: its probes of our addresses (a few) plus a round trip.
DIALBACK_QUERY_TIMEOUT_S = 15.0
# Probes a node runs at once for others: each holds a socket for up to the
# probe timeout; more requests wait (the requester times out and asks again).
DIALBACK_PROBES_MAX = 4
# Addresses of one request that get probed; the rest are ignored.
DIALBACK_ADDRS_MAX = 8

# What a libp2p listener writes first on a new connection.
_MULTISTREAM_HEADER = b"\x13/multistream/1.0.0\n"


def addrs_towards(addrs: list[multiaddr.Multiaddr],
                  peer_ip: str | None) -> list[multiaddr.Multiaddr]:
    """`addrs` as a peer at `peer_ip` would dial them.

    A wildcard listen address (`0.0.0.0`, `::`) names no address: it becomes
    the address our packets to that peer leave from (the kernel's route,
    asked by connecting a UDP socket, which sends nothing). Behind a NAT that
    is a private address the peer does not see, so the answer is still honest.
    """
    out = []
    for addr in addrs:
        ip = ip_of(addr)
        if ip is None or not ip.is_unspecified:
            out.append(addr)
            continue
        source = _source_ip(peer_ip, socket.AF_INET if ip.version == 4 else socket.AF_INET6)
        if source is not None:
            out.extend(expand_wildcard(addr, [ipaddress.ip_address(source)]))
    return out


def direct_ip(conns: Sequence[INetConn]) -> str | None:
    """The peer's IP on the first direct (not relayed) connection of `conns`."""
    for conn in conns:
        for addr in conn.get_transport_addresses():
            names = [p.name for p in addr.protocols()]
            if names and names[0] in ("ip4", "ip6") and "p2p-circuit" not in names:
                return str(addr.value_for_protocol(names[0]))
    return None


def _source_ip(peer_ip: str | None, family: socket.AddressFamily) -> str | None:
    if peer_ip is None:
        return None
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((peer_ip, 9))
            return str(probe.getsockname()[0])
    except OSError:  # no route, or the other family
        return None


class Reachability(enum.Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    UNKNOWN = "unknown"


class DialBack(AutoNATService):
    """AutoNAT v1, both sides, with dial-backs that really dial (see module doc)."""

    def __init__(self, host: IHost) -> None:
        assert isinstance(host, BasicHost), type(host)
        super().__init__(host, serve=True, confirmations=1)
        self._probes = trio.Semaphore(DIALBACK_PROBES_MAX)
        self.verdict = Reachability.UNKNOWN

    async def _try_dial(self, peer_id: ID, addrs: list[bytes]) -> bytes | None:
        for raw in addrs[:DIALBACK_ADDRS_MAX]:
            if await self._probe(raw):
                return raw
        return None

    async def _probe(self, raw: bytes) -> bool:
        try:
            addr = multiaddr.Multiaddr(raw)
            names = [p.name for p in addr.protocols()]
            if names[:2] not in (["ip4", "tcp"], ["ip6", "tcp"]):
                return False
            host = str(addr.value_for_protocol(names[0]))
            port = int(str(addr.value_for_protocol("tcp")))
        except Exception:
            return False
        async with self._probes:
            with trio.move_on_after(DIALBACK_PROBE_TIMEOUT_S):
                try:
                    stream = await trio.open_tcp_stream(host, port)
                except OSError:
                    return False
                async with stream:
                    received = b""
                    while len(received) < len(_MULTISTREAM_HEADER):
                        chunk = await stream.receive_some(len(_MULTISTREAM_HEADER))
                        if not chunk:
                            break
                        received += chunk
                    return received[:len(_MULTISTREAM_HEADER)] == _MULTISTREAM_HEADER
        return False

    async def check(self, servers: list[tuple[ID, str | None]],
                    addrs: list[multiaddr.Multiaddr]) -> Reachability:
        """Ask each of `servers` (peer id, its IP if known) to dial us back at
        `addrs`; update and return `verdict`."""
        answers: list[bool] = []
        for server, server_ip in servers:
            raw = [a.to_bytes() for a in addrs_towards(addrs, server_ip)][:DIALBACK_ADDRS_MAX]
            try:
                status, _ = await self.query_server(server, raw, DIALBACK_QUERY_TIMEOUT_S)
            except Exception as exc:  # no AutoNAT there, gone, or too slow: no vote
                logger.debug("dial-back request to %s failed: %r", server, exc)
                continue
            if status == Message.OK:
                answers.append(True)
            elif status in (Message.E_DIAL_ERROR, Message.E_DIAL_REFUSED):
                answers.append(False)
        if any(answers):
            self.verdict = Reachability.PUBLIC
        elif answers:
            self.verdict = Reachability.PRIVATE
        return self.verdict
