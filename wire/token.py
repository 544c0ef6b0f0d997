"""Promise tokens: COSE_Sign1 envelopes over deterministic CBOR claim sets.

Theory of operation (the profile is specified in docs/token-profile.md):

    token    = #6.18([ protected: bstr .cbor {1: -8, 3: CONTENT_TYPE, 4: kid},
                       unprotected: {},            ; always empty
                       payload: bstr .cbor claims,
                       signature: bstr .size 64 ])  ; Ed25519 over Sig_structure
    claims   = {1: iss (agent id text), 6: iat (uint seconds),
                "seq": uint >= 1, "kind": text,
                ? "prev": cid, ? "scope": cid, ? "deps": [+ cid], ? "about": cid,
                ? "body": {* text => any}}

Every token has exactly one encoding: the envelope's heads are checked byte by
byte here, the protected header and the claims by `cbor.strict_loads`. `prev`
is present exactly when seq > 1; `deps` is sorted by the cids' bytes, without
duplicates, and omitted when empty, as is an empty body. Unknown claims are
refused (a new claim means a new profile version in the content type); unknown
kinds are accepted and carried but not interpreted.

`decode_token` is the only door from untrusted bytes to a `Token`: the size is
capped before any work, every check raises `InvalidToken` with a stable reason,
and nothing else escapes. `encode_token` runs its output back through
`decode_token` so encoder and decoder can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import BrokenExecutor, Executor, Future
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cbor2 import frozendict

from . import cbor
from .errors import InvalidToken, TokenTooLarge
from .ids import (
    CID_BYTES,
    Identity,
    cid_from_bytes,
    cid_of,
    cid_to_bytes,
    is_cid,
    verify_key_for,
    verify_signature,
)
from .limits import DEPS_MAX, IAT_MAX_S, KIND_MAX_CHARS, SEQ_MAX, TOKEN_SIZE_MAX_BYTES

__all__ = [
    "Claims",
    "Token",
    "encode_token",
    "sign_token",
    "decode_token",
    "TokenBatch",
    "VERIFY_CHUNK",
    "peek_token",
    "TokenHead",
    "CONTENT_TYPE",
    "TOKEN_SIZE_MAX_BYTES",
    "DEPS_MAX",
    "KIND_MAX_CHARS",
    "KINDS",
]

CONTENT_TYPE = "application/troth-token+cbor;v=1"
# Known in profile v1 (docs/token-profile.md); other kinds are carried as-is.
KINDS = frozenset(
    {"promise", "fulfil", "assess", "retract", "charter", "proposal", "ballot", "tally"}
)

_ALG_EDDSA = -8
_SIG_BYTES = 64
_KIND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_CLAIM_KEYS = frozenset({1, 6, "seq", "prev", "scope", "kind", "deps", "about", "body"})
_SIG1_PREFIX = bytes([0x84, 0x6A]) + b"Signature1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Claims:
    """What an issuer says in one token, before it is signed."""

    issuer: str
    iat: int
    seq: int
    kind: str
    prev: str | None = None
    scope: str | None = None
    deps: tuple[str, ...] = ()
    about: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Token:
    """A verified token: its claims, its exact bytes and their content id.

    Two Token objects are equal exactly when their bytes are. `body` is
    deeply immutable (cbor2 frozendicts and tuples).
    """

    cid: str
    raw: bytes
    issuer: str
    iat: int
    seq: int
    kind: str
    prev: str | None
    scope: str | None
    deps: tuple[str, ...]
    about: str | None
    body: Mapping[str, Any]

    @property
    def claims(self) -> Claims:
        return Claims(issuer=self.issuer, iat=self.iat, seq=self.seq, kind=self.kind,
                      prev=self.prev, scope=self.scope, deps=self.deps, about=self.about,
                      body=self.body)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Token) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.cid)

    def __repr__(self) -> str:
        return f"Token({self.kind} {self.issuer[-8:]}#{self.seq} {self.cid})"


def _protected(kid: bytes) -> bytes:
    return cbor.dumps({1: _ALG_EDDSA, 3: CONTENT_TYPE, 4: kid})


def _bstr_head(n: int) -> bytes:
    if n < 24:
        return bytes([0x40 | n])
    if n < 0x100:
        return bytes([0x58, n])
    if n < 0x10000:
        return bytes([0x59]) + n.to_bytes(2, "big")
    return bytes([0x5A]) + n.to_bytes(4, "big")


def encode_token(identity: Identity, claims: Claims) -> bytes:
    """Sign `claims` as `identity`. Same identity + claims -> same bytes.

    Raises ValueError for claims that the profile does not allow (the message
    names the offending value).
    """
    return sign_token(identity, claims).raw


def sign_token(identity: Identity, claims: Claims) -> Token:
    """Sign `claims` as `identity` and return the verified Token (encode + decode)."""
    if claims.issuer != identity.agent_id:
        raise ValueError(f"claims.issuer {claims.issuer!r} is not the identity {identity.agent_id}")
    m: dict[Any, Any] = {1: claims.issuer, 6: claims.iat, "seq": claims.seq, "kind": claims.kind}
    try:
        if claims.prev is not None:
            m["prev"] = cid_to_bytes(claims.prev)
        if claims.scope is not None:
            m["scope"] = cid_to_bytes(claims.scope)
        if claims.about is not None:
            m["about"] = cid_to_bytes(claims.about)
        if claims.deps:
            m["deps"] = sorted({cid_to_bytes(c) for c in claims.deps})
    except ValueError as exc:
        raise ValueError(f"bad cid in claims: {exc}") from None
    if claims.body:
        m["body"] = dict(claims.body)
    try:
        payload = cbor.dumps(m)
    except Exception as exc:  # noqa: BLE001 - cbor2 raises several types
        raise ValueError(f"claims cannot be encoded: {exc}") from None
    protected = _protected(identity.kid)
    p_bstr = _bstr_head(len(protected)) + protected
    pl_bstr = _bstr_head(len(payload)) + payload
    signature = identity.sign(_SIG1_PREFIX + p_bstr + b"\x40" + pl_bstr)
    raw = b"\xd2\x84" + p_bstr + b"\xa0" + pl_bstr + b"\x58\x40" + signature
    try:
        return decode_token(raw)
    except InvalidToken as exc:
        raise ValueError(f"claims violate the token profile: {exc}") from None


def _head(data: bytes, pos: int, major: int, what: str,
          wrong_type: str = "not-cose-sign1") -> tuple[int, int]:
    """Read one definite, shortest-form head of `major` type at pos (another
    major type raises the reason `wrong_type`)."""
    if pos >= len(data):
        raise InvalidToken("truncated", f"{what}: no head")
    ib = data[pos]
    if ib >> 5 != major:
        raise InvalidToken(wrong_type, f"{what}: major type {ib >> 5}, expected {major}")
    ai = ib & 0x1F
    if ai < 24:
        return ai, pos + 1
    if ai > 27:
        raise InvalidToken("not-deterministic" if ai == 31 else "bad-cbor", f"{what}: length form")
    n = 1 << (ai - 24)
    if pos + 1 + n > len(data):
        raise InvalidToken("truncated", f"{what}: head")
    value = int.from_bytes(data[pos + 1 : pos + 1 + n], "big")
    if value < (24 if n == 1 else 1 << (4 * n)):
        raise InvalidToken("not-deterministic", f"{what}: length not in shortest form")
    return value, pos + 1 + n


def _bstr(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """(start, end) of a byte string's content at pos."""
    n, start = _head(data, pos, 2, what)
    end = start + n
    if end > len(data):
        raise InvalidToken("truncated", f"{what}: declared {n} bytes", length=n,
                           available=len(data) - start)
    return start, end


def _cid_claim(value: Any, name: str) -> str:
    if not is_cid(value):
        raise InvalidToken("bad-claims", f"{name} must be a {CID_BYTES}-byte troth cid")
    return cid_from_bytes(value)


@lru_cache(maxsize=65_536)
def _protected_header(encoded: bytes) -> tuple[str, bytes]:
    """(agent id, verification key) named by a protected header, or InvalidToken.

    Cached: an issuer's protected header is the same bytes in every token it
    signs, so a node parses each issuer's header once. Only successes are
    cached (lru_cache does not cache exceptions); 65,536 entries, as for keys.
    """
    header = cbor.strict_loads(encoded, InvalidToken)
    if type(header) is not frozendict:  # strict_loads returns maps as frozendicts
        raise InvalidToken("bad-header", "protected header is not a map")
    if header.get(1) != _ALG_EDDSA or type(header.get(1)) is not int:
        raise InvalidToken("bad-alg", f"alg {header.get(1)!r}, expected EdDSA (-8)")
    if 2 in header:
        raise InvalidToken("unknown-critical", "crit is not used by profile v1")
    if header.get(3) != CONTENT_TYPE:
        raise InvalidToken("bad-content-type", f"content type {header.get(3)!r}")
    if set(header) != {1, 3, 4}:
        raise InvalidToken("bad-header", f"unexpected labels {sorted(map(str, header))}")
    kid = header[4]
    info = verify_key_for(kid) if type(kid) is bytes else None
    if info is None:
        raise InvalidToken("bad-kid", "kid is not an Ed25519 peer id")
    return info


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenHead:
    """Who a token's bytes say signed it, and at which seq: read by
    `peek_token` without verifying the signature, so only as good as the
    bytes. Enough for admission to refuse a token before paying for
    verification; a token that is then taken is verified, and the verified
    `Token`'s values are the ones used."""

    issuer: str
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _Envelope:
    """Where the parts of a COSE_Sign1 envelope lie in its bytes (heads checked)."""

    issuer: str
    key: bytes  # the raw Ed25519 public key (`verify_signature`)
    protected_end: int
    payload_start: int
    payload_end: int
    signature_start: int


def _envelope(data: bytes) -> _Envelope:
    """Check the envelope's heads, the protected header and the sizes; raises
    only InvalidToken."""
    if type(data) is not bytes:
        raise InvalidToken("not-bytes", f"got {type(data).__name__}")
    size = len(data)
    if size > TOKEN_SIZE_MAX_BYTES:
        raise TokenTooLarge(size, TOKEN_SIZE_MAX_BYTES)
    if size < 2 or data[0] != 0xD2:
        raise InvalidToken("not-cose-sign1", "expected CBOR tag 18 (COSE_Sign1)")
    if data[1] != 0x84:
        raise InvalidToken("not-cose-sign1", "expected an array of 4")
    # protected header
    p_start, p_end = _bstr(data, 2, "protected header")
    agent_id, key = _protected_header(data[p_start:p_end])
    # unprotected header: must be the empty map
    u = p_end
    if u >= size:
        raise InvalidToken("truncated", "unprotected header")
    if data[u] != 0xA0:
        raise InvalidToken("unprotected-header", "the unprotected header must be empty")
    # payload and signature
    pl_start, pl_end = _bstr(data, u + 1, "payload")
    s_start, s_end = _bstr(data, pl_end, "signature")
    if s_end - s_start != _SIG_BYTES:
        raise InvalidToken("bad-signature", "Ed25519 signatures are 64 bytes",
                           length=s_end - s_start)
    if s_end != size:
        raise InvalidToken("trailing-bytes", length=size - s_end)
    return _Envelope(issuer=agent_id, key=key, protected_end=p_end, payload_start=pl_start,
                     payload_end=pl_end, signature_start=s_start)


# The claims map opens with iss (1), iat (6) and "seq", in that order: they
# are required, and deterministic CBOR sorts keys by their encoded bytes
# (0x01, 0x06, then 0x63 "seq" before every other text key, 0x64.. and 0x65..).
_KEY_ISS = b"\x01"
_KEY_IAT = b"\x06"
_KEY_SEQ = b"\x63seq"


def peek_token(data: bytes) -> TokenHead:
    """The issuer and seq of untrusted bytes, read without verifying the
    signature or decoding the claims (a few header reads; the issuer's key
    is cached). Strict as far as it reads: raises only InvalidToken, and every
    valid token peeks to its own issuer and seq. A forgery peeks to whatever
    it claims: use the result only to refuse."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    env = _envelope(data)
    claims = data[env.payload_start:env.payload_end]
    entries, at = _head(claims, 0, 5, "claims", "bad-claims")
    if entries < 4:
        raise InvalidToken("bad-claims", "claims must hold iss, iat, seq and kind")
    if claims[at:at + 1] != _KEY_ISS:
        raise InvalidToken("bad-claims", "iss (1) must be the first claim")
    length, at = _head(claims, at + 1, 3, "iss", "bad-claims")
    if claims[at:at + length] != env.issuer.encode("ascii"):
        raise InvalidToken("iss-mismatch", "iss is not the agent id of kid")
    at += length
    if claims[at:at + 1] != _KEY_IAT:
        raise InvalidToken("bad-claims", "iat (6) must follow iss")
    _, at = _head(claims, at + 1, 0, "iat", "bad-claims")
    if claims[at:at + len(_KEY_SEQ)] != _KEY_SEQ:
        raise InvalidToken("bad-claims", "seq must follow iat")
    seq, _ = _head(claims, at + len(_KEY_SEQ), 0, "seq", "bad-claims")
    if not 1 <= seq < SEQ_MAX:
        raise InvalidToken("bad-claims", "seq must be an integer >= 1")
    return TokenHead(issuer=env.issuer, seq=seq)


def decode_token(data: bytes) -> Token:
    """Verify and decode untrusted bytes. Raises only InvalidToken."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    env = _envelope(data)
    if not verify_signature(*_signature_job(data, env)):
        raise InvalidToken("bad-signature", "signature does not verify")
    return _decoded_claims(data, env)


def _signature_job(data: bytes, env: _Envelope) -> tuple[bytes, bytes, bytes]:
    """(public key, signature, Sig_structure): the arguments of `verify_signature`."""
    p_end = env.protected_end
    sig_structure = _SIG1_PREFIX + data[2:p_end] + b"\x40" + data[p_end + 1 : env.payload_end]
    return env.key, data[env.signature_start:], sig_structure


def _decoded_claims(data: bytes, env: _Envelope) -> Token:
    """The Token of `data`, whose envelope is `env` and whose signature verified."""
    m = cbor.strict_loads(data[env.payload_start:env.payload_end], InvalidToken)
    return _claims_to_token(m, env.issuer, data)


def _verify_all(jobs: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    return [verify_signature(key, sig, msg) for key, sig, msg in jobs]


# Signatures checked per task of a TokenBatch: about 2 ms of libsodium, long
# beside a task's own cost (tens of µs), short enough that the first token
# waits little.
VERIFY_CHUNK = 32


class TokenBatch:
    """`decode_token` for many tokens at once, their signatures checked by
    `executor` (threads or worker processes) while the caller's thread goes on.

    On a machine with a core to spare the signatures of a burst are checked
    beside the caller, which meanwhile reads claims and applies the tokens
    already decoded. Each envelope is read here, on the caller's thread; each
    chunk of `chunk` signatures goes to `executor` as one task, which only
    answers yes or no for each (`_verify_all`: plain bytes in, booleans out,
    so a process can run it).

    `decode(raw)` returns exactly what `decode_token(raw)` would, the same
    Token or the same InvalidToken reason, waiting for its chunk if need be;
    it is the same door, only with the signature check done ahead. Each raw
    is handed out once; bytes not in the batch are `decode_token`ed on the spot.

    An executor that breaks (a worker process killed) loses no token: the
    signatures it owed are checked here instead, and `broken` says so, for
    the owner to replace it (`answered`: a task of this batch did answer).
    """

    def __init__(self, raws: Iterable[bytes], executor: Executor,
                 chunk: int = VERIFY_CHUNK) -> None:
        self._executor = executor
        self.broken = False
        self.answered = False
        self._entries: dict[bytes, InvalidToken
                            | tuple[_Envelope, Future[list[bool]] | None, int]] = {}
        todo: list[tuple[bytes, _Envelope]] = []
        for raw in raws:
            if type(raw) is not bytes or raw in self._entries:
                continue  # (decoded on the spot: bytes-likes, repeats)
            try:
                env = _envelope(raw)
            except InvalidToken as exc:
                self._entries[raw] = exc
                continue
            todo.append((raw, env))
            if len(todo) == chunk:
                self._submit(todo)
                todo = []
        if todo:
            self._submit(todo)

    def _submit(self, todo: list[tuple[bytes, _Envelope]]) -> None:
        jobs = [_signature_job(raw, env) for raw, env in todo]
        future: Future[list[bool]] | None = None
        if not self.broken:
            try:
                future = self._executor.submit(_verify_all, jobs)
            except BrokenExecutor:
                self.broken = True  # (None: checked on the spot)
        for i, (raw, env) in enumerate(todo):
            self._entries[raw] = (env, future, i)

    def __contains__(self, raw: object) -> bool:
        return raw in self._entries

    def __len__(self) -> int:
        """How many are still to be handed out."""
        return len(self._entries)

    def decode(self, raw: bytes) -> Token:
        entry = self._entries.pop(raw, None)
        if entry is None:
            return decode_token(raw)
        if isinstance(entry, InvalidToken):
            raise entry  # (handed out once, like the raw)
        env, future, i = entry
        verified = None
        if future is not None:
            try:
                verified = future.result()[i]
                self.answered = True
            except BrokenExecutor:
                self.broken = True
        if verified is None:
            verified = verify_signature(*_signature_job(raw, env))
        if not verified:
            raise InvalidToken("bad-signature", "signature does not verify")
        return _decoded_claims(raw, env)


def _claims_to_token(m: Any, agent_id: str, data: bytes) -> Token:
    if type(m) is not frozendict:  # strict_loads returns maps as frozendicts
        raise InvalidToken("bad-claims", "payload is not a map")
    key: Any
    if not _CLAIM_KEYS.issuperset(m):
        for key in m:  # name the first unknown one, in the token's order
            if key not in _CLAIM_KEYS:
                raise InvalidToken("unknown-claim", f"claim {key!r} is not in profile v1")
    iss = m.get(1)
    if type(iss) is not str:
        raise InvalidToken("bad-claims", "iss (1) must be text")
    if iss != agent_id:
        raise InvalidToken("iss-mismatch", "iss is not the agent id of kid")
    iat = m.get(6)
    if type(iat) is not int or not 0 <= iat < IAT_MAX_S:
        raise InvalidToken("bad-claims", "iat (6) must be an unsigned integer of seconds")
    seq = m.get("seq")
    if type(seq) is not int or not 1 <= seq < SEQ_MAX:
        raise InvalidToken("bad-claims", "seq must be an integer >= 1")
    kind = m.get("kind")
    if (type(kind) is not str or not 1 <= len(kind) <= KIND_MAX_CHARS
            or not _KIND_CHARS.issuperset(kind)):
        raise InvalidToken("bad-claims", "kind must be 1..32 of [a-z0-9-]")
    prev_raw = m.get("prev")
    if seq == 1:
        if "prev" in m:  # even prev: null, which would be a second encoding
            raise InvalidToken("bad-claims", "prev must be absent at seq 1")
        prev = None
    else:
        if prev_raw is None:
            raise InvalidToken("bad-claims", "prev is required after seq 1")
        prev = _cid_claim(prev_raw, "prev")
    scope = _cid_claim(m["scope"], "scope") if "scope" in m else None
    about = _cid_claim(m["about"], "about") if "about" in m else None
    deps: tuple[str, ...] = ()
    if "deps" in m:
        raw_deps = m["deps"]
        if type(raw_deps) is not tuple or not raw_deps:
            raise InvalidToken("bad-claims", "deps must be a non-empty array (omit when empty)")
        if len(raw_deps) > DEPS_MAX:
            raise InvalidToken("limit-exceeded", "too many deps", length=len(raw_deps),
                               limit=DEPS_MAX)
        last = b""
        out = []
        for d in raw_deps:
            if not is_cid(d):
                raise InvalidToken("bad-claims", "deps must be troth cids")
            if d <= last:
                raise InvalidToken("not-deterministic", "deps must be sorted and unique")
            last = d
            out.append(cid_from_bytes(d))
        deps = tuple(out)
    body: Mapping[str, Any] = {}
    if "body" in m:
        body = m["body"]
        if type(body) is not frozendict or not body:
            raise InvalidToken("bad-claims", "body must be a non-empty map (omit when empty)")
        for key in body:
            if type(key) is not str:
                raise InvalidToken("bad-claims", "body keys must be text")
    return Token(cid=cid_of(data), raw=data, issuer=iss, iat=iat, seq=seq, kind=kind, prev=prev,
                 scope=scope, deps=deps, about=about, body=body)
