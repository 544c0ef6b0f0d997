"""Gossip bundles (wire/bundle.py): the layout by hand, round trips, every
refusal, packing, and that a bundle and a token can never be taken for each other.

Theory of operation: the golden layout is built here byte by byte from the
committed token vectors (not by cbor2), so encoder and decoder are checked
against an independent writer; the catalogue builds each malformed bundle
with exactly one defect; hypothesis checks the decoders are total over
mutations of valid bundles and tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wire
from node.net.gossip import GOSSIP_DATA_MAX_BYTES
from tests.vectors import make_vectors as mv
from wire import BUNDLE_SIZE_MAX_BYTES, BUNDLE_TOKENS_MAX

VECTORS = Path(__file__).parent / "vectors"
TOKENS = [bytes.fromhex(v["hex"]) for v in json.loads(
    (VECTORS / "tokens.json").read_text(encoding="utf-8"))["vectors"]]
enc = mv.enc
SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=300,
                    suppress_health_check=[HealthCheck.too_slow])


def reason_of(data: Any) -> str:
    with pytest.raises(wire.InvalidBundle) as info:
        wire.decode_bundle(data)
    return info.value.reason


def by_hand(tokens: list[bytes]) -> bytes:
    """The bundle layout written out: an array head, then each token as a bstr."""
    return mv.head(4, len(tokens)) + b"".join(mv.head(2, len(t)) + t for t in tokens)


@pytest.mark.parametrize("n", [2, 3, len(TOKENS)])
def test_layout_both_directions(n: int) -> None:
    tokens = TOKENS[:n]
    data = by_hand(tokens)
    assert wire.encode_bundle(tokens) == data
    assert wire.decode_bundle(data) == tuple(tokens)
    assert wire.decode_bundle(bytearray(data)) == tuple(tokens)
    assert wire.gossip_tokens(data) == tuple(tokens)
    assert wire.is_bundle(data)


@pytest.mark.parametrize("n", [2, 23, 24, 255, 256])
def test_gossip_count_reads_the_bundle_head(n: int) -> None:
    """What the neighbour's rate limit charges, read before any parsing."""
    tokens = [b"t%d" % i for i in range(n)]
    assert wire.gossip_count(by_hand(tokens)) == n
    assert wire.gossip_count(by_hand(tokens)[:2]) == n  # the head is enough


def test_gossip_count_of_tokens_and_bad_heads() -> None:
    assert all(wire.gossip_count(t) == 1 for t in TOKENS)
    assert wire.gossip_count(b"") == 1
    assert wire.gossip_count(b"\x80") == 1  # an empty array: refused later, charged one
    assert wire.gossip_count(mv.head(4, 60_000)) == BUNDLE_TOKENS_MAX  # capped
    assert wire.gossip_count(b"\x9b" + bytes(8)) == BUNDLE_TOKENS_MAX  # a long head
    assert wire.gossip_count(b"\x98") == BUNDLE_TOKENS_MAX  # a truncated head


def test_a_lone_token_is_its_own_gossip_message() -> None:
    for t in TOKENS:
        assert not wire.is_bundle(t)
        assert wire.gossip_tokens(t) == (t,)
        assert wire.pack_gossip([t]) == [t]


def test_a_bundle_is_never_a_token_nor_a_token_a_bundle() -> None:
    for n in range(2, len(TOKENS) + 1):
        with pytest.raises(wire.InvalidToken) as info:
            wire.decode_token(wire.encode_bundle(TOKENS[:n]))
        assert info.value.reason == "not-cose-sign1"
    for t in TOKENS:
        assert reason_of(t) == "bad-cbor"  # tag 18: no tags in a bundle


def test_count_and_size_limits() -> None:
    # Distinct tokens up to the count limit (forged: the bundle does not verify).
    many = [mv.forge(mv.identity("alice"), mv.claims_map(mv.identity("alice"), seq=s + 1))
            for s in range(BUNDLE_TOKENS_MAX + 1)]
    assert wire.decode_bundle(by_hand(many[:BUNDLE_TOKENS_MAX])) == tuple(
        many[:BUNDLE_TOKENS_MAX])
    assert reason_of(by_hand(many)) == "limit-exceeded"
    with pytest.raises(wire.InvalidBundle) as info:
        wire.decode_bundle(b"\x82" + b"\x00" * BUNDLE_SIZE_MAX_BYTES)
    assert info.value.reason == "too-large"
    assert info.value.numbers == {"size_bytes": BUNDLE_SIZE_MAX_BYTES + 1,
                                  "limit_bytes": BUNDLE_SIZE_MAX_BYTES}
    # A bundle always fits one gossip message.
    assert BUNDLE_SIZE_MAX_BYTES <= GOSSIP_DATA_MAX_BYTES


OVERSIZE = b"\xd2" * (wire.TOKEN_SIZE_MAX_BYTES + 1)

# (name, bundle bytes, reason)
CATALOGUE: list[tuple[str, bytes, str]] = [
    ("empty", b"", "truncated"),
    ("empty-array", enc([]), "too-few-tokens"),
    ("one-token", enc([TOKENS[0]]), "too-few-tokens"),
    ("not-an-array", enc({"t": TOKENS[0]}), "not-a-bundle"),
    ("item-text", enc([TOKENS[0], "d284"]), "not-a-bundle"),
    ("item-int", enc([TOKENS[0], 18]), "not-a-bundle"),
    ("nested-bundle", enc([TOKENS[0], [TOKENS[1], TOKENS[2]]]), "not-a-bundle"),
    ("item-too-large", enc([TOKENS[0], OVERSIZE]), "limit-exceeded"),
    ("duplicate", enc([TOKENS[0], TOKENS[1], TOKENS[0]]), "duplicate-token"),
    ("trailing", by_hand(TOKENS[:2]) + b"\x00", "trailing-bytes"),
    ("truncated", by_hand(TOKENS[:2])[:-1], "truncated"),
    ("indefinite", b"\x9f" + by_hand(TOKENS[:2])[1:] + b"\xff", "not-deterministic"),
    ("non-shortest-head", b"\x98\x02" + by_hand(TOKENS[:2])[1:], "not-deterministic"),
    ("tagged", b"\xd8\x18" + by_hand(TOKENS[:2]), "bad-cbor"),
    ("too-deep", b"\x81" * 40 + b"\x00", "limit-exceeded"),
]


@pytest.mark.parametrize(("name", "data", "reason"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_bundle_catalogue(name: str, data: bytes, reason: str) -> None:
    assert reason_of(data) == reason


@pytest.mark.parametrize("value", [by_hand(TOKENS[:2]).hex(), None, 0], ids=repr)
def test_non_bytes(value: Any) -> None:
    assert reason_of(value) == "not-bytes"


@pytest.mark.parametrize("tokens", [[], [TOKENS[0]], [TOKENS[0], TOKENS[0]],
                                    [TOKENS[0], OVERSIZE]], ids=repr)
def test_encoder_refuses_what_the_decoder_refuses(tokens: list[bytes]) -> None:
    with pytest.raises(ValueError):
        wire.encode_bundle(tokens)


def test_pack_keeps_order_and_limits() -> None:
    alice = mv.identity("alice")
    toks = [mv.forge(alice, mv.claims_map(alice, seq=s + 1)) for s in range(600)]
    messages = wire.pack_gossip(toks)
    assert [len(wire.gossip_tokens(m)) for m in messages] == [256, 256, 88]
    assert [t for m in messages for t in wire.gossip_tokens(m)] == toks
    # Tokens of ~59 KiB: the byte cap splits first (8 fit in 512 KiB), and a
    # token left alone at the end goes bare.
    big = [mv.forge(alice, mv.claims_map(alice, seq=s + 1, body={"t": "x" * 60_000}))
           for s in range(17)]
    messages = wire.pack_gossip(big)
    assert [len(wire.gossip_tokens(m)) for m in messages] == [8, 8, 1]
    assert all(len(m) <= BUNDLE_SIZE_MAX_BYTES for m in messages)
    assert messages[-1] == big[-1]
    assert [t for m in messages for t in wire.gossip_tokens(m)] == big
    assert wire.pack_gossip([]) == []


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    pos = st.integers(min_value=0, max_value=max(0, len(data) - 1))
    return st.one_of(
        st.tuples(pos, st.integers(0, 255)).map(
            lambda p: data[:p[0]] + bytes([p[1]]) + data[p[0] + 1:]),
        st.tuples(pos, st.binary(min_size=1, max_size=8)).map(
            lambda p: data[:p[0]] + p[1] + data[p[0]:]),
        st.tuples(pos, st.integers(1, 40)).map(lambda p: data[:p[0]] + data[p[0] + p[1]:]),
        pos.map(lambda p: data[:p]),
    )


GOSSIP = st.sampled_from([by_hand(TOKENS[:2]), by_hand(TOKENS[:3]), *TOKENS[:3]]).flatmap(
    _mutations) | st.binary(max_size=200)


@SETTINGS
@given(GOSSIP)
def test_decoders_are_total_and_never_agree(data: bytes) -> None:
    """Any bytes: each decoder returns or raises its own typed error, and no
    input is both a valid bundle and a valid token."""
    bundle = token = None
    try:
        bundle = wire.decode_bundle(data)
    except wire.InvalidBundle:
        pass
    try:
        token = wire.decode_token(data)
    except wire.InvalidToken:
        pass
    assert bundle is None or token is None
    if bundle is not None:
        assert wire.is_bundle(data) and wire.encode_bundle(bundle) == data
    if token is not None:
        assert not wire.is_bundle(data)
