"""Promise tokens: golden vectors both ways, round trips, and the bad-input catalogue.

Theory of operation: the catalogue of refused tokens lives in
tests/vectors/make_vectors.py (and, as bytes, in bad_tokens.json); each entry
names the reason `decode_token` must give. Malformed tokens that must pass the
signature check first are assembled by hand there ("the forge") and signed over
the Sig_structure exactly as wire/token.py builds it. Here we check the files
against the generator, every vector in both directions, every field
combination, every truncation and bit flip of a real token, and the limits.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest

import wire
from tests.vectors import make_vectors as mv

VECTORS = Path(__file__).parent / "vectors"


TOKEN_VECTORS: list[dict[str, Any]] = json.loads(
    (VECTORS / "tokens.json").read_text(encoding="utf-8"))["vectors"]
BAD_VECTORS: list[dict[str, Any]] = json.loads(
    (VECTORS / "bad_tokens.json").read_text(encoding="utf-8"))["vectors"]
ALICE = mv.identity("alice")
BOB = mv.identity("bob")


def thaw(value: Any) -> Any:
    """Plain dicts/lists from decoded (frozendict/tuple) values, for comparison."""
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    if isinstance(value, (dict, cbor2.frozendict)):
        return {k: thaw(v) for k, v in value.items()}
    return value


def same_value(a: Any, b: Any) -> bool:
    """Equal as CBOR values (distinguishes True from 1, unlike ==)."""
    return bool(mv.enc(thaw(a)) == mv.enc(thaw(b)))


def assert_token_matches(token: wire.Token, claims: wire.Claims) -> None:
    assert token.issuer == claims.issuer
    assert token.iat == claims.iat
    assert token.seq == claims.seq
    assert token.kind == claims.kind
    assert token.prev == claims.prev
    assert token.scope == claims.scope
    assert token.about == claims.about
    # deps are a set on the wire: sorted by their bytes, duplicates dropped.
    assert token.deps == tuple(sorted(set(claims.deps), key=wire.cid_to_bytes))
    assert same_value(token.body, claims.body)
    assert token.cid == wire.cid_of(token.raw)


def reason_of(data: bytes) -> str:
    with pytest.raises(wire.InvalidToken) as info:
        wire.decode_token(data)
    return info.value.reason


# ---------------------------------------------------------------- golden vectors


def test_vector_files_are_what_the_generator_writes() -> None:
    for name in mv.FILES:
        assert (VECTORS / name).read_text(encoding="utf-8") == mv.render(name), (
            f"{name} is stale: run tests/vectors/make_vectors.py")


@pytest.mark.parametrize("vector", TOKEN_VECTORS, ids=lambda v: v["name"])
def test_vector_decodes_to_its_fields(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    token = wire.decode_token(raw)
    expected = mv.claims_from_json(vector["decoded"])
    assert token.claims.issuer == Identity_from(vector).agent_id
    assert_token_matches(token, expected)
    assert token.cid == vector["cid"] == wire.cid_of(raw)
    assert token.raw == raw
    assert wire.peek_token(raw) == wire.TokenHead(issuer=token.issuer, seq=token.seq)


@pytest.mark.parametrize("vector", TOKEN_VECTORS, ids=lambda v: v["name"])
def test_vector_claims_encode_to_its_bytes(vector: dict[str, Any]) -> None:
    claims = mv.claims_from_json(vector["claims"])
    assert wire.encode_token(Identity_from(vector), claims).hex() == vector["hex"]
    # the decoded form (deps sorted) encodes to the same bytes too
    decoded = mv.claims_from_json(vector["decoded"])
    assert wire.encode_token(Identity_from(vector), decoded).hex() == vector["hex"]


def Identity_from(vector: dict[str, Any]) -> wire.Identity:  # noqa: N802 - reads as a type
    return wire.Identity.from_seed(bytes.fromhex(vector["seed"]))


@pytest.mark.parametrize("vector", BAD_VECTORS, ids=lambda v: v["name"])
def test_bad_vector_is_refused_with_its_reason(vector: dict[str, Any]) -> None:
    assert reason_of(bytes.fromhex(vector["hex"])) == vector["reason"]


def test_bad_catalogue_covers_every_token_reason() -> None:
    reasons = {v["reason"] for v in BAD_VECTORS}
    assert reasons >= {
        "not-cose-sign1", "truncated", "trailing-bytes", "not-deterministic", "bad-cbor",
        "bad-signature", "bad-alg", "unknown-critical", "bad-content-type", "bad-header",
        "bad-kid", "unprotected-header", "iss-mismatch", "unknown-claim", "bad-claims",
        "limit-exceeded",
    }
    assert len({v["name"] for v in BAD_VECTORS}) == len(BAD_VECTORS)


# ---------------------------------------------------------------- round trips


def _combinations() -> list[wire.Claims]:
    out = []
    flags = itertools.product([False, True], repeat=5)
    for n, (chained, scoped, with_deps, with_about, with_body) in enumerate(flags):
        out.append(wire.Claims(
            issuer=ALICE.agent_id, iat=mv.IAT + n, seq=5 if chained else 1,
            kind="promise" if n % 2 else "ballot",
            prev=mv.fake_cid(100 + n) if chained else None,
            scope=mv.fake_cid(200) if scoped else None,
            deps=(mv.fake_cid(303), mv.fake_cid(301), mv.fake_cid(302)) if with_deps else (),
            about=mv.fake_cid(400 + n) if with_about else None,
            body={"statement": f"case {n}", "items": [1, b"\x00", None, True, {"x": -1}]}
            if with_body else {},
        ))
    return out


@pytest.mark.parametrize("claims", _combinations(), ids=lambda c: f"iat{c.iat - mv.IAT}")
def test_round_trip_every_field_combination(claims: wire.Claims) -> None:
    raw = wire.encode_token(ALICE, claims)
    token = wire.decode_token(raw)
    assert_token_matches(token, claims)
    assert wire.encode_token(ALICE, claims) == raw  # same identity + claims -> same bytes
    assert wire.encode_token(ALICE, token.claims) == raw  # and the decoded claims too
    signed = wire.sign_token(ALICE, claims)
    assert signed == token and signed.raw == raw and hash(signed) == hash(token)


def test_token_equality_is_by_bytes() -> None:
    a = wire.decode_token(wire.encode_token(ALICE, mv.valid_claims()[0][2]))
    b = wire.decode_token(bytearray(a.raw))
    c = wire.decode_token(memoryview(a.raw))
    assert a == b == c and len({a, b, c}) == 1
    other = wire.encode_token(ALICE, wire.Claims(issuer=ALICE.agent_id, iat=1, seq=1,
                                                 kind="promise"))
    assert wire.decode_token(other) != a
    assert a != a.raw


def test_decoded_body_is_deeply_immutable() -> None:
    claims = wire.Claims(issuer=ALICE.agent_id, iat=1, seq=1, kind="promise",
                         body={"a": [1, {"b": [2]}]})
    body = wire.decode_token(wire.encode_token(ALICE, claims)).body
    assert isinstance(body["a"], tuple)
    with pytest.raises(TypeError):
        body["a"][1]["b"] = 3  # type: ignore[index]


def test_cid_of_is_stable() -> None:
    # sha2-256 of b"" in a CIDv1/raw/base32: independent of troth.
    assert wire.cid_of(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    raw = bytes.fromhex(TOKEN_VECTORS[0]["hex"])
    assert wire.cid_of(raw) == wire.cid_of(bytes(raw)) == TOKEN_VECTORS[0]["cid"]
    binary = wire.cid_to_bytes(TOKEN_VECTORS[0]["cid"])
    assert len(binary) == 36 and wire.is_cid(binary)
    assert wire.cid_from_bytes(binary) == TOKEN_VECTORS[0]["cid"]
    for bad in ("", "bafk", "B" + TOKEN_VECTORS[0]["cid"][1:], TOKEN_VECTORS[0]["cid"] + "a"):
        with pytest.raises(ValueError):
            wire.cid_to_bytes(bad)
    assert not wire.is_cid(binary[:-1]) and not wire.is_cid(bytearray(binary))


# ---------------------------------------------------------------- encoder refusals


@pytest.mark.parametrize("change", [
    {"issuer": BOB.agent_id},
    {"seq": 0},
    {"seq": 2},  # prev missing
    {"prev": mv.fake_cid(1)},  # prev at seq 1
    {"kind": "Promise"},
    {"kind": ""},
    {"iat": -1},
    {"scope": "not-a-cid"},
    {"deps": ("bafkrei",)},
    {"body": {"f": 1.5}},
    {"body": {1: "x"}},
    {"body": {"nested": {30: "x"}}},
    {"body": {"t": "x" * (64 * 1024 + 1)}},
    {"body": {"b": object()}},
], ids=repr)
def test_encode_refuses_claims_outside_the_profile(change: dict[str, Any]) -> None:
    base: dict[str, Any] = {"issuer": ALICE.agent_id, "iat": 1, "seq": 1, "kind": "promise"}
    with pytest.raises(ValueError):
        wire.encode_token(ALICE, wire.Claims(**{**base, **change}))


# ---------------------------------------------------------------- strictness on real tokens


def _rich_token() -> bytes:
    return wire.encode_token(ALICE, wire.Claims(
        issuer=ALICE.agent_id, iat=mv.IAT, seq=3, kind="promise", prev=mv.fake_cid(1),
        scope=mv.fake_cid(2), deps=(mv.fake_cid(3), mv.fake_cid(4)), about=mv.fake_cid(5),
        body={"statement": "ship it", "due": mv.IAT + 60}))


def test_truncation_at_every_offset_is_refused() -> None:
    raw = _rich_token()
    for n in range(len(raw)):
        reason = reason_of(raw[:n])
        assert reason == ("not-cose-sign1" if n < 2 else "truncated"), n
    assert wire.decode_token(raw).raw == raw


@pytest.mark.parametrize("tail", [b"\x00", b"\xa0", b"\xff" * 7, b"\xd2"])
def test_trailing_bytes_are_refused(tail: bytes) -> None:
    assert reason_of(_rich_token() + tail) == "trailing-bytes"


def test_every_single_bit_flip_is_refused() -> None:
    raw = _rich_token()
    sig_start = len(raw) - 64
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            flipped = raw[:i] + bytes([raw[i] ^ bit]) + raw[i + 1:]
            reason = reason_of(flipped)
            if i >= sig_start:
                assert reason == "bad-signature", (i, bit)


def test_payload_bit_flips_fail_the_signature() -> None:
    raw = _rich_token()
    start = raw.index(mv.enc(ALICE.agent_id))  # inside the payload
    for i in range(start, len(raw) - 66):
        assert reason_of(raw[:i] + bytes([raw[i] ^ 0x04]) + raw[i + 1:]) == "bad-signature", i


def test_iss_mismatch_needs_a_valid_signature_by_kid() -> None:
    claims = mv.claims_map(ALICE)
    # kid bob, signed by bob, iss alice -> the signature holds, iss does not
    assert reason_of(mv.forge(BOB, claims)) == "iss-mismatch"
    # kid alice, signed by bob -> caught by the signature first
    assert reason_of(mv.forge(BOB, claims, kid=ALICE.kid)) == "bad-signature"
    # and the honest assembly decodes: the forge builds real tokens
    assert wire.decode_token(mv.forge(ALICE, claims)).issuer == ALICE.agent_id


def test_a_peek_reads_issuer_and_seq_without_the_signature() -> None:
    """What admission needs to refuse a token, read before paying for the
    signature: a forgery peeks to what it claims (so a peek may only refuse),
    a malformed envelope or claims head is refused as decoding refuses it."""
    raw = _rich_token()
    forged = raw[:-1] + bytes([raw[-1] ^ 1])
    assert reason_of(forged) == "bad-signature"
    assert wire.peek_token(forged) == wire.peek_token(raw) == wire.TokenHead(
        issuer=ALICE.agent_id, seq=3)
    for n in range(len(raw)):
        with pytest.raises(wire.InvalidToken):
            wire.peek_token(raw[:n])
    with pytest.raises(wire.InvalidToken) as info:
        wire.peek_token(mv.forge(BOB, mv.claims_map(ALICE)))  # kid bob, iss alice
    assert info.value.reason == "iss-mismatch"
    # Claims that decoding refuses only after the signature: the peek refuses
    # those whose first three claims are out of place, and reads the rest.
    no_seq = {k: v for k, v in mv.claims_map(ALICE).items() if k != "seq"}
    with pytest.raises(wire.InvalidToken) as info:
        wire.peek_token(mv.forge(ALICE, no_seq))
    assert info.value.reason == "bad-claims"
    with pytest.raises(wire.InvalidToken) as info:
        wire.peek_token(mv.forge(ALICE, b"\x18\x2a"))  # a payload that is not a map
    assert info.value.reason == "bad-claims"


def test_forge_reproduces_encode_token_exactly() -> None:
    claims = wire.Claims(issuer=ALICE.agent_id, iat=mv.IAT, seq=1, kind="promise",
                         body={"s": "x"})
    forged = mv.forge(ALICE, mv.claims_map(ALICE, body={"s": "x"}))
    assert forged == wire.encode_token(ALICE, claims)


# ---------------------------------------------------------------- limits


def test_oversize_junk_is_refused_before_any_work() -> None:
    limit = wire.TOKEN_SIZE_MAX_BYTES
    with pytest.raises(wire.TokenTooLarge) as info:
        wire.decode_token(b"\xd2\x84" + b"\x00" * (limit - 1))
    assert info.value.reason == "too-large"
    assert info.value.size_bytes == limit + 1 and info.value.limit_bytes == limit
    assert info.value.numbers == {"size_bytes": limit + 1, "limit_bytes": limit}
    assert isinstance(info.value, wire.InvalidToken) and isinstance(info.value, wire.WireError)


def _token_of_size(size: int) -> tuple[wire.Claims, int]:
    """Claims whose token is `size` bytes (the body carries one byte string)."""
    def claims(n: int) -> wire.Claims:
        return wire.Claims(issuer=ALICE.agent_id, iat=1, seq=1, kind="promise",
                           body={"blob": b"\x00" * n})
    probe = len(mv.forge(ALICE, mv.claims_map(ALICE, iat=1, body={"blob": b"\x00" * size})))
    n = size - (probe - size)
    return claims(n), n


def test_size_limit_is_inclusive() -> None:
    limit = wire.TOKEN_SIZE_MAX_BYTES
    claims, n = _token_of_size(limit)
    raw = wire.encode_token(ALICE, claims)
    assert len(raw) == limit and wire.decode_token(raw).raw == raw
    over = mv.forge(ALICE, mv.claims_map(ALICE, iat=1, body={"blob": b"\x00" * (n + 1)}))
    assert len(over) == limit + 1
    with pytest.raises(wire.TokenTooLarge) as info:
        wire.decode_token(over)
    assert (info.value.size_bytes, info.value.limit_bytes) == (limit + 1, limit)
    with pytest.raises(ValueError):
        wire.encode_token(ALICE, wire.Claims(issuer=ALICE.agent_id, iat=1, seq=1,
                                             kind="promise", body={"blob": b"\x00" * (n + 1)}))


def test_deps_limit() -> None:
    cids = sorted(wire.cid_to_bytes(mv.fake_cid(i)) for i in range(wire.DEPS_MAX + 1))
    ok = wire.decode_token(mv.forge(ALICE, mv.claims_map(ALICE, deps=cids[:-1])))
    assert len(ok.deps) == wire.DEPS_MAX
    too_many = mv.forge(ALICE, mv.claims_map(ALICE, deps=cids))
    with pytest.raises(wire.InvalidToken) as info:
        wire.decode_token(too_many)
    assert info.value.reason == "limit-exceeded"
    assert info.value.numbers == {"length": wire.DEPS_MAX + 1, "limit": wire.DEPS_MAX}
    with pytest.raises(ValueError):
        wire.encode_token(ALICE, wire.Claims(
            issuer=ALICE.agent_id, iat=1, seq=1, kind="tally",
            deps=tuple(wire.cid_from_bytes(c) for c in cids)))


def test_nesting_limit_is_exact() -> None:
    def nested(depth: int) -> Any:
        v: Any = 0
        for _ in range(depth):
            v = [v]
        return v
    # payload map (1) + body map (2) + lists: the body may nest to DEPTH_MAX in total
    deepest = wire.cbor.DEPTH_MAX - 2
    ok = mv.forge(ALICE, mv.claims_map(ALICE, body={"d": nested(deepest)}))
    assert same_value(wire.decode_token(ok).body["d"], nested(deepest))
    assert reason_of(mv.forge(ALICE, mv.claims_map(
        ALICE, body={"d": nested(deepest + 1)}))) == "limit-exceeded"
    assert reason_of(mv.forge(ALICE, mv.claims_map(
        ALICE, body={"d": nested(500)}))) == "limit-exceeded"


@pytest.mark.parametrize("value", ["d28400", None, 18, ["x"]], ids=repr)
def test_decode_of_a_non_bytes_value(value: Any) -> None:
    with pytest.raises(wire.InvalidToken) as info:
        wire.decode_token(value)
    assert info.value.reason == "not-bytes"


def test_unknown_kinds_are_carried() -> None:
    raw = wire.encode_token(ALICE, wire.Claims(issuer=ALICE.agent_id, iat=1, seq=1,
                                               kind="x-2030-kind"))
    token = wire.decode_token(raw)
    assert token.kind == "x-2030-kind" and token.kind not in wire.KINDS
