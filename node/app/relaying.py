"""Keeping a node reachable: reachability checks and relay reservations, over time.

Theory of operation: node/net knows how to ask peers for a dial-back
(`P2PNode.check_reachability`) and how to reserve a slot on a relay
(`P2PNode.reserve`); this task decides when. It keeps the configured relays
connected (they are the natural dial-back servers: public by definition),
asks up to `DIALBACK_PEERS_MAX` directly connected peers whether they can
dial us (at once when the first answer is due, then every
`REACHABILITY_INTERVAL_S`), and unless the answer is `public` holds a
reservation on every configured relay, renewing it before it expires and
re-making it when the relay connection drops (a relay forgets a member's slot
then). `network.reachability = "public"|"private"` replaces the question with
the operator's answer.

Why reserve while the answer is still `unknown`: being reachable through a
relay without needing it costs one idle slot; being unreachable when it was
needed costs the member every connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from node.net.p2p import P2PError, P2PNode, Reachability, RelayParams
from node.store.home import Config

__all__ = ["RelayKeeper", "relay_params"]

log = logging.getLogger("troth.node")

# How often the keeper looks at its relays: a reservation lost with its
# connection is renewed within this.
RELAY_CHECK_INTERVAL_S = 2.0
# Re-ask peers about reachability this often (a NAT rarely changes), and
# sooner while nobody has answered yet.
REACHABILITY_INTERVAL_S = 300.0
REACHABILITY_RETRY_S = 10.0
# Peers asked per check: one honest answer decides; a few guard against a
# peer that cannot answer (no AutoNAT, or its probe timed out).
DIALBACK_PEERS_MAX = 3
# Renew a reservation this long before it expires.
RESERVATION_RENEW_MARGIN_S = 120.0
# A relay that refused us is retried after this, doubling up to the max.
RELAY_BACKOFF_MIN_S = 1.0
RELAY_BACKOFF_MAX_S = 60.0


def relay_params(config: Config) -> RelayParams:
    """What this node offers as a relay: network.relay and the [relay] limits."""
    return RelayParams(hop=config.relay, **dict(config.relay_limits))


class RelayKeeper:
    def __init__(self, p2p: P2PNode, config: Config, clock: Callable[[], float]) -> None:
        self._p2p = p2p
        # Reservations expire on the relay's wall clock (unix seconds).
        self._clock = clock
        self._relays = config.relays
        self._forced = (None if config.reachability == "auto"
                        else Reachability(config.reachability))
        self._next_check = 0.0
        self._retry_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}

    @property
    def reachability(self) -> Reachability:
        return self._forced or self._p2p.reachability

    def view(self) -> dict[str, Any]:
        """What `troth id` shows: reachability, our circuit addresses, the relay we serve."""
        status = self._p2p.relay_status
        return {
            "reachability": self.reachability.value,
            "reachability_source": "config" if self._forced else "dial-back",
            "relayed": [r.addr for r in status.reservations_held],
            "relay": {"serving": status.hop, "reservations": status.reservations_served,
                      "circuits": status.circuits_served},
        }

    async def run(self) -> None:
        while True:
            now = trio.current_time()
            await self._connect_relays(now)
            if self._forced is None and now >= self._next_check:
                await self._check(now)
            if self.reachability is not Reachability.PUBLIC:
                await self._reserve(trio.current_time())
            await trio.sleep(RELAY_CHECK_INTERVAL_S)

    async def _connect_relays(self, now: float) -> None:
        connected = set(self._p2p.connected_peers())
        for addr in self._relays:
            if _peer_of(addr) not in connected and now >= self._retry_at.get(addr, 0.0):
                try:
                    await self._p2p.connect(addr)
                except P2PError as exc:
                    self._failed(addr, now, "relay_dial_failed", exc)

    async def _check(self, now: float) -> None:
        routes = self._p2p.peer_routes()
        relays = {_peer_of(a) for a in self._relays}
        direct = sorted((p for p, via in routes.items() if via is None),
                        key=lambda p: (p not in relays, p))[:DIALBACK_PEERS_MAX]
        if not direct:
            return
        before = self._p2p.reachability
        try:
            verdict = await self._p2p.check_reachability(direct)
        except P2PError as exc:
            log.info("event=reachability_check_failed error=%s", exc)
            verdict = before
        self._next_check = now + (REACHABILITY_RETRY_S if verdict is Reachability.UNKNOWN
                                  else REACHABILITY_INTERVAL_S)
        if verdict is not before:
            log.info("event=reachability verdict=%s asked=%s", verdict.value, ",".join(direct))

    async def _reserve(self, now: float) -> None:
        held = {r.relay: r for r in self._p2p.relay_status.reservations_held}
        for addr in self._relays:
            current = held.get(_peer_of(addr))
            wall = self._clock()
            if current is not None and current.expires_at - wall > RESERVATION_RENEW_MARGIN_S:
                continue
            if now < self._retry_at.get(addr, 0.0):
                continue
            try:
                got = await self._p2p.reserve(addr)
            except P2PError as exc:
                self._failed(addr, now, "relay_reserve_failed", exc)
                continue
            self._backoff.pop(addr, None)
            log.info("event=relay_reserved relay=%s addr=%s expires_in_s=%d",
                     got.relay, got.addr, got.expires_at - wall)

    def _failed(self, addr: str, now: float, event: str, exc: P2PError) -> None:
        backoff = self._backoff.get(addr, RELAY_BACKOFF_MIN_S)
        self._retry_at[addr] = now + backoff
        self._backoff[addr] = min(RELAY_BACKOFF_MAX_S, backoff * 2)
        log.info("event=%s relay=%s error=%s retry_in_s=%.1f", event, addr, exc, backoff)


def _peer_of(addr: str) -> str:
    return addr.rsplit("/p2p/", 1)[-1]
