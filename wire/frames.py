"""Frames of the anti-entropy sync protocol (`/troth/sync/1`).

Theory of operation: a frame is one deterministic CBOR array whose first item
is the frame type. Frames carry frontiers and token bytes between two peers;
they are decoded with the same strictness as tokens (size cap first, exact
encoding, typed error `InvalidFrame` with a reason code, nothing else escapes).
The tokens inside a `Tokens` frame are *not* verified here: the core verifies
each one with `decode_token`, so one bad token spoils only itself.

    Hello       [0, digest: bstr .size 32, agents: uint]
    Frontier    [1, [* [kid: bstr, seq: uint, head: cid, ? forks: uint .ge 1]]]
                                                              ; sorted by kid
    WantRange   [2, kid: bstr, first_seq: uint, last_seq: uint]
    WantCids    [3, [+ cid]]
    Tokens      [4, [+ token: bstr]]
    WantForks   [5, kid: bstr]

`forks` counts the rival tokens a node holds for that issuer (tokens beyond
the first at some seq: equivocation evidence). It is present exactly when it
is not zero, so a row has one encoding. `WantForks` asks for every token at
every forked seq of one issuer.

A gossip message is not a frame: it is the bare token bytes (first byte 0xd2,
the COSE_Sign1 tag), so any libp2p implementation can read a troth topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import cbor
from .errors import InvalidFrame, InvalidIdentity
from .ids import AGENT_ID_BYTES, cid_from_bytes, cid_to_bytes, is_cid, verify_key_for
from .limits import FRAME_SIZE_MAX_BYTES, TOKEN_SIZE_MAX_BYTES

__all__ = [
    "Frame",
    "Hello",
    "Frontier",
    "FrontierEntry",
    "WantRange",
    "WantCids",
    "Tokens",
    "WantForks",
    "encode_frame",
    "decode_frame",
    "is_tokens_frame",
    "FRAME_SIZE_MAX_BYTES",
    "FRONTIER_ENTRIES_MAX",
    "WANT_CIDS_MAX",
    "RANGE_SPAN_MAX",
]

# FRAME_SIZE_MAX_BYTES (one frame on a stream) is in wire/limits.py, shared with
# node/net/sync.py; it stays importable from here.
# ~80 bytes an entry: 8,192 entries stay under ~660 KiB. Larger frontiers are
# sent as several Frontier frames.
FRONTIER_ENTRIES_MAX = 8192
# 1 MiB / 37 bytes per cid, rounded down to a round number.
WANT_CIDS_MAX = 16_384
# A peer may ask for at most this many tokens of one chain in one request; the
# answer is paced in Tokens frames of at most FRAME_SIZE_MAX_BYTES.
RANGE_SPAN_MAX = 100_000

_DIGEST_BYTES = 32
# How every Tokens frame begins in the deterministic encoding: an array of two
# items (0x82), then the frame type 4.
_TOKENS_FRAME_HEAD = bytes([0x82, 4])


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """A cheap summary: the frontier's set digest and the number of chains."""

    digest: bytes
    agents: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FrontierEntry:
    agent: str
    seq: int
    head: str
    forks: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Frontier:
    entries: tuple[FrontierEntry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WantRange:
    agent: str
    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WantCids:
    cids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Tokens:
    tokens: tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WantForks:
    agent: str


Frame = Hello | Frontier | WantRange | WantCids | Tokens | WantForks


def _kid(agent: str) -> bytes:
    from .ids import agent_id_to_bytes

    try:
        return agent_id_to_bytes(agent)
    except InvalidIdentity as exc:  # our caller's mistake, not the peer's: ValueError
        raise ValueError(f"not an agent id: {agent!r} ({exc})") from None


def encode_frame(frame: Frame) -> bytes:
    """Encode a frame. Raises ValueError for frames that break the limits."""
    value: list[Any]
    checked = False  # True when the branch checked everything decode_frame will
    if isinstance(frame, Hello):
        if len(frame.digest) != _DIGEST_BYTES or frame.agents < 0:
            raise ValueError(f"bad Hello: {frame!r}")
        value = [0, frame.digest, frame.agents]
    elif isinstance(frame, Frontier):
        if len(frame.entries) > FRONTIER_ENTRIES_MAX:
            raise ValueError(f"{len(frame.entries)} frontier entries > {FRONTIER_ENTRIES_MAX}")
        rows = sorted([_kid(e.agent), e.seq, cid_to_bytes(e.head)] + ([e.forks] if e.forks else [])
                      for e in frame.entries)
        # What decode_frame checks of a frontier, checked here directly: the
        # self-check below would double the cost of the largest frame.
        for k, row in enumerate(rows):
            bad_forks = len(row) == 4 and (type(row[3]) is not int or not 1 <= row[3] <= 2**53)
            if (k and row[0] == rows[k - 1][0]) or type(row[1]) is not int \
                    or not 1 <= row[1] <= 2**53 or bad_forks:
                raise ValueError(f"frame violates the sync protocol: bad frontier row {row!r}")
        value = [1, rows]
        checked = True
    elif isinstance(frame, WantRange):
        if not 1 <= frame.first_seq <= frame.last_seq:
            raise ValueError(f"bad range {frame.first_seq}..{frame.last_seq}")
        value = [2, _kid(frame.agent), frame.first_seq, frame.last_seq]
    elif isinstance(frame, WantCids):
        if not 1 <= len(frame.cids) <= WANT_CIDS_MAX:
            raise ValueError(f"WantCids needs 1..{WANT_CIDS_MAX} cids, got {len(frame.cids)}")
        value = [3, [cid_to_bytes(c) for c in frame.cids]]
    elif isinstance(frame, Tokens):
        if not frame.tokens:
            raise ValueError("Tokens frame needs at least one token")
        value = [4, list(frame.tokens)]
    elif isinstance(frame, WantForks):
        value = [5, _kid(frame.agent)]
    else:
        raise TypeError(f"not a frame: {frame!r}")
    data = cbor.dumps(value)
    if len(data) > FRAME_SIZE_MAX_BYTES:
        raise ValueError(f"frame of {len(data)} bytes > {FRAME_SIZE_MAX_BYTES}")
    if checked:
        return data
    # Never emit what a peer's decoder refuses (over-long ranges, over-size
    # tokens...): check it here, as encode_token does.
    try:
        decode_frame(data)
    except InvalidFrame as exc:
        raise ValueError(f"frame violates the sync protocol: {exc}") from None
    return data


def _uint(v: Any, what: str, lo: int = 0, hi: int = 2**53) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise InvalidFrame("bad-frame", f"{what} must be an integer in {lo}..{hi}")
    return v


def _agent(v: Any) -> str:
    info = verify_key_for(v) if type(v) is bytes and len(v) == AGENT_ID_BYTES else None
    if info is None:
        raise InvalidFrame("bad-frame", "agent must be an Ed25519 peer id")
    return info[0]


def _cid(v: Any) -> str:
    if not is_cid(v):
        raise InvalidFrame("bad-frame", "not a troth cid")
    return cid_from_bytes(v)


def is_tokens_frame(data: bytes) -> bool:
    """Whether `data` would be a `Tokens` frame, from its first two bytes only.

    For a transport that meters frames before anyone decodes them: no check
    of the rest (`decode_frame` does that, and refuses what is not a frame).
    """
    return data[:2] == _TOKENS_FRAME_HEAD


def decode_frame(data: bytes) -> Frame:
    """Decode untrusted frame bytes. Raises only InvalidFrame."""
    value = cbor.loads_capped(data, FRAME_SIZE_MAX_BYTES, InvalidFrame)
    if type(value) is not tuple or not value or type(value[0]) is not int:
        raise InvalidFrame("bad-frame", "a frame is an array starting with its type")
    ftype, args = value[0], value[1:]
    if ftype == 0 and len(args) == 2:
        digest = args[0]
        if type(digest) is not bytes or len(digest) != _DIGEST_BYTES:
            raise InvalidFrame("bad-frame", "Hello digest must be 32 bytes")
        return Hello(digest=digest, agents=_uint(args[1], "agents"))
    if ftype == 1 and len(args) == 1 and type(args[0]) is tuple:
        rows = args[0]
        if len(rows) > FRONTIER_ENTRIES_MAX:
            raise InvalidFrame("limit-exceeded", length=len(rows), limit=FRONTIER_ENTRIES_MAX)
        entries = []
        last = b""
        for row in rows:
            if type(row) is not tuple or len(row) not in (3, 4):
                raise InvalidFrame("bad-frame", "frontier rows are [kid, seq, head, ? forks]")
            if type(row[0]) is not bytes or row[0] <= last:
                raise InvalidFrame("bad-frame", "frontier rows must be sorted by kid, unique")
            last = row[0]
            forks = _uint(row[3], "forks", 1) if len(row) == 4 else 0
            entries.append(FrontierEntry(agent=_agent(row[0]), seq=_uint(row[1], "seq", 1),
                                         head=_cid(row[2]), forks=forks))
        return Frontier(entries=tuple(entries))
    if ftype == 2 and len(args) == 3:
        first = _uint(args[1], "first_seq", 1)
        last_seq = _uint(args[2], "last_seq", first)
        if last_seq - first + 1 > RANGE_SPAN_MAX:
            raise InvalidFrame("limit-exceeded", "range too long", length=last_seq - first + 1,
                               limit=RANGE_SPAN_MAX)
        return WantRange(agent=_agent(args[0]), first_seq=first, last_seq=last_seq)
    if ftype == 3 and len(args) == 1 and type(args[0]) is tuple:
        cids = args[0]
        if not 1 <= len(cids) <= WANT_CIDS_MAX:
            raise InvalidFrame("limit-exceeded", "WantCids size", length=len(cids),
                               limit=WANT_CIDS_MAX)
        return WantCids(cids=tuple(_cid(c) for c in cids))
    if ftype == 4 and len(args) == 1 and type(args[0]) is tuple:
        toks = args[0]
        if not toks:
            raise InvalidFrame("bad-frame", "Tokens frame is empty")
        for t in toks:
            if type(t) is not bytes or len(t) > TOKEN_SIZE_MAX_BYTES:
                raise InvalidFrame("bad-frame", "Tokens items are token byte strings")
        return Tokens(tokens=toks)
    if ftype == 5 and len(args) == 1:
        return WantForks(agent=_agent(args[0]))
    raise InvalidFrame("unknown-frame", f"frame type {ftype} with {len(args)} fields")
