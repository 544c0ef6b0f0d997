"""COSE interop: troth tokens against pycose 1.1.0 and the COSE working group's examples.

Theory of operation: troth parses and verifies its COSE_Sign1 envelope itself
(docs/decisions/0001-token-codec.md); this file is the independent check that
what we build is plain RFC 9052 COSE_Sign1.

(a) Our tokens verify with pycose. Workaround for pycose 1.1.0 + cbor2 6.x:
    `Sign1Message.decode()` rejects every message with TypeError, because cbor2 6
    decodes the tag's array as a tuple (and maps as frozendicts) where pycose
    expects a list/dict (docs/decisions/0001-token-codec.md; upstream pycose
    issue 141). We decode the outer tag with cbor2 ourselves, turn the 4-tuple
    into a list and the unprotected map into a dict, and hand that to
    `Sign1Message.from_cose_obj` (the method `decode` itself calls next).
    Everything after that - header parsing, Sig_structure, Ed25519
    verification - is pycose's own code. No monkeypatching.
(b) A COSE_Sign1 signed by pycose with our protected-header shape and a
    deterministic payload decodes with `wire.decode_token` (and is byte-identical
    to ours); pycose's looser output (another header order, alg in the
    unprotected bucket) verifies in pycose but is refused by troth.
(c) The cose-wg EdDSA Sign1 examples (tests/vectors/cose-wg/, see README there)
    verify over a Sig_structure assembled the way wire/token.py assembles it
    (the raw protected and payload byte strings from the message, spliced after
    the fixed "Signature1" prefix, with an empty external_aad); decode_token
    refuses them cleanly because they are not troth tokens.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm, ContentType
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

import wire
from wire import token as token_module

VECTORS = Path(__file__).parent / "vectors"
TOKEN_VECTORS: list[dict[str, Any]] = json.loads(
    (VECTORS / "tokens.json").read_text(encoding="utf-8"))["vectors"]
COSE_WG = {p.name: json.loads(p.read_text(encoding="utf-8"))
           for p in sorted((VECTORS / "cose-wg").glob("*.json"))}


def pycose_decode(data: bytes) -> Sign1Message:
    """Sign1Message.decode, minus its cbor2-6 incompatibility (see module docstring)."""
    outer = cbor2.loads(data)
    assert isinstance(outer, cbor2.CBORTag) and outer.tag == Sign1Message.cbor_tag
    phdr, uhdr, payload, signature = outer.value
    msg = Sign1Message.from_cose_obj([phdr, dict(uhdr), payload, signature], True)
    assert isinstance(msg, Sign1Message)
    return msg


def pycose_key(identity: wire.Identity, *, private: bool = False) -> OKPKey:
    if private:
        return OKPKey(crv=Ed25519, x=identity.public_key, d=identity.private_bytes())
    return OKPKey(crv=Ed25519, x=identity.public_key)


def test_the_workaround_is_still_needed() -> None:
    """If this fails, pycose (or cbor2) fixed issue 141: drop the workaround."""
    raw = bytes.fromhex(TOKEN_VECTORS[0]["hex"])
    with pytest.raises(TypeError):
        Sign1Message.decode(raw)


# ---------------------------------------------------------------- (a)


@pytest.mark.parametrize("vector", TOKEN_VECTORS, ids=lambda v: v["name"])
def test_our_tokens_verify_with_pycose(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    identity = wire.Identity.from_seed(bytes.fromhex(vector["seed"]))
    msg = pycose_decode(raw)
    assert msg.get_attr(Algorithm) is EdDSA
    assert msg.get_attr(KID) == identity.kid
    assert msg.get_attr(ContentType) == wire.CONTENT_TYPE
    assert msg.uhdr == {}
    msg.key = pycose_key(identity)
    assert msg.verify_signature()
    # and with another agent's key it does not
    msg.key = pycose_key(wire.Identity.from_seed(b"\x09" * 32))
    assert not msg.verify_signature()


def test_pycose_rejects_our_tampered_token() -> None:
    identity = wire.Identity.from_seed(bytes.fromhex(TOKEN_VECTORS[0]["seed"]))
    raw = bytearray.fromhex(TOKEN_VECTORS[0]["hex"])
    raw[-80] ^= 0x01  # inside the payload
    msg = pycose_decode(bytes(raw))
    msg.key = pycose_key(identity)
    assert not msg.verify_signature()


# ---------------------------------------------------------------- (b)


def _payload_of(vector: dict[str, Any]) -> bytes:
    return bytes(cbor2.loads(bytes.fromhex(vector["hex"])).value[2])


@pytest.mark.parametrize("vector", TOKEN_VECTORS, ids=lambda v: v["name"])
def test_pycose_signed_token_decodes_with_troth(vector: dict[str, Any]) -> None:
    identity = wire.Identity.from_seed(bytes.fromhex(vector["seed"]))
    # Insertion order 1, 3, 4 is the deterministic order of these labels.
    msg = Sign1Message(phdr={Algorithm: EdDSA, ContentType: wire.CONTENT_TYPE, KID: identity.kid},
                       uhdr={}, payload=_payload_of(vector), key=pycose_key(identity, private=True))
    data = msg.encode()
    token = wire.decode_token(data)
    assert token.cid == vector["cid"]
    assert data.hex() == vector["hex"]  # Ed25519 is deterministic: byte-identical


def test_pycose_output_outside_our_profile_is_refused() -> None:
    vector = TOKEN_VECTORS[0]
    identity = wire.Identity.from_seed(bytes.fromhex(vector["seed"]))
    key = pycose_key(identity, private=True)
    payload = _payload_of(vector)
    # header labels in another order: valid COSE, not deterministic CBOR
    unordered = Sign1Message(phdr={KID: identity.kid, Algorithm: EdDSA,
                                   ContentType: wire.CONTENT_TYPE},
                             uhdr={}, payload=payload, key=key).encode()
    check = pycose_decode(unordered)
    check.key = pycose_key(identity)
    assert check.verify_signature()
    with pytest.raises(wire.InvalidToken) as info:
        wire.decode_token(unordered)
    assert info.value.reason == "not-deterministic"
    # alg only in the unprotected bucket: pycose signs and verifies, we refuse
    loose = Sign1Message(phdr={ContentType: wire.CONTENT_TYPE, KID: identity.kid},
                         uhdr={Algorithm: EdDSA}, payload=payload, key=key).encode()
    check = pycose_decode(loose)
    check.key = pycose_key(identity)
    assert check.verify_signature()
    with pytest.raises(wire.InvalidToken) as info:
        wire.decode_token(loose)
    assert info.value.reason == "bad-alg"


# ---------------------------------------------------------------- (c)


def troth_sig_structure(message: bytes) -> bytes:
    """The Sig_structure of a tagged COSE_Sign1, spliced as decode_token splices it."""
    assert message[:2] == b"\xd2\x84"
    _, p_end = token_module._bstr(message, 2, "protected header")
    # troth requires the unprotected map to be 0xa0; these examples carry a kid
    # there, so let cbor2 find where it ends.
    u_end = _item_end(message, p_end)
    _, pl_end = token_module._bstr(message, u_end, "payload")
    return token_module._SIG1_PREFIX + message[2:p_end] + b"\x40" + message[u_end:pl_end]


def _item_end(data: bytes, pos: int) -> int:
    """Offset just after the CBOR item at pos."""
    stream = io.BytesIO(data[pos:])
    cbor2.CBORDecoder(stream).decode()
    return pos + stream.tell()


def _parts(name: str) -> tuple[bytes, list[Any]]:
    message = bytes.fromhex(COSE_WG[name]["output"]["cbor"])
    return message, list(cbor2.loads(message).value)


def test_cose_wg_ed25519_sign1_verifies_over_our_sig_structure() -> None:
    name = "eddsa-sig-01.json"
    message, (phdr, _uhdr, payload, signature) = _parts(name)
    key = COSE_WG[name]["input"]["sign0"]["key"]
    assert key["crv"] == "Ed25519"
    tbs = troth_sig_structure(message)
    assert tbs == cbor2.dumps(["Signature1", phdr, b"", payload])  # RFC 9052 §4.4
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["x_hex"])).verify(signature, tbs)
    # the published d is the RFC 8032 key: troth's Identity re-signs it identically
    identity = wire.Identity.from_seed(bytes.fromhex(key["d_hex"]))
    assert identity.public_key.hex() == key["x_hex"]
    assert identity.sign(tbs) == signature
    assert payload == COSE_WG[name]["input"]["plaintext"].encode()


def test_cose_wg_ed25519_sign1_verifies_with_pycose() -> None:
    name = "eddsa-sig-01.json"
    message, _ = _parts(name)
    key = COSE_WG[name]["input"]["sign0"]["key"]
    msg = pycose_decode(message)
    msg.key = OKPKey(crv=Ed25519, x=bytes.fromhex(key["x_hex"]))
    assert msg.verify_signature()


def test_cose_wg_ed448_sign1_sig_structure_is_byte_identical() -> None:
    name = "eddsa-sig-02.json"
    vector = COSE_WG[name]
    message, (_phdr, _uhdr, _payload, signature) = _parts(name)
    tbs = troth_sig_structure(message)
    assert tbs.hex().upper() == vector["intermediates"]["ToBeSign_hex"]
    key = vector["input"]["sign0"]["key"]
    Ed448PublicKey.from_public_bytes(bytes.fromhex(key["x_hex"])).verify(signature, tbs)


@pytest.mark.parametrize("name", sorted(COSE_WG))
def test_decode_token_refuses_cose_wg_examples_cleanly(name: str) -> None:
    message = bytes.fromhex(COSE_WG[name]["output"]["cbor"])
    with pytest.raises(wire.InvalidToken) as info:
        wire.decode_token(message)
    # both lack the troth content type in the protected header
    assert info.value.reason == "bad-content-type"
