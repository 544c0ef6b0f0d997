"""The `/troth/peers/1` messages: "whom do you know?" and the answer.

Theory of operation
-------------------
A node that wants addresses opens a `/troth/peers/1` stream to a connected
peer and sends one request frame; the peer answers with one reply frame and
closes. Frames are the sync streams' framing (node/net/sync.py); the bytes
are troth's strict deterministic CBOR (wire/cbor.py):

    request  {"want": n}                                    1 <= n <= PEERS_PER_REPLY_MAX
    reply    {"peers": [{"id": <agent id bytes>, "addrs": [<multiaddr text>, ...]}, ...]}

A reply is hearsay: the addresses are what the answering peer saw the others
advertise. Nothing in it is trusted beyond "worth a dial": the dial's Noise
handshake proves the peer id, so a lying reply costs bounded failed dials
(at most `PEERS_PER_REPLY_MAX` x `ADDRS_PER_PEER_MAX`, each backed off).

Decoding refuses, as `wire.InvalidFrame` with a reason, anything else: an
oversize frame, unknown keys, more peers or addresses than the limits, an
agent id that does not parse, an address that is not a dialable TCP (or
relay circuit) multiaddr. The limits are checked before any list is walked.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import multiaddr

from wire import InvalidFrame, InvalidIdentity, agent_id_from_bytes, agent_id_to_bytes
from wire.cbor import dumps, strict_loads

from .addrs import is_dialable, is_host_tcp
from .peerbook import ADDR_TEXT_MAX, ADDRS_PER_PEER_MAX

__all__ = ["PeerAddrs", "encode_request", "decode_request", "encode_reply", "decode_reply",
           "check_exchange_addr", "PEERS_PROTOCOL", "PEERS_PER_REPLY_MAX",
           "EXCHANGE_FRAME_MAX_BYTES"]

PEERS_PROTOCOL = "/troth/peers/1"
# Peers in one reply: enough to find a community of tens in one round trip;
# a bigger one is found over several rounds, from several peers.
PEERS_PER_REPLY_MAX = 64
# 64 peers x 8 addresses x ~60 bytes is ~31 KiB: twice that is the ceiling.
EXCHANGE_FRAME_MAX_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerAddrs:
    peer_id: str
    addrs: tuple[str, ...]


def _error(reason: str, detail: str = "", **numbers: int) -> InvalidFrame:
    return InvalidFrame(reason, detail, **numbers)


def check_exchange_addr(text: str) -> bool:
    """Is `text` an address a peer may tell us about (and we may tell others)?
    An IP or DNS host and a TCP port, dialable, or a relay circuit."""
    return isinstance(text, str) and _exchange_addr_ok(text)


# Discovery checks every connected peer's addresses each round, and the same
# few texts come back every time: parsing one costs ~0.1 ms.
@functools.lru_cache(maxsize=4096)
def _exchange_addr_ok(text: str) -> bool:
    if not text.startswith("/") or len(text) > ADDR_TEXT_MAX:
        return False
    try:
        addr = multiaddr.Multiaddr(text)
        names = [p.name for p in addr.protocols()]
    except Exception:  # noqa: BLE001 - multiaddr raises several types for bad text
        return False
    if "p2p-circuit" in names:
        names = names[names.index("p2p-circuit") + 1:] or ["relayed"]
        return names == ["relayed"]
    return is_host_tcp(addr) and is_dialable(addr)


def encode_request(want: int) -> bytes:
    if not 1 <= want <= PEERS_PER_REPLY_MAX:
        raise ValueError(f"want must be in 1..{PEERS_PER_REPLY_MAX}, got {want}")
    return dumps({"want": want})


def decode_request(data: bytes) -> int:
    value = _loads(data)
    if not isinstance(value, Mapping) or set(value) != {"want"}:
        raise _error("bad-request", "a map with only 'want'")
    want = value["want"]
    if type(want) is not int or not 1 <= want <= PEERS_PER_REPLY_MAX:
        raise _error("bad-request", "want out of range", limit=PEERS_PER_REPLY_MAX)
    return want


def encode_reply(peers: list[PeerAddrs]) -> bytes:
    if len(peers) > PEERS_PER_REPLY_MAX:
        raise ValueError(f"{len(peers)} peers > {PEERS_PER_REPLY_MAX}")
    body = [{"id": agent_id_to_bytes(p.peer_id), "addrs": list(p.addrs[:ADDRS_PER_PEER_MAX])}
            for p in peers]
    data = dumps({"peers": body})
    assert decode_reply(data) == [PeerAddrs(peer_id=p.peer_id,
                                            addrs=tuple(p.addrs[:ADDRS_PER_PEER_MAX]))
                                  for p in peers]
    return data


def decode_reply(data: bytes) -> list[PeerAddrs]:
    value = _loads(data)
    if not isinstance(value, Mapping) or set(value) != {"peers"} or \
            not isinstance(value["peers"], (list, tuple)):
        raise _error("bad-reply", "a map with only 'peers', a list")
    items = value["peers"]
    if len(items) > PEERS_PER_REPLY_MAX:
        raise _error("limit-exceeded", "too many peers", count=len(items),
                     limit=PEERS_PER_REPLY_MAX)
    out: list[PeerAddrs] = []
    for item in items:
        if not isinstance(item, Mapping) or set(item) != {"id", "addrs"}:
            raise _error("bad-reply", "a peer is a map of 'id' and 'addrs'")
        addrs = item["addrs"]
        if not isinstance(addrs, (list, tuple)) or len(addrs) > ADDRS_PER_PEER_MAX:
            raise _error("limit-exceeded", "too many addresses for one peer",
                         limit=ADDRS_PER_PEER_MAX)
        if not isinstance(item["id"], bytes):
            raise _error("bad-reply", "a peer id is bytes")
        try:
            peer_id = agent_id_from_bytes(item["id"])
        except InvalidIdentity:
            raise _error("bad-reply", "a peer id that does not parse") from None
        if not all(check_exchange_addr(a) for a in addrs):
            raise _error("bad-reply", "an address that cannot be dialled")
        out.append(PeerAddrs(peer_id=peer_id, addrs=tuple(addrs)))
    return out


def _loads(data: bytes) -> Any:
    if len(data) > EXCHANGE_FRAME_MAX_BYTES:
        raise _error("too-large", size_bytes=len(data), limit_bytes=EXCHANGE_FRAME_MAX_BYTES)
    return strict_loads(data, _error)
