"""Circuit relay v2: this node as a relay for others, and as a member reached through one.

Theory of operation
-------------------
libp2p's circuit relay v2 (specs: relay/circuit-v2.md) lets a member that
cannot be dialled (behind NAT) be reached through a relay it can dial:

- the member opens a `/libp2p/circuit/relay/0.2.0/hop` stream to the relay
  and RESERVEs a slot; while its connection to the relay lasts and the
  reservation has not expired, it can be dialled at
  `<relay addr>/p2p-circuit/p2p/<member>`;
- a dialler sends CONNECT on a hop stream; the relay opens a
  `/libp2p/circuit/relay/0.2.0/stop` stream to the member and pipes the two
  streams together. Dialler and member then run Noise and yamux end to end
  over that pipe, exactly as over TCP: the relay sees only ciphertext, and
  gossip and `/troth/sync/1` run over the relayed connection unchanged.

py-libp2p ships both halves (`libp2p.relay.circuit_v2`); this module is the
one place troth uses them. `RelayParams` holds what a relay operator sets
(whether to relay at all, how many reservations, how long and how many bytes
one circuit may carry); `Relay` runs py-libp2p's `CircuitV2Protocol` (the hop
handler if enabled, the stop handler always: any node can be reached through
a relay) and keeps this node's own reservations.

Traps, measured with py-libp2p 0.8.1 (docs/decisions/0012-relays.md):
- its swarm never dials a `/p2p-circuit` address (it filters them out), so
  relayed dials go through `dial()` here, which hands the circuit stream to
  the swarm's upgrader; the connection then belongs to the swarm like any
  other (notifees fire, pubsub and sync streams open on it);
- `CircuitV2Transport.dial()` with the CLIENT role also RESERVEs on every
  relay it dials through; troth runs it with the STOP role only and reserves
  explicitly, so a dialler never takes a relay slot it does not need;
- the relay's limits apply per circuit: when a circuit outlives
  `max_circuit_duration_s` or carries `max_circuit_bytes` the relay resets
  it and the connection drops; the runtime redials.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import multiaddr
import trio
from libp2p.abc import IHost, INetConn, INetStream
from libp2p.connection_types import ConnectionType
from libp2p.network.connection.swarm_connection import SwarmConn
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL_ID
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from multiaddr.protocols import P_P2P, P_P2P_CIRCUIT

from .errors import ConnectFailed, InvalidAddress

__all__ = [
    "Relay", "RelayParams", "RelayStatus", "Reservation", "CircuitAddr", "is_circuit_addr",
    "parse_circuit_addr", "circuit_addr", "relay_between", "HOP_PROTOCOL_ID",
]

logger = logging.getLogger(__name__)

# A reservation or a relayed dial is a few small messages on one stream; a
# relay that takes longer than this is overloaded or gone.
RELAY_REQUEST_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayParams:
    """What a relay operator decides (py-libp2p defaults in brackets).

    A troth relay carries members' ongoing gossip and sync, not only the
    short handshake go-libp2p's relays allow for hole punching (2 min,
    128 KiB), so circuits may last long; a circuit that hits a limit is
    reset and the member's runtime redials, so a limit costs a reconnect,
    not data.
    """

    # Serve as a relay (hop) for others. Members never need it on.
    hop: bool = False
    # Members holding a reservation at once [4]; each costs a little memory
    # and, once dialled, one pipe task per circuit.
    max_reservations: int = 64
    # Relayed connections to one reserved member at once [8]: one per peer
    # that reaches it through us.
    max_circuits_per_peer: int = 16
    # One circuit's lifetime [3600 s] and bytes, both directions [1 GiB]:
    # 64 MiB is ~200,000 tokens of gossip and sync.
    max_circuit_duration_s: int = 3600
    max_circuit_bytes: int = 64 * 1024 * 1024
    # How long a reservation lasts before the member must renew it [3600 s].
    reservation_ttl_s: int = 3600

    def __post_init__(self) -> None:
        for name in ("max_reservations", "max_circuits_per_peer", "max_circuit_duration_s",
                     "max_circuit_bytes", "reservation_ttl_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RelayParams.{name} must be an int >= 1, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    """A slot this node holds on a relay: reachable at `addr` until `expires_at` (unix s)."""

    relay: str
    addr: str
    expires_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayStatus:
    """What `troth id` shows about relaying: as a relay, and through relays."""

    hop: bool
    reservations_served: int
    circuits_served: int
    reservations_held: tuple[Reservation, ...]


def is_circuit_addr(addr: multiaddr.Multiaddr) -> bool:
    return any(p.code == P_P2P_CIRCUIT for p in addr.protocols())


@dataclass(frozen=True, slots=True)
class CircuitAddr:
    """`<relay addr>/p2p/<relay>/p2p-circuit/p2p/<target>`, parsed."""

    addr: multiaddr.Multiaddr
    relay: PeerInfo
    target: ID


def parse_circuit_addr(addr: multiaddr.Multiaddr) -> CircuitAddr:
    try:
        relay_part = addr.decapsulate_code(P_P2P).decapsulate_code(P_P2P_CIRCUIT)
        relay = info_from_p2p_addr(relay_part)
        target = ID.from_base58(str(addr.get_peer_id()))
    except Exception:
        raise InvalidAddress("a circuit address is <relay addr>/p2p/<relay id>/p2p-circuit"
                             "/p2p/<peer id>", addr=str(addr)) from None
    if not any(str(a) for a in relay.addrs) or target == relay.peer_id:
        raise InvalidAddress("a circuit address needs the relay's address and a target "
                             "other than the relay", addr=str(addr))
    return CircuitAddr(addr=addr, relay=relay, target=target)


def relay_between(conns: Sequence[INetConn]) -> str | None:
    """None if one of these open connections to a peer is direct, else the id of
    the relay the first relayed one runs through (or None if none is open)."""
    relays = []
    for conn in conns:
        if conn.is_closed:
            continue
        circuits = [a for a in conn.get_transport_addresses() if is_circuit_addr(a)]
        if not circuits:
            return None
        relays.append(str(circuits[0].value_for_protocol("p2p")))
    return relays[0] if relays else None


def circuit_addr(relay_addr: str, peer_id: str) -> str:
    """The address at which `peer_id` is reached through the relay at `relay_addr`."""
    return f"{relay_addr}/p2p-circuit/p2p/{peer_id}"


class Relay:
    """Circuit relay v2 for one host: serve as a relay (if asked), reserve, dial through."""

    def __init__(self, host: IHost, params: RelayParams) -> None:
        self._host = host
        self.params = params
        limits = RelayLimits(
            duration=params.max_circuit_duration_s, data=params.max_circuit_bytes,
            max_circuit_conns=params.max_circuits_per_peer,
            max_reservations=params.max_reservations,
            reservation_ttl=params.reservation_ttl_s)
        # The service to run beside the host: it registers the stop handler
        # (and the hop handler if params.hop) when it starts.
        self.service = _CircuitProtocol(host, limits=limits, allow_hop=params.hop)
        self._transport = CircuitV2Transport(
            host, self.service, RelayConfig(roles=RelayRole.STOP, limits=limits))
        self._held: dict[ID, Reservation] = {}

    async def reserve(self, relay_addr: str, relay_id: ID) -> Reservation:
        """RESERVE a slot on the relay (already connected) at `relay_addr` (with /p2p/)."""
        with trio.move_on_after(RELAY_REQUEST_TIMEOUT_S) as scope:
            try:
                stream = await self._host.new_stream(relay_id, [HOP_PROTOCOL_ID])
            except Exception as exc:
                raise ConnectFailed("relay refused the hop protocol", relay=relay_addr,
                                    error=repr(exc)) from None
            try:
                ok = await self._transport._make_reservation(stream, relay_id)
            finally:
                await _close_quietly(stream)
        if scope.cancelled_caught:
            raise ConnectFailed("reservation timed out", relay=relay_addr,
                                timeout_s=RELAY_REQUEST_TIMEOUT_S)
        expires_at = self._transport._reservations.get(relay_id) if ok else None
        if not expires_at:
            raise ConnectFailed("relay refused a reservation", relay=relay_addr)
        held = Reservation(relay=relay_id.to_base58(), expires_at=int(expires_at),
                           addr=circuit_addr(relay_addr, self._host.get_id().to_base58()))
        self._held[relay_id] = held
        return held

    def held(self) -> list[Reservation]:
        """Reservations that are still valid: unexpired (on the relay's clock, unix
        seconds), and the relay still connected (a relay drops a reservation when
        the member's connection to it ends)."""
        now = time.time()
        connected = set(self._host.get_connected_peers())
        for relay_id, held in list(self._held.items()):
            if held.expires_at <= now or relay_id not in connected:
                del self._held[relay_id]
        return sorted(self._held.values(), key=lambda r: r.relay)

    async def dial(self, circuit: CircuitAddr) -> None:
        """Connect to `circuit.target` through its relay (already connected)."""
        addr, target = circuit.addr, circuit.target
        if target in self._host.get_connected_peers():
            return
        # py-libp2p's dialler looks up the target's circuit addresses in the
        # peerstore first (and logs a warning when it has none).
        self._host.get_peerstore().add_addrs(target, [addr], self.params.reservation_ttl_s)
        try:
            await self._transport.dial(addr)
        except Exception as exc:
            raise ConnectFailed("through the relay", addr=str(addr),
                                relay=circuit.relay.peer_id.to_base58(), error=repr(exc)) from None

    def status(self) -> RelayStatus:
        served = self.service.resource_manager
        served._clean_expired()
        return RelayStatus(
            hop=self.params.hop,
            reservations_served=len(served._reservations),
            circuits_served=sum(r.active_connections for r in served._reservations.values()),
            reservations_held=tuple(self.held()))


class _CircuitProtocol(CircuitV2Protocol):
    """py-libp2p's protocol, with inbound circuits named by their relay.

    py-libp2p tags an inbound relayed connection `/p2p/<local id>/p2p-circuit/...`,
    naming this host where the relay belongs; the stop stream arrived from the
    relay, so its peer is the relay.
    """

    async def handle_incoming_connection(self, stream: INetStream,
                                         remote_peer_id: bytes) -> None:
        await super().handle_incoming_connection(stream, remote_peer_id)
        peer, relay = ID(remote_peer_id), stream.muxed_conn.peer_id
        wrong = multiaddr.Multiaddr(f"/p2p/{self.host.get_id()}/p2p-circuit/p2p/{peer}")
        named = multiaddr.Multiaddr(f"/p2p/{relay}/p2p-circuit/p2p/{peer}")
        for conn in self.host.get_network().get_connections(peer):
            if wrong in conn.get_transport_addresses() and isinstance(conn, SwarmConn):
                conn.set_transport_info([named], ConnectionType.RELAYED)


async def _close_quietly(stream: object) -> None:
    try:
        await stream.close()  # type: ignore[attr-defined]
    except Exception as exc:
        logger.debug("closing a hop stream: %r", exc)
