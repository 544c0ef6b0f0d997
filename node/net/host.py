"""The libp2p host: TCP, Noise, yamux, no auto-dialling; addresses and peer ids.

Theory of operation
-------------------
Security is Noise only, muxing is yamux only: a peer offering plaintext (or
mplex) fails negotiation. One connection per peer (`max_connections_per_peer=1`
brought connect from ~0.25 s to ~10 ms). TCP only, on `/ip4|ip6/.../tcp/...`
(QUIC was measured and left out: docs/decisions/0010-addresses.md), on as
many listen addresses as given. What the host advertises (identify, signed
peer records) is decided by `addrs.Advertiser`: wildcards expanded to the
interfaces' addresses, announced addresses first, nothing undialable.

The host never dials on its own. py-libp2p's auto-connector (which redials
every peer in the peerstore whenever we are below 50 connections, and whose
failures put a peer in a 60 s negative dial cache) is replaced by a no-op: the
runtime decides whom to connect to.

Connection events become peer events through `PeerNotifee`, which only calls
back and never blocks libp2p. Strings from outside (multiaddrs, peer ids) are
parsed here into libp2p values, and refused as `InvalidAddress`/`InvalidPeerId`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence

import multiaddr
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.auto_connector import AutoConnector
from libp2p.network.config import ConnectionConfig
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.transport.tcp.tcp import TCP

from .addrs import Advertiser, is_dialable, is_host_tcp
from .errors import InvalidAddress, InvalidPeerId, StartFailed

__all__ = [
    "PeerNotifee", "build_host", "check_port_free", "parse_listen_addr", "parse_multiaddr",
    "parse_p2p_addr", "parse_peer_id", "parse_announce_addr", "parse_announce_addrs",
    "parse_listen_addrs", "DEFAULT_LISTEN",
    "CONNECT_TIMEOUT_S", "LISTEN_ADDRS_MAX", "ANNOUNCE_ADDRS_MAX",
]

DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"
CONNECT_TIMEOUT_S = 10.0
# A host listens on a few addresses (IPv4 and IPv6, a LAN and a VPN
# interface); each is a listening socket and, expanded, advertised addresses.
LISTEN_ADDRS_MAX = 8
# Public addresses an operator announces (port forwards, a DNS name).
ANNOUNCE_ADDRS_MAX = 4


def build_host(seed: bytes, listen_addrs: list[multiaddr.Multiaddr],
               announce_addrs: list[multiaddr.Multiaddr] | None = None,
               mdns: bool = False) -> tuple[IHost, Swarm]:
    """A host with the Ed25519 identity of `seed`, not yet running, and its swarm."""
    key_pair = create_new_key_pair(seed)
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    host = new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        connection_config=ConnectionConfig(max_connections_per_peer=1),
        listen_addrs=listen_addrs,
        addrs_factory=Advertiser(announce_addrs or []),
        # TCP only: py-libp2p picks transports from the listen address,
        # and a QUIC one would bring its own TLS security, not Noise.
        transports=[TCP()],
        enable_mDNS=mdns,
    )
    swarm = host.get_network()
    assert isinstance(swarm, Swarm), type(swarm)
    swarm.auto_connector = _NoAutoConnector(
        swarm, auto_connect_interval=swarm.connection_config.auto_connect_interval)
    return host, swarm


class _NoAutoConnector(AutoConnector):
    """py-libp2p redials peerstore peers by itself; troth's runtime decides."""

    async def maybe_connect(self) -> None:
        return None


class PeerNotifee(INotifee):
    """Connection events -> `on_change(conn)`, without blocking libp2p."""

    def __init__(self, on_change: Callable[[INetConn], None]) -> None:
        self._on_change = on_change

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._on_change(conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._on_change(conn)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        return None

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        return None


def parse_peer_id(peer_id: str) -> ID:
    if not isinstance(peer_id, str):
        raise TypeError(f"peer id must be str, got {type(peer_id).__name__}")
    try:
        parsed = ID.from_base58(peer_id)
    except Exception:
        raise InvalidPeerId(repr(peer_id)) from None
    if parsed.to_base58() != peer_id:
        raise InvalidPeerId(repr(peer_id))
    return parsed


def parse_multiaddr(addr: str) -> multiaddr.Multiaddr:
    if not isinstance(addr, str):
        raise TypeError(f"multiaddr must be str, got {type(addr).__name__}")
    try:
        return multiaddr.Multiaddr(addr)
    except Exception:
        raise InvalidAddress("not a multiaddr", addr=addr) from None


def parse_p2p_addr(addr: str) -> PeerInfo:
    """A dialable address, ending in `/p2p/<peer id>`."""
    maddr = parse_multiaddr(addr)
    try:
        return info_from_p2p_addr(maddr)
    except Exception:
        raise InvalidAddress("needs a /p2p/<peer id> suffix", addr=addr) from None


def parse_listen_addr(listen: str) -> multiaddr.Multiaddr:
    """Only `/ip4/<ip>/tcp/<port>` or `/ip6/<ip>/tcp/<port>`: no DNS, no QUIC."""
    addr = parse_multiaddr(listen)
    names = [p.name for p in addr.protocols()]
    if names not in (["ip4", "tcp"], ["ip6", "tcp"]):
        raise InvalidAddress("listen on /ip4|ip6/<address>/tcp/<port> only", listen=listen)
    return addr


def parse_listen_addrs(listen: str | Sequence[str]) -> list[multiaddr.Multiaddr]:
    """One listen address or several (at most `LISTEN_ADDRS_MAX`, no repeats)."""
    texts = [listen] if isinstance(listen, str) else list(listen)
    if not texts:
        raise InvalidAddress("at least one listen address is needed")
    if len(texts) > LISTEN_ADDRS_MAX:
        raise InvalidAddress("too many listen addresses", count=len(texts),
                             limit=LISTEN_ADDRS_MAX)
    addrs = [parse_listen_addr(t) for t in texts]
    if len({str(a) for a in addrs}) != len(addrs):
        raise InvalidAddress("a listen address is repeated", listen=texts)
    return addrs


def parse_announce_addrs(announce: Sequence[str]) -> list[multiaddr.Multiaddr]:
    if isinstance(announce, str):
        raise TypeError("announce must be a sequence of multiaddr strings, not one str")
    if len(announce) > ANNOUNCE_ADDRS_MAX:
        raise InvalidAddress("too many announced addresses", count=len(announce),
                             limit=ANNOUNCE_ADDRS_MAX)
    return [parse_announce_addr(a) for a in announce]


def parse_announce_addr(announce: str) -> multiaddr.Multiaddr:
    """`/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>` with a real port, without `/p2p/`."""
    addr = parse_multiaddr(announce)
    if not is_host_tcp(addr):
        raise InvalidAddress("announce /ip4|ip6|dns4|dns6/<host>/tcp/<port> only (no /p2p/)",
                             announce=announce)
    if not is_dialable(addr):
        raise InvalidAddress("an announced address must be dialable (no 0.0.0.0 or ::, "
                             "no port 0)", announce=announce)
    return addr


def check_port_free(listen_addr: multiaddr.Multiaddr) -> None:
    """Refuse a fixed port that another socket already listens on.

    py-libp2p binds with SO_REUSEPORT (for TCP hole punching), so a second
    node, or a stale instance of the same node, on the same port binds
    *successfully* and the kernel then splits incoming connections between
    the two. A plain bind (SO_REUSEADDR only, so TIME_WAIT does not count)
    fails if anything listens there.
    """
    protocols = {p.name for p in listen_addr.protocols()}
    if "tcp" not in protocols:
        return
    port = int(listen_addr.value_for_protocol("tcp") or 0)
    if port == 0:
        return
    if "ip4" in protocols:
        family, host = socket.AF_INET, str(listen_addr.value_for_protocol("ip4"))
    elif "ip6" in protocols:
        family, host = socket.AF_INET6, str(listen_addr.value_for_protocol("ip6"))
    else:
        return
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise StartFailed("address in use or unavailable", listen=str(listen_addr),
                          error=exc.strerror) from None
    finally:
        probe.close()
