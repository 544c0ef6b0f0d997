"""Golden vectors for the wire layer: writes tokens.json, bad_tokens.json, frames.json.

Theory of operation: every vector is derived from fixed 32-byte seeds
(`Identity.from_seed`) and fixed claims. Ed25519 signatures are deterministic
(RFC 8032 §5.1.6), so running this script twice writes identical files, and a
change in any file means the encoding changed. The tests check the vectors in
both directions (hex -> fields with `decode_token`, fields -> hex with
`encode_token`); see tests/test_wire_tokens.py and tests/test_wire_frames.py.

This module also owns the *forge*: helpers that assemble a COSE_Sign1 by hand
from raw protected-header and payload bytes and sign the Sig_structure exactly
as wire/token.py builds it. Malformed-but-validly-signed tokens are the only way
to reach the payload checks that run after signature verification, so the
bad-token catalogue below uses the forge, and the tests import it from here
(one definition of the catalogue, shared by the JSON file and the tests).

Run: .venv/bin/python tests/vectors/make_vectors.py
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2

import wire
from wire.ids import Identity

HERE = Path(__file__).resolve().parent

# Test-only keys. Never use these seeds for anything but vectors.
SEED_ALICE = bytes([0x01]) * 32
SEED_BOB = bytes([0x02]) * 32
SEED_CAROL = bytes(range(32))
SEEDS = {"alice": SEED_ALICE, "bob": SEED_BOB, "carol": SEED_CAROL}
IAT = 1_700_000_000  # 2023-11-14T22:13:20Z, a fixed instant

SIG1_PREFIX = bytes([0x84, 0x6A]) + b"Signature1"  # ["Signature1", ... (array of 4)
TAG18_ARRAY4 = b"\xd2\x84"


def identity(name: str) -> Identity:
    return Identity.from_seed(SEEDS[name])


def fake_cid(n: int) -> str:
    """A well-formed cid of made-up content (the sha2-256 of a counter)."""
    return wire.cid_of(b"troth-vector-%d" % n)


# ---------------------------------------------------------------- the forge


def head(major: int, n: int) -> bytes:
    """Shortest-form CBOR head (RFC 8949 §3, §4.2.1)."""
    if n < 24:
        return bytes([(major << 5) | n])
    for ai, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([(major << 5) | ai]) + n.to_bytes(width, "big")
    raise ValueError(f"length {n} does not fit a CBOR head")


def bstr(data: bytes) -> bytes:
    return head(2, len(data)) + data


def enc(value: Any) -> bytes:
    """Deterministic encoding (the same as wire.cbor.dumps)."""
    return cbor2.dumps(value, canonical=True)


def raw_map(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """A map from already-encoded (key, value) pairs, in the order given."""
    return head(5, len(pairs)) + b"".join(k + v for k, v in pairs)


def protected_header(kid: bytes, *, alg: Any = -8, ct: Any = wire.CONTENT_TYPE,
                     extra: Mapping[Any, Any] | None = None,
                     drop: tuple[int, ...] = ()) -> bytes:
    m: dict[Any, Any] = {1: alg, 3: ct, 4: kid}
    m.update(extra or {})
    for label in drop:
        del m[label]
    return enc(m)


def claims_map(issuer: Identity | str, *, seq: int = 1, kind: str = "promise",
               iat: int = IAT, **more: Any) -> dict[Any, Any]:
    iss = issuer if isinstance(issuer, str) else issuer.agent_id
    m: dict[Any, Any] = {1: iss, 6: iat, "seq": seq, "kind": kind}
    m.update(more)
    return m


def sig_structure(protected_bstr: bytes, payload_bstr: bytes) -> bytes:
    """Sig_structure (RFC 9052 §4.4) with empty external_aad, from encoded bstrs."""
    return SIG1_PREFIX + protected_bstr + b"\x40" + payload_bstr


def sign1(signer: Identity, protected: bytes, payload: bytes, *,
          unprotected: bytes = b"\xa0", prefix: bytes = TAG18_ARRAY4,
          protected_bstr: bytes | None = None, payload_bstr: bytes | None = None,
          signature: bytes | None = None, suffix: bytes = b"") -> bytes:
    """Assemble and sign a COSE_Sign1 from raw parts (defaults: the troth shape).

    `protected_bstr` / `payload_bstr` override the encoded byte strings (to test
    non-shortest or indefinite heads); the signature is over whatever is used.
    """
    p = bstr(protected) if protected_bstr is None else protected_bstr
    pl = bstr(payload) if payload_bstr is None else payload_bstr
    sig = signer.sign(sig_structure(p, pl)) if signature is None else signature
    return prefix + p + unprotected + pl + bstr(sig) + suffix


def forge(signer: Identity, claims: Mapping[Any, Any] | bytes, *,
          kid: bytes | None = None, protected: bytes | None = None, **kw: Any) -> bytes:
    """A token with the given claims (a map, or raw payload bytes), signed by `signer`."""
    payload = claims if isinstance(claims, bytes) else enc(dict(claims))
    if protected is None:
        protected = protected_header(signer.kid if kid is None else kid)
    return sign1(signer, protected, payload, **kw)


# ---------------------------------------------------------------- valid tokens


def valid_claims() -> list[tuple[str, str, wire.Claims]]:
    """(name, signer name, claims): one of each field combination that matters."""
    alice, bob, carol = identity("alice"), identity("bob"), identity("carol")
    return [
        ("minimal", "alice", wire.Claims(issuer=alice.agent_id, iat=IAT, seq=1, kind="promise")),
        ("iat-zero", "carol", wire.Claims(issuer=carol.agent_id, iat=0, seq=1, kind="charter")),
        ("scoped-promise", "alice", wire.Claims(
            issuer=alice.agent_id, iat=IAT + 1, seq=1, kind="promise", scope=fake_cid(0),
            body={"statement": "I will review PR 42", "due": IAT + 86_400,
                  "transition": ["f1", ["in"], ["out"], "f2"]})),
        ("chained-with-deps", "alice", wire.Claims(
            issuer=alice.agent_id, iat=IAT + 2, seq=2, kind="assess", prev=fake_cid(1),
            scope=fake_cid(0), deps=(fake_cid(4), fake_cid(2), fake_cid(3)),
            body={"verdict": "kept", "score": -3, "ok": True, "note": None})),
        ("fulfil-about", "bob", wire.Claims(
            issuer=bob.agent_id, iat=IAT + 3, seq=7, kind="fulfil", prev=fake_cid(5),
            about=fake_cid(6), body={"evidence": b"\x00\x01\xfe\xff", "digest": b"\x12" * 32})),
        ("every-field", "bob", wire.Claims(
            issuer=bob.agent_id, iat=2**40 - 1, seq=2**53 - 1, kind="tally", prev=fake_cid(7),
            scope=fake_cid(8), deps=(fake_cid(9),), about=fake_cid(10),
            body={"counts": {"yes": 3, "no": 1, "": 0}, "nested": [[1, [2, [3]]], {"k": []}],
                  "big": 2**64 - 1, "neg": -(2**64), "text": "naïve ☃"})),
        ("unknown-kind", "carol", wire.Claims(
            issuer=carol.agent_id, iat=IAT, seq=3, kind="x-future-kind-2", prev=fake_cid(11),
            body={"anything": "carried, not interpreted"})),
    ]


def body_to_json(value: Any) -> Any:
    """JSON form of a body value: bytes become {"$bytes": hex}, sequences lists."""
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, (list, tuple)):
        return [body_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: body_to_json(v) for k, v in value.items()}
    return value


def body_from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        return {k: body_from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [body_from_json(v) for v in value]
    return value


def claims_to_json(claims: wire.Claims) -> dict[str, Any]:
    return {"issuer": claims.issuer, "iat": claims.iat, "seq": claims.seq, "kind": claims.kind,
            "prev": claims.prev, "scope": claims.scope, "deps": list(claims.deps),
            "about": claims.about, "body": body_to_json(claims.body)}


def claims_from_json(d: Mapping[str, Any]) -> wire.Claims:
    return wire.Claims(issuer=d["issuer"], iat=d["iat"], seq=d["seq"], kind=d["kind"],
                       prev=d["prev"], scope=d["scope"], deps=tuple(d["deps"]),
                       about=d["about"], body=body_from_json(d["body"]))


def token_vectors() -> list[dict[str, Any]]:
    out = []
    for name, signer, claims in valid_claims():
        raw = wire.encode_token(identity(signer), claims)
        token = wire.decode_token(raw)
        out.append({"name": name, "signer": signer, "seed": SEEDS[signer].hex(),
                    "claims": claims_to_json(claims),
                    # What decode_token returns: deps sorted by their bytes.
                    "decoded": claims_to_json(token.claims),
                    "cid": token.cid, "hex": raw.hex()})
    return out


# ---------------------------------------------------------------- bad tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class BadToken:
    name: str
    reason: str
    data: bytes
    note: str = ""


def _with_byte(data: bytes, index: int, value: int) -> bytes:
    return data[:index] + bytes([value]) + data[index + 1:]


def bad_tokens() -> list[BadToken]:
    """The catalogue of refused tokens, each with the reason decode_token must give."""
    alice, bob = identity("alice"), identity("bob")
    good = wire.encode_token(alice, wire.Claims(issuer=alice.agent_id, iat=IAT, seq=1,
                                                kind="promise", body={"s": "x"}))
    p_len = len(protected_header(alice.kid))
    p_end = 2 + len(head(2, p_len)) + p_len  # offset of the unprotected header
    cid_a, cid_b, cid_c = (wire.cid_to_bytes(fake_cid(i)) for i in (20, 21, 22))
    cases: list[BadToken] = []

    def add(name: str, reason: str, data: bytes, note: str = "") -> None:
        cases.append(BadToken(name=name, reason=reason, data=data, note=note))

    def claims(**kw: Any) -> dict[Any, Any]:
        return claims_map(alice, **kw)

    def body_raw(value: bytes) -> bytes:
        """Claims whose body is {"f": <value given as raw bytes>}, keys in order."""
        return raw_map([(enc(1), enc(alice.agent_id)), (enc(6), enc(IAT)), (enc("seq"), enc(1)),
                        (enc("body"), b"\xa1" + enc("f") + value), (enc("kind"), enc("promise"))])

    def without(key: Any) -> dict[Any, Any]:
        m = claims()
        del m[key]
        return m

    # --- envelope
    add("empty", "not-cose-sign1", b"")
    add("tag-17-cose-mac0", "not-cose-sign1", b"\xd1" + good[1:])
    add("tag-98-cose-sign", "not-cose-sign1", b"\xd8\x62" + good[1:])
    add("untagged", "not-cose-sign1", good[1:])
    add("tag-18-non-shortest", "not-cose-sign1", b"\xd8\x12" + good[1:])
    add("array-of-3", "not-cose-sign1", b"\xd2\x83" + good[2:])
    add("array-of-5", "not-cose-sign1", b"\xd2\x85" + good[2:])
    add("trailing-byte", "trailing-bytes", good + b"\x00")
    add("trailing-token", "trailing-bytes", good + good)
    add("truncated-signature", "truncated", good[:-1])
    add("protected-not-bstr", "not-cose-sign1",
        good[:2] + b"\x78" + good[3:], "text head instead of byte string head")
    add("protected-non-shortest-head", "not-deterministic",
        forge(alice, claims(), protected_bstr=b"\x59\x00" + bytes([p_len])
              + protected_header(alice.kid)))
    add("payload-non-shortest-head", "not-deterministic",
        forge(alice, claims(), payload_bstr=b"\x5a\x00\x00\x00" + bytes([len(enc(claims()))])
              + enc(claims())))
    add("payload-indefinite-bstr", "not-deterministic",
        forge(alice, claims(), payload_bstr=b"\x5f" + bstr(enc(claims())) + b"\xff"))
    add("payload-huge-declared-length", "truncated",
        good[:p_end + 1] + b"\x5b" + (2**62).to_bytes(8, "big") + b"\xa0")
    add("payload-reserved-length-form", "bad-cbor", good[:p_end + 1] + b"\x5c" + good[p_end + 2:])
    add("payload-not-bstr", "not-cose-sign1",
        sign1(alice, protected_header(alice.kid), b"", payload_bstr=b"\xf6"),
        "detached payload (nil) is not allowed")
    add("signature-63-bytes", "bad-signature",
        sign1(alice, protected_header(alice.kid), enc(claims()), signature=b"\x00" * 63))
    add("signature-65-bytes", "bad-signature",
        sign1(alice, protected_header(alice.kid), enc(claims()), signature=b"\x00" * 65))
    # --- tampering (the signature no longer matches)
    add("tampered-payload", "bad-signature", _with_byte(good, len(good) - 70, good[-70] ^ 0x01),
        "one bit of the body text flipped")
    add("tampered-signature", "bad-signature", _with_byte(good, len(good) - 1, good[-1] ^ 0x80))
    add("tampered-kid", "bad-signature",
        _with_byte(good, p_end - 1, good[p_end - 1] ^ 0x01), "last byte of the public key")
    add("tampered-content-type", "bad-content-type",
        good.replace(b"v=1", b"v=2"))
    add("signed-by-other-key", "bad-signature", forge(bob, claims(), kid=alice.kid),
        "kid and iss are alice, signature by bob")
    add("iss-of-other-agent", "iss-mismatch", forge(bob, claims()),
        "kid and signature are bob, iss is alice")
    # --- protected header
    add("alg-es256", "bad-alg", forge(alice, claims(), protected=protected_header(
        alice.kid, alg=-7)))
    add("alg-as-text", "bad-alg", forge(alice, claims(), protected=protected_header(
        alice.kid, alg="EdDSA")))
    add("alg-missing", "bad-alg", forge(alice, claims(), protected=protected_header(
        alice.kid, drop=(1,))))
    add("alg-in-unprotected-only", "bad-alg",
        forge(alice, claims(), protected=protected_header(alice.kid, drop=(1,)),
              unprotected=enc({1: -8})))
    add("unprotected-alg-too", "unprotected-header", forge(alice, claims(),
                                                           unprotected=enc({1: -8})))
    add("unprotected-kid", "unprotected-header", forge(alice, claims(),
                                                       unprotected=enc({4: alice.kid})))
    add("unprotected-nil", "unprotected-header", forge(alice, claims(), unprotected=b"\xf6"))
    add("crit-unknown-label", "unknown-critical", forge(alice, claims(), protected=(
        protected_header(alice.kid, extra={2: [99]}))))
    add("extra-header-label", "bad-header", forge(alice, claims(), protected=(
        protected_header(alice.kid, extra={5: b"\x00" * 12}))))
    add("content-type-missing", "bad-content-type", forge(alice, claims(), protected=(
        protected_header(alice.kid, drop=(3,)))))
    add("content-type-as-int", "bad-content-type", forge(alice, claims(), protected=(
        protected_header(alice.kid, ct=60))))
    add("kid-missing", "bad-header", forge(alice, claims(), protected=(
        protected_header(alice.kid, drop=(4,)))))
    add("kid-as-text", "bad-kid", forge(alice, claims(), protected=enc(
        {1: -8, 3: wire.CONTENT_TYPE, 4: alice.agent_id})))
    add("kid-secp256k1-peer-id", "bad-kid", forge(alice, claims(), protected=(
        protected_header(b"\x00\x25\x08\x02\x12\x21" + b"\x02" * 33))))
    add("kid-truncated", "bad-kid", forge(alice, claims(), protected=(
        protected_header(alice.kid[:-1]))))
    add("protected-header-array", "bad-header", forge(alice, claims(), protected=enc(
        [1, -8])))
    add("protected-header-empty", "truncated", forge(alice, claims(), protected=b""))
    add("protected-header-unsorted", "not-deterministic", forge(alice, claims(), protected=(
        raw_map([(enc(4), enc(alice.kid)), (enc(1), enc(-8)), (enc(3), enc(wire.CONTENT_TYPE))]))))
    add("protected-header-duplicate-alg", "bad-cbor", forge(alice, claims(), protected=(
        raw_map([(enc(1), enc(-8)), (enc(1), enc(-8)), (enc(3), enc(wire.CONTENT_TYPE)),
                 (enc(4), enc(alice.kid))]))))
    # --- payload encoding (validly signed)
    add("payload-empty", "truncated", forge(alice, b""))
    add("payload-trailing-byte", "trailing-bytes", forge(alice, enc(claims()) + b"\x00"))
    add("payload-duplicate-key", "bad-cbor", forge(alice, raw_map(
        [(enc(1), enc(alice.agent_id)), (enc(6), enc(IAT)), (enc("seq"), enc(1)),
         (enc("seq"), enc(1)), (enc("kind"), enc("promise"))])))
    add("payload-unsorted-keys", "not-deterministic", forge(alice, raw_map(
        [(enc(6), enc(IAT)), (enc(1), enc(alice.agent_id)), (enc("seq"), enc(1)),
         (enc("kind"), enc("promise"))])))
    add("payload-length-first-vs-bytewise", "not-deterministic", forge(alice, raw_map(
        [(enc(1), enc(alice.agent_id)), (enc(6), enc(IAT)), (enc("seq"), enc(1)),
         (enc("kind"), enc("promise")), (enc("body"), enc({"s": 1}))])),
        "'kind' before 'body': same length, bytewise order puts body first")
    add("payload-non-shortest-int", "not-deterministic", forge(alice, raw_map(
        [(enc(1), enc(alice.agent_id)), (enc(6), enc(IAT)), (enc("seq"), b"\x18\x01"),
         (enc("kind"), enc("promise"))])))
    add("payload-non-shortest-text-head", "not-deterministic", forge(alice, raw_map(
        [(enc(1), enc(alice.agent_id)), (enc(6), enc(IAT)), (enc("seq"), enc(1)),
         (enc("kind"), b"\x78\x07promise")])))
    add("payload-indefinite-map", "not-deterministic", forge(
        alice, b"\xbf" + enc(claims())[1:] + b"\xff"))
    add("payload-indefinite-text", "not-deterministic", forge(alice, raw_map(
        [(enc(1), enc(alice.agent_id)), (enc(6), enc(IAT)), (enc("seq"), enc(1)),
         (enc("kind"), b"\x7f" + enc("pro") + enc("mise") + b"\xff")])))
    add("payload-indefinite-array", "not-deterministic", forge(alice, raw_map(
        [(enc(1), enc(alice.agent_id)), (enc(6), enc(IAT)), (enc("seq"), enc(1)),
         (enc("kind"), enc("promise")), (enc("body"), enc({"a": 1})[:-1] + b"\x9f\xff")])))
    add("payload-huge-text-length", "truncated", forge(alice, raw_map(
        [(enc(1), enc(alice.agent_id)), (enc(6), enc(IAT)), (enc("seq"), enc(1)),
         (enc("kind"), b"\x7b" + (2**62).to_bytes(8, "big") + b"promise")])))
    add("payload-huge-array-count", "truncated", forge(alice, raw_map(
        [(enc(1), enc(alice.agent_id)), (enc(6), enc(IAT)), (enc("seq"), enc(1)),
         (enc("kind"), enc("promise")),
         (enc("body"), b"\xa1" + enc("a") + b"\x9b" + (2**62).to_bytes(8, "big") + b"\x01")])))
    add("payload-invalid-utf8", "bad-cbor", forge(alice, raw_map(
        [(enc(1), enc(alice.agent_id)), (enc(6), enc(IAT)), (enc("seq"), enc(1)),
         (enc("kind"), b"\x67promis\xff")])))
    add("payload-not-a-map", "bad-claims", forge(alice, enc([alice.agent_id, IAT, 1])))
    deep: Any = 1
    for _ in range(20):
        deep = [deep]
    add("body-too-deep", "limit-exceeded", forge(alice, claims(body={"d": deep})))
    add("body-float", "bad-cbor", forge(alice, claims(body={"f": 1.5})))
    add("body-half-float", "bad-cbor", forge(alice, body_raw(b"\xf9\x3c\x00")))
    add("body-undefined", "bad-cbor", forge(alice, body_raw(b"\xf7")))
    add("body-simple-value", "bad-cbor", forge(alice, body_raw(b"\xf0")))
    for tag_name, tag_bytes in (("bignum", b"\xc2\x41\x01"), ("datetime-text", b"\xc0\x61\x31"),
                                ("epoch-datetime", b"\xc1\x01"),
                                ("shareable-28", b"\xd8\x1c\x80"),
                                ("shared-ref-29", b"\xd8\x1d\x00"),
                                ("self-describe-55799", b"\xd9\xd9\xf7\x01"),
                                ("unassigned-tag", b"\xd9\x04\xd2\x01")):
        add(f"body-tag-{tag_name}", "bad-cbor",
            forge(alice, body_raw(tag_bytes)))
    add("body-int-key-out-of-range", "bad-cbor", forge(alice, body_raw(b"\xa1\x18\x18\x00")),
        "nested map key 24: keys are text or 0..23")
    # --- claims (validly signed, deterministic, but not the profile)
    add("unknown-claim-text", "unknown-claim", forge(alice, claims(extra=1)))
    add("unknown-claim-int", "unknown-claim", forge(alice, {**claims(), 2: "subject"}))
    for key in (1, 6, "seq", "kind"):
        add(f"missing-{key}", "bad-claims", forge(alice, without(key)))
    add("iss-as-bytes", "bad-claims", forge(alice, {**claims(), 1: alice.kid}))
    add("iss-as-int", "bad-claims", forge(alice, {**claims(), 1: 7}))
    add("iat-as-text", "bad-claims", forge(alice, claims(iat="2023-11-14")))  # type: ignore[arg-type]
    add("iat-negative", "bad-claims", forge(alice, claims(iat=-1)))
    add("iat-too-large", "bad-claims", forge(alice, claims(iat=2**40)))
    add("iat-bool", "bad-claims", forge(alice, claims(iat=True)))
    add("seq-zero", "bad-claims", forge(alice, claims(seq=0)))
    add("seq-negative", "bad-claims", forge(alice, claims(seq=-1)))
    add("seq-too-large", "bad-claims", forge(alice, claims(seq=2**53, prev=cid_a)))
    add("seq-as-text", "bad-claims", forge(alice, claims(seq="1")))  # type: ignore[arg-type]
    add("seq-null", "bad-claims", forge(alice, claims(seq=None)))  # type: ignore[arg-type]
    add("kind-empty", "bad-claims", forge(alice, claims(kind="")))
    add("kind-uppercase", "bad-claims", forge(alice, claims(kind="Promise")))
    add("kind-33-chars", "bad-claims", forge(alice, claims(kind="a" * 33)))
    add("kind-as-bytes", "bad-claims", forge(alice, claims(kind=b"promise")))  # type: ignore[arg-type]
    add("prev-at-seq-1", "bad-claims", forge(alice, claims(prev=cid_a)))
    add("prev-missing-at-seq-2", "bad-claims", forge(alice, claims(seq=2)))
    add("prev-as-text-cid", "bad-claims", forge(alice, claims(seq=2, prev=fake_cid(20))))
    add("prev-short", "bad-claims", forge(alice, claims(seq=2, prev=cid_a[:-1])))
    add("prev-null", "bad-claims", forge(alice, claims(seq=2, prev=None)))
    add("prev-null-at-seq-1", "bad-claims", forge(alice, claims(prev=None)),
        "a second encoding of the same claims if accepted")
    add("prev-wrong-multihash", "bad-claims",
        forge(alice, claims(seq=2, prev=b"\x01\x71\x12\x20" + cid_a[4:])),
        "dag-cbor codec instead of raw")
    add("scope-as-int", "bad-claims", forge(alice, claims(scope=5)))
    add("scope-null", "bad-claims", forge(alice, claims(scope=None)))
    add("about-as-text", "bad-claims", forge(alice, claims(about="bafk")))
    add("deps-not-array", "bad-claims", forge(alice, claims(deps=cid_a)))
    add("deps-empty", "bad-claims", forge(alice, claims(deps=[])))
    add("deps-item-not-cid", "bad-claims", forge(alice, claims(deps=[cid_a, b"\x00" * 36])))
    add("deps-map", "bad-claims", forge(alice, claims(deps={"a": cid_a})))
    add("deps-unsorted", "not-deterministic", forge(alice, claims(
        deps=sorted([cid_a, cid_b, cid_c], reverse=True))))
    add("deps-duplicate", "not-deterministic", forge(alice, claims(deps=[cid_a, cid_a])))
    add("body-not-map", "bad-claims", forge(alice, claims(body=["statement"])))
    add("body-empty-map", "bad-claims", forge(alice, claims(body={})))
    add("body-as-text", "bad-claims", forge(alice, claims(body="statement")))
    add("body-int-key", "bad-claims", forge(alice, claims(body={3: "x"})))
    return cases


def bad_token_vectors() -> list[dict[str, Any]]:
    return [{"name": c.name, "reason": c.reason, "hex": c.data.hex(), "note": c.note}
            for c in bad_tokens()]


# ---------------------------------------------------------------- frames


def valid_frames() -> list[tuple[str, wire.Frame]]:
    alice, bob, carol = identity("alice"), identity("bob"), identity("carol")
    t1 = wire.encode_token(alice, wire.Claims(issuer=alice.agent_id, iat=IAT, seq=1,
                                              kind="promise"))
    t2 = wire.encode_token(bob, wire.Claims(issuer=bob.agent_id, iat=IAT, seq=1, kind="assess",
                                            about=wire.cid_of(t1)))
    return [
        ("hello", wire.Hello(digest=bytes(range(32)), agents=3)),
        ("hello-empty", wire.Hello(digest=b"\x00" * 32, agents=0)),
        ("frontier-empty", wire.Frontier(entries=())),
        ("frontier", wire.Frontier(entries=tuple(sorted(
            (wire.FrontierEntry(agent=who.agent_id, seq=seq, head=fake_cid(30 + seq))
             for who, seq in ((alice, 5), (bob, 1), (carol, 300))),
            key=lambda e: wire.agent_id_to_bytes(e.agent))))),  # the order on the wire
        ("want-range", wire.WantRange(agent=bob.agent_id, first_seq=2, last_seq=40)),
        ("want-range-one", wire.WantRange(agent=alice.agent_id, first_seq=1, last_seq=1)),
        ("want-cids", wire.WantCids(cids=(fake_cid(40), fake_cid(41)))),
        ("tokens", wire.Tokens(tokens=(t1, t2))),
    ]


def frame_to_json(frame: wire.Frame) -> dict[str, Any]:
    if isinstance(frame, wire.Hello):
        return {"type": "Hello", "digest": frame.digest.hex(), "agents": frame.agents}
    if isinstance(frame, wire.Frontier):
        return {"type": "Frontier", "entries": [
            {"agent": e.agent, "seq": e.seq, "head": e.head} for e in frame.entries]}
    if isinstance(frame, wire.WantRange):
        return {"type": "WantRange", "agent": frame.agent, "first_seq": frame.first_seq,
                "last_seq": frame.last_seq}
    if isinstance(frame, wire.WantCids):
        return {"type": "WantCids", "cids": list(frame.cids)}
    return {"type": "Tokens", "tokens": [t.hex() for t in frame.tokens]}


def frame_from_json(d: Mapping[str, Any]) -> wire.Frame:
    kind = d["type"]
    if kind == "Hello":
        return wire.Hello(digest=bytes.fromhex(d["digest"]), agents=d["agents"])
    if kind == "Frontier":
        return wire.Frontier(entries=tuple(wire.FrontierEntry(**e) for e in d["entries"]))
    if kind == "WantRange":
        return wire.WantRange(agent=d["agent"], first_seq=d["first_seq"],
                              last_seq=d["last_seq"])
    if kind == "WantCids":
        return wire.WantCids(cids=tuple(d["cids"]))
    if kind == "Tokens":
        return wire.Tokens(tokens=tuple(bytes.fromhex(t) for t in d["tokens"]))
    raise ValueError(f"unknown frame type in vector: {kind!r}")


def frame_vectors() -> list[dict[str, Any]]:
    return [{"name": name, "frame": frame_to_json(f), "hex": wire.encode_frame(f).hex()}
            for name, f in valid_frames()]


# ---------------------------------------------------------------- files

FILES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "tokens.json": token_vectors,
    "bad_tokens.json": bad_token_vectors,
    "frames.json": frame_vectors,
}


def render(name: str) -> str:
    doc = {"generator": "tests/vectors/make_vectors.py", "profile": wire.CONTENT_TYPE,
           "vectors": FILES[name]()}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in FILES:
        text = render(name)
        path = HERE / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("stale vectors: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
