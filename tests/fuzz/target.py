"""The fuzz target: one input's bytes through the decoders and a live core.

Theory of operation. `Target.run(data)` is the one function every fuzz engine
calls (atheris in `make fuzz`, the seeded mutator in tests/fuzz/plain.py). The
first byte of an input picks what the rest is (`MODES`):

    gossip    bytes a neighbour relays by gossip      -> Core.receive_gossip
              (a token, a bundle of tokens, or garbage)
    frame     bytes of one sync frame                 -> Core.receive_frame
    token     choices for a token the harness builds and signs with a key it
              holds (next in chain, rival at a head, gap, governance bodies),
              then maybe corrupts, sent by gossip (alone or bundled with a
              second one it builds) or inside a Tokens frame
    signed    raw protected-header and payload bytes, validly signed by a held
              key: the only way past the signature to the claim checks
    control   peer_up / peer_down / tick at a later time (the sync states)

Whatever bytes reach the core are first run through `wire.decode_token` and
`wire.decode_frame` directly (gossip through `wire.decode_bundle` too). Three
rules are checked on every input, and a broken one raises `FuzzFailure` (with
the inputs since the last reset, so the failure replays from a fresh target):

1. typed errors only: `decode_token` raises nothing but `InvalidToken`,
   `decode_frame` nothing but `InvalidFrame`, `decode_bundle` nothing but
   `InvalidBundle`, and the core's entry points
   raise nothing at all (peer garbage becomes TokenRejected/FrameRejected);
2. no forgery: every token the core accepts or persists verifies again here,
   independently of wire/ (cbor2 + `cryptography` over RFC 9052's
   Sig_structure), under a key the harness holds, and its cid is the sha2-256
   of its bytes. Nobody else can sign, so any other accepted token is forged;
3. `Core.check_invariants()` holds every `CHECK_EVERY` inputs and at the end.

The core is live: it keeps its state from input to input (so the generated
tokens build chains, forks and communities), and is replaced by a fresh one
every `RESET_EVERY` inputs to bound memory and the length of a replay.
"""

from __future__ import annotations

import hashlib
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import wire
from node.core import Core, FrameRejected, Output, Persist, TokenAccepted, TokenRejected
from tests.vectors import make_vectors as mv
from trust.governance import bodies
from trust.governance.types import METHODS

__all__ = ["MODES", "FuzzFailure", "Target", "Reader", "HELD"]

MODES = ("gossip", "frame", "token", "signed", "control")
# A fresh core this often: the live state stays small (each input costs about
# the same all run long) and a failure replays from at most this many inputs.
RESET_EVERY = 500
# check_invariants() is O(tokens held): every 100 inputs keeps it ~1% of the run.
CHECK_EVERY = 100
# Virtual seconds between inputs; a control input may jump further.
STEP_S = 1.0
START_S = float(mv.IAT)

# Keys the harness holds: the vectors' three, a fourth, and the core's own.
HELD = tuple(mv.identity(n) for n in ("alice", "bob", "carol")) + tuple(
    wire.Identity.from_seed(bytes([0xF0 + i]) * 32) for i in range(2))
NODE = HELD[-1]  # the live core's identity (its auto-tallies are signed with it)
PEERS = tuple(i.agent_id for i in HELD[:-1])
# CIDv1, raw codec, sha2-256, 32 bytes (docs/token-profile.md).
CID_PREFIX = b"\x01\x55\x12\x20"
KINDS = (*sorted(wire.KINDS), "x-later")
BODY_KEYS = ("text", "due", "out", "choice", "options", "closes", "members", "name",
             "result", "ballots", "x")


class FuzzFailure(AssertionError):
    """An input broke a rule. `inputs`: every input since the last reset, the
    failing one last (replaying them on a fresh Target reproduces it)."""

    def __init__(self, what: str, inputs: list[bytes]) -> None:
        super().__init__(what)
        self.inputs = inputs


class Reader:
    """Draws choices from an input's bytes: the same bytes, the same choices,
    and zeros past the end (so a mutated input still means something)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return b

    def below(self, n: int) -> int:
        """0 <= x < n, from one byte (two when n > 256)."""
        v = self.byte() if n <= 256 else self.byte() << 8 | self.byte()
        return v % n

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out


def _typed(fn: Callable[[bytes], Any], data: bytes, allowed: type[Exception]) -> Any:
    """fn(data), or None if it raised `allowed`; anything else propagates."""
    try:
        return fn(data)
    except allowed:
        return None


def verify_independently(tok: wire.Token,
                         keys: dict[bytes, tuple[str, Ed25519PublicKey]]) -> str | None:
    """Why `tok` is not a token signed by one of `keys` (kid -> (agent id,
    public key)), or None if it is.

    Deliberately shares nothing with wire/token.py: a lenient cbor2 parse of
    the COSE_Sign1, the Sig_structure rebuilt by cbor2, the key looked up by
    the kid's bytes, `cryptography` to verify, hashlib for the cid."""
    try:
        obj = cbor2.loads(tok.raw)
        assert isinstance(obj, cbor2.CBORTag) and obj.tag == 18, "not tag 18"
        protected, _unprotected, payload, signature = obj.value
        kid = cbor2.loads(protected)[4]
        iss = cbor2.loads(payload)[1]
    except Exception as exc:  # noqa: BLE001 - any parse failure is the answer
        return f"does not parse as COSE_Sign1: {exc!r}"
    held = keys.get(kid)
    if held is None:
        return "signed by a key the harness does not hold"
    agent, key = held
    try:
        key.verify(signature, cbor2.dumps(["Signature1", protected, b"", payload]))
    except InvalidSignature:
        return "the signature does not verify"
    if not iss == tok.issuer == agent:
        return f"issuer {tok.issuer} (claims: {iss}) is not the key that signed it ({agent})"
    if tok.cid != wire.cid_from_bytes(CID_PREFIX + hashlib.sha256(tok.raw).digest()):
        return "its cid is not the sha2-256 of its bytes"
    return None


@dataclass
class FuzzCounts:
    """What a run did, by outcome (so tests can see the target reached each path)."""
    inputs: int = 0
    by_mode: Counter[str] = field(default_factory=Counter)
    outputs: Counter[str] = field(default_factory=Counter)
    verified: int = 0  # accepted tokens re-verified independently
    resets: int = 0


class Target:
    """A live core and the rules above. `decode` stands in for `wire.decode_token`
    inside the core (tests pass a sabotaged one to see the rules catch it)."""

    def __init__(self, *, decode: Callable[[bytes], wire.Token] | None = None) -> None:
        self._core_decode = decode or wire.decode_token
        self._keys = {i.kid: (i.agent_id, Ed25519PublicKey.from_public_bytes(i.public_key))
                      for i in HELD}
        self.counts = FuzzCounts()
        self._modes: dict[str, Callable[[Reader], list[Output]]] = {
            "gossip": self._gossip, "frame": self._frame, "token": self._token,
            "signed": self._signed, "control": self._control}
        assert tuple(self._modes) == MODES
        self._fresh()

    def _fresh(self) -> None:
        self.core = Core(NODE, decode=self._memo_decode)
        self.now = START_S
        self.history: list[bytes] = []
        self._last: tuple[bytes, wire.Token | wire.InvalidToken] | None = None
        self._charters: list[str] = []
        self._proposals: list[tuple[str, str | None]] = []

    def _memo_decode(self, raw: bytes) -> wire.Token:
        """The core's decode, remembering the last answer: the bytes the harness
        just decoded directly are not verified twice (as the simulator's
        memoizing decode: same bytes, same answer)."""
        last = self._last
        if last is None or last[0] != raw:
            try:
                last = (raw, self._core_decode(raw))
            except wire.InvalidToken as exc:
                last = (raw, exc)
            self._last = last
        if isinstance(last[1], wire.InvalidToken):
            raise last[1]
        return last[1]

    # -- the one entry point -------------------------------------------------
    def run(self, data: bytes) -> None:
        """One input (see the module docstring). Raises FuzzFailure."""
        if len(self.history) >= RESET_EVERY:
            self.finish()
            self._fresh()
            self.counts.resets += 1
        self.history.append(data)
        self.counts.inputs += 1
        self.now += STEP_S
        r = Reader(data)
        mode = MODES[r.below(len(MODES))]
        self.counts.by_mode[mode] += 1
        try:
            outs = self._modes[mode](r)
            self._judge(outs)
            if len(self.history) % CHECK_EVERY == 0:
                self.core.check_invariants()
        except FuzzFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - rule 1: nothing else may escape
            raise FuzzFailure(f"{mode}: {type(exc).__name__}: {exc}\n"
                              + traceback.format_exc(), list(self.history)) from exc

    def finish(self) -> None:
        """Rule 3 at the end of a run (or of a core's life)."""
        try:
            self.core.check_invariants()
        except AssertionError as exc:
            raise FuzzFailure(f"invariant: {exc}", list(self.history)) from exc

    # -- the modes ---------------------------------------------------------
    def _peer(self, r: Reader) -> str:
        return PEERS[r.below(len(PEERS))]

    def _gossip(self, r: Reader) -> list[Output]:
        peer = self._peer(r)
        data = r.rest()
        return self._send_gossip(peer, data)

    def _send_gossip(self, peer: str, data: bytes) -> list[Output]:
        _typed(self._memo_decode, data, wire.InvalidToken)  # rule 1, kept for the core
        _typed(wire.decode_frame, data, wire.InvalidFrame)
        _typed(wire.decode_bundle, data, wire.InvalidBundle)
        return self.core.receive_gossip(peer, data, self.now)

    def _frame(self, r: Reader) -> list[Output]:
        peer = self._peer(r)
        return self._send_frame(peer, r.rest())

    def _send_frame(self, peer: str, data: bytes) -> list[Output]:
        _typed(wire.decode_token, data, wire.InvalidToken)
        _typed(wire.decode_frame, data, wire.InvalidFrame)
        return self.core.receive_frame(peer, data, self.now)

    def _control(self, r: Reader) -> list[Output]:
        peer = self._peer(r)
        op = r.below(4)
        if op == 0:
            return self.core.peer_up(peer, self.now)
        if op == 1:
            return self.core.peer_down(peer, self.now)
        self.now += float(r.below(4096))
        return self.core.tick(self.now)

    def _signed(self, r: Reader) -> list[Output]:
        signer = HELD[r.below(len(HELD))]
        split = r.below(64)
        rest = r.rest()
        if split < 8:  # 1 in 8: the protected header's bytes come from the input too
            protected, payload = rest[:split], rest[split:]
        else:
            protected, payload = mv.protected_header(signer.kid), rest
        return self._deliver(r, mv.forge(signer, payload, protected=protected))

    def _token(self, r: Reader) -> list[Output]:
        raw = self._build(r)
        if raw is None:
            return []
        if r.below(8) == 0:  # corrupt it: a token someone tampered with on the way
            b = bytearray(raw)
            b[r.below(len(b))] ^= 1 << r.below(8)
            raw = bytes(b)
        return self._deliver(r, raw)

    def _deliver(self, r: Reader, raw: bytes) -> list[Output]:
        peer = self._peer(r)
        if r.below(2):
            if r.below(4) == 0:  # 1 in 4: bundled with a second token the harness builds
                other = self._build(r)
                if other is not None and other != raw and \
                        max(len(raw), len(other)) <= wire.TOKEN_SIZE_MAX_BYTES:
                    raw = wire.encode_bundle([raw, other])
            return self._send_gossip(peer, raw)
        frame = wire.encode_frame(wire.Tokens(tokens=(raw,))) \
            if len(raw) <= wire.TOKEN_SIZE_MAX_BYTES else raw
        return self._send_frame(peer, frame)

    # -- building tokens -----------------------------------------------------
    def _cid(self, r: Reader, known: list[str]) -> str:
        """A cid the core holds (mostly), or a made-up one."""
        if known and r.below(4):
            return known[r.below(len(known))]
        return mv.fake_cid(r.below(1 << 16))

    def _build(self, r: Reader) -> bytes | None:
        core = self.core
        signer = HELD[r.below(len(HELD))]
        agent = signer.agent_id
        head = core.heads.get(agent)
        chain = core.chains.get(agent, [])
        top = head[0] if head else 0
        how = r.below(5)
        any_seq = 1 + r.below(max(top, 1) + 2)  # (drawn whichever `how` is)
        # next in chain, a rival at the head, a gap, any seq near the chain, next
        seq = (top + 1, max(top, 1), top + 2, any_seq, top + 1)[how]
        known = list(core.tokens)
        prev = None
        if seq > 1:
            prev = chain[seq - 2] if seq - 2 < len(chain) and r.below(8) else self._cid(r, known)
        kind = KINDS[r.below(len(KINDS))]
        deps = tuple(sorted({self._cid(r, known) for _ in range(r.below(4))}))
        about = self._cid(r, known) if r.below(2) else None
        scope = None
        body: dict[str, Any] = {}
        try:
            if kind == "charter" and r.below(4):
                members = sorted({HELD[r.below(len(HELD))].agent_id for _ in range(3)})
                body = bodies.charter_body(f"c{r.byte()}", members)
            elif kind == "proposal" and self._charters and r.below(4):
                scope = self._charters[r.below(len(self._charters))]
                deps, about = (scope,), None
                body = bodies.proposal_body("p", ["yes", "no", "maybe"][: 2 + r.below(2)],
                                            METHODS[r.below(len(METHODS))],
                                            int(self.now) + r.below(200))
            elif kind == "ballot" and self._proposals and r.below(4):
                about, scope = self._proposals[r.below(len(self._proposals))]
                deps = (about,)
                body = bodies.ballot_body([r.below(3) for _ in range(1 + r.below(2))])
            else:
                body = {BODY_KEYS[r.below(len(BODY_KEYS))]: self._value(r, 2)
                        for _ in range(r.below(3))}
            claims = wire.Claims(issuer=agent, iat=max(0, int(self.now) - r.below(600)),
                                 seq=seq, kind=kind, prev=prev, scope=scope, deps=deps,
                                 about=about, body=body)
            token = wire.sign_token(signer, claims)
        except ValueError:
            return None  # claims the profile refuses: the harness's choice, not a finding
        if kind == "charter":
            self._charters.append(token.cid)
        elif kind == "proposal" and scope is not None:
            self._proposals.append((token.cid, scope))
        self._last = (token.raw, token)  # sign_token ran it through decode_token
        return token.raw

    def _value(self, r: Reader, depth: int) -> Any:
        pick = r.below(6 if depth else 4)
        if pick == 0:
            return r.below(1 << 16) - 1000
        if pick == 1:
            return r.take(r.below(8)).hex()
        if pick == 2:
            return r.take(r.below(8))
        if pick == 3:
            return bool(r.below(2))
        if pick == 4:
            return [self._value(r, depth - 1) for _ in range(r.below(3))]
        return {f"k{r.below(4)}": self._value(r, depth - 1) for _ in range(r.below(3))}

    # -- the rules -----------------------------------------------------------
    def _judge(self, outs: list[Output]) -> None:
        """Rule 2 over one input's outputs."""
        counts = self.counts.outputs
        for o in outs:
            counts[type(o).__name__] += 1
            if isinstance(o, (TokenAccepted, Persist)):
                why = verify_independently(o.token, self._keys)
                if why is not None:
                    raise FuzzFailure(f"forgery accepted ({type(o).__name__}): {why}: "
                                      f"{o.token.raw.hex()}", list(self.history))
                self.counts.verified += isinstance(o, TokenAccepted)
            elif isinstance(o, (TokenRejected, FrameRejected)):
                counts[f"{type(o).__name__}:{o.reason}"] += 1
