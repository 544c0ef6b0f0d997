"""What the network edge hands the runtime: frozen events and counters.

Theory of operation
-------------------
The runtime reads two queues of a `P2PNode`: `messages` (`GossipReceived`,
validated, never our own publishes) and `peer_events` (`PeerConnected`,
`PeerDisconnected`, one per peer, not per connection). Peer ids are strings
(`12D3KooW...`, the same text as `wire.Identity.agent_id`), so nothing here
needs libp2p. `P2PStats` counts what was delivered, refused and dropped.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["GossipReceived", "PeerConnected", "PeerDisconnected", "PeerEvent", "Validator",
           "Validation", "P2PStats"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GossipReceived:
    """A gossip message that passed validation, from another peer."""

    topic: str
    from_peer: str  # the originator (signed), not the neighbour who relayed it
    data: bytes
    # The neighbour whose RPC carried it to us (a connected peer): the one to
    # credit with liveness, ask for missing parents, or blame for the bytes.
    # None only for a message that arrived while its topic was being joined.
    via: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerConnected:
    peer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerDisconnected:
    peer_id: str


PeerEvent = PeerConnected | PeerDisconnected


class Validation(enum.Enum):
    """A topic validator's answer (gossipsub's three validation results)."""

    ACCEPT = "accept"  # deliver and forward
    REJECT = "reject"  # drop; the relaying neighbour loses score (invalid bytes)
    IGNORE = "ignore"  # drop, forward to nobody, blame nobody (valid, but unwanted here)
    KEEP = "keep"  # deliver here, forward to nobody, blame nobody (not ours to spread)


# `validator(topic, data)`: a Validation, or a bool (True accepts, False rejects).
Validator = Callable[[str, bytes], "bool | Validation"]


@dataclass(frozen=True, slots=True, kw_only=True)
class P2PStats:
    delivered: int
    dropped_messages_queue_full: int
    rejected: int  # validator said no (or raised)
    validator_errors: int  # validator raised (counted in rejected too)
    dropped_peer_events: int
    sync_streams_refused: int
    ignored: int  # validator said IGNORE
    kept: int  # validator said KEEP: delivered, not forwarded
    rate_limited: int  # over a neighbour's gossip rate: ignored unread
    broken_streams: int  # pubsub streams dropped for a malformed RPC
    malformed_messages: int  # gossip messages py-libp2p's own checks choked on
