"""Property tests of the wire codecs (hypothesis, derandomized: same run every time).

Theory of operation: three rules, checked over generated input.
1. Round trip: any claim set of the profile encodes, decodes to the same fields,
   and re-encodes to the same bytes; the same for frames.
2. Decoding is total (docs/decisions/0001-token-codec.md): for ANY bytes,
   `decode_token` returns a Token or raises `InvalidToken`, and `decode_frame`
   returns a frame or raises `InvalidFrame`; nothing else escapes. Inputs are
   random bytes and random mutations (flip, insert, delete, splice) of valid
   tokens and frames.
3. Prefixes: every strict prefix of a valid token fails with InvalidToken
   (the byte-at-a-time feed of h11's tests), and only the whole token decodes.
`max_examples` is kept moderate so the whole file runs in a few seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import wire
from tests.vectors import make_vectors as mv
from wire import cbor

VECTORS = Path(__file__).parent / "vectors"


IDENTITIES = [mv.identity(n) for n in ("alice", "bob", "carol")]
BY_ID = {i.agent_id: i for i in IDENTITIES}
VALID_TOKENS = [bytes.fromhex(v["hex"]) for v in json.loads(
    (VECTORS / "tokens.json").read_text(encoding="utf-8"))["vectors"]]
VALID_FRAMES = [bytes.fromhex(v["hex"]) for v in json.loads(
    (VECTORS / "frames.json").read_text(encoding="utf-8"))["vectors"]]

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=150,
                    suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(SETTINGS, max_examples=400)

# ---------------------------------------------------------------- strategies

cids = st.binary(min_size=32, max_size=32).map(lambda d: wire.cid_from_bytes(
    b"\x01\x55\x12\x20" + d))
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**64 - 1)
           | st.text(max_size=20) | st.binary(max_size=20))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(st.text(max_size=10), values, max_size=5)
kinds = st.sampled_from(sorted(wire.KINDS)) | st.from_regex(r"[a-z0-9-]{1,32}", fullmatch=True)


@st.composite
def claim_sets(draw: st.DrawFn) -> wire.Claims:
    issuer = draw(st.sampled_from(IDENTITIES)).agent_id
    seq = draw(st.integers(min_value=1, max_value=2**53 - 1))
    return wire.Claims(
        issuer=issuer,
        iat=draw(st.integers(min_value=0, max_value=2**40 - 1)),
        seq=seq,
        kind=draw(kinds),
        prev=draw(cids) if seq > 1 else None,
        scope=draw(st.none() | cids),
        deps=tuple(draw(st.lists(cids, max_size=6))),
        about=draw(st.none() | cids),
        body=draw(bodies),
    )


def depth(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def thaw(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    if isinstance(value, (dict, cbor2.frozendict)):
        return {k: thaw(v) for k, v in value.items()}
    return value


@st.composite
def mutations(draw: st.DrawFn, corpus: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "splice", "cut"]))
        i = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[i] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif op == "set" and data:
            data[i] = draw(st.sampled_from([0x00, 0x18, 0x1B, 0x5B, 0x7F, 0x9F, 0xBF, 0xC2,
                                            0xD8, 0xF7, 0xF9, 0xFF]))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=9))
        elif op == "delete" and data:
            del data[i:i + draw(st.integers(min_value=1, max_value=9))]
        elif op == "splice":
            other = draw(st.sampled_from(corpus))
            j = draw(st.integers(min_value=0, max_value=len(other)))
            data[i:] = other[j:]
        elif op == "cut":
            del data[i:]
    return bytes(data)


# ---------------------------------------------------------------- 1. round trips


@SETTINGS
@given(claim_sets())
def test_token_round_trip(claims: wire.Claims) -> None:
    assume(depth(claims.body) <= cbor.DEPTH_MAX - 2)
    identity = BY_ID[claims.issuer]
    raw = wire.encode_token(identity, claims)
    token = wire.decode_token(raw)
    assert (token.issuer, token.iat, token.seq, token.kind) == (
        claims.issuer, claims.iat, claims.seq, claims.kind)
    assert (token.prev, token.scope, token.about) == (claims.prev, claims.scope, claims.about)
    assert token.deps == tuple(sorted(set(claims.deps), key=wire.cid_to_bytes))
    # compare as CBOR so that True and 1 are not confused
    assert mv.enc(thaw(token.body)) == mv.enc(thaw(claims.body))
    assert token.cid == wire.cid_of(raw)
    assert wire.encode_token(identity, claims) == raw
    assert wire.encode_token(identity, token.claims) == raw
    assert wire.peek_token(raw) == wire.TokenHead(issuer=claims.issuer, seq=claims.seq)


@SETTINGS
@given(values)
def test_strict_cbor_round_trip(value: Any) -> None:
    assume(depth(value) <= cbor.DEPTH_MAX)
    data = cbor.dumps(value)
    assert mv.enc(thaw(cbor.strict_loads(data, wire.InvalidToken))) == data


@st.composite
def frames(draw: st.DrawFn) -> wire.Frame:
    which = draw(st.integers(min_value=0, max_value=4))
    agents = st.sampled_from(IDENTITIES).map(lambda i: i.agent_id)
    seqs = st.integers(min_value=1, max_value=2**53)
    if which == 0:
        return wire.Hello(digest=draw(st.binary(min_size=32, max_size=32)),
                          agents=draw(st.integers(min_value=0, max_value=2**53)))
    if which == 1:
        chosen = draw(st.lists(st.sampled_from(IDENTITIES), unique=True))
        entries = sorted((wire.FrontierEntry(agent=i.agent_id, seq=draw(seqs), head=draw(cids))
                          for i in chosen), key=lambda e: wire.agent_id_to_bytes(e.agent))
        return wire.Frontier(entries=tuple(entries))
    if which == 2:
        first = draw(st.integers(min_value=1, max_value=2**53 - 100_000))
        span = draw(st.integers(min_value=0, max_value=99_999))
        return wire.WantRange(agent=draw(agents), first_seq=first, last_seq=first + span)
    if which == 3:
        return wire.WantCids(cids=tuple(draw(st.lists(cids, min_size=1, max_size=8))))
    return wire.Tokens(tokens=tuple(draw(st.lists(st.binary(max_size=64), min_size=1,
                                                  max_size=4))))


@SETTINGS
@given(frames())
def test_frame_round_trip(frame: wire.Frame) -> None:
    data = wire.encode_frame(frame)
    assert wire.decode_frame(data) == frame
    assert wire.encode_frame(wire.decode_frame(data)) == data


# ---------------------------------------------------------------- 2. fuzz rule


def decode_token_or_invalid(data: bytes) -> None:
    """Decode and peek `data`: each returns or raises InvalidToken, nothing
    else; a token that decodes peeks to its own issuer and seq."""
    try:
        head: wire.TokenHead | None = wire.peek_token(data)
    except wire.InvalidToken as exc:
        assert isinstance(exc.reason, str) and exc.reason
        head = None
    try:
        token = wire.decode_token(data)
    except wire.InvalidToken as exc:
        assert isinstance(exc.reason, str) and exc.reason
        return
    # If it decodes it is a real token: its bytes re-encode exactly, and the
    # peek (which refused nothing valid) read what decoding verified.
    assert wire.encode_token(BY_ID[token.issuer], token.claims) == data
    assert head == wire.TokenHead(issuer=token.issuer, seq=token.seq)


def decode_frame_or_invalid(data: bytes) -> None:
    try:
        frame = wire.decode_frame(data)
    except wire.InvalidFrame as exc:
        assert isinstance(exc.reason, str) and exc.reason
        return
    assert wire.encode_frame(frame) == data


@FUZZ
@given(st.binary(max_size=400) | st.binary(max_size=400).map(lambda b: b"\xd2\x84" + b))
def test_random_bytes_never_escape_as_other_errors(data: bytes) -> None:
    decode_token_or_invalid(data)
    decode_frame_or_invalid(data)


@FUZZ
@given(mutations(VALID_TOKENS))
def test_mutated_tokens_never_escape(data: bytes) -> None:
    decode_token_or_invalid(data)


@FUZZ
@given(mutations(VALID_FRAMES))
def test_mutated_frames_never_escape(data: bytes) -> None:
    decode_frame_or_invalid(data)


@FUZZ
@given(st.binary(max_size=300))
def test_any_payload_signed_by_kid_never_escapes(payload: bytes) -> None:
    """Reach the payload checks with arbitrary, validly signed payload bytes."""
    alice = IDENTITIES[0]
    decode_token_or_invalid(mv.forge(alice, payload))


# ---------------------------------------------------------------- 3. prefixes


@settings(SETTINGS, max_examples=25)
@given(claim_sets())
def test_every_strict_prefix_fails(claims: wire.Claims) -> None:
    assume(depth(claims.body) <= cbor.DEPTH_MAX - 2)
    raw = wire.encode_token(BY_ID[claims.issuer], claims)
    for n in range(len(raw)):
        try:
            wire.decode_token(raw[:n])
        except wire.InvalidToken as exc:
            assert exc.reason in {"truncated", "not-cose-sign1"}
        else:
            raise AssertionError(f"prefix of {n} bytes decoded")
    assert wire.decode_token(raw).raw == raw


@FUZZ
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=40))
def test_fast_cid_text_equals_rfc4648_base32(digest: bytes, other: bytes) -> None:
    import base64

    for raw in (b"\x01\x55\x12\x20" + digest, other):
        text = "b" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()
        assert wire.cid_from_bytes(raw) == text
