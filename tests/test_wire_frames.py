"""Sync-protocol frames: vectors both ways, round trips, and the strictness catalogue.

Theory of operation: frames are decoded with the same discipline as tokens (size
cap first, exact deterministic encoding, one typed error `InvalidFrame` with a
reason). The catalogue below builds each malformed frame from Python values
(encoded deterministically, so only the named defect is present) or from raw
bytes where the defect is in the encoding itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import wire
from tests.vectors import make_vectors as mv
from wire.frames import FRONTIER_ENTRIES_MAX, RANGE_SPAN_MAX, WANT_CIDS_MAX

VECTORS = Path(__file__).parent / "vectors"


FRAME_VECTORS: list[dict[str, Any]] = json.loads(
    (VECTORS / "frames.json").read_text(encoding="utf-8"))["vectors"]
ALICE, BOB, CAROL = mv.identity("alice"), mv.identity("bob"), mv.identity("carol")
CID = wire.cid_to_bytes(mv.fake_cid(50))
KID = ALICE.kid
enc = mv.enc


def reason_of(data: bytes) -> str:
    with pytest.raises(wire.InvalidFrame) as info:
        wire.decode_frame(data)
    return info.value.reason


@pytest.mark.parametrize("vector", FRAME_VECTORS, ids=lambda v: v["name"])
def test_frame_vector_both_directions(vector: dict[str, Any]) -> None:
    frame = mv.frame_from_json(vector["frame"])
    assert wire.encode_frame(frame).hex() == vector["hex"]
    assert wire.decode_frame(bytes.fromhex(vector["hex"])) == frame


@pytest.mark.parametrize("name_frame", mv.valid_frames(), ids=lambda nf: nf[0])
def test_round_trip_every_frame_type(name_frame: tuple[str, wire.Frame]) -> None:
    _, frame = name_frame
    data = wire.encode_frame(frame)
    assert wire.decode_frame(data) == frame
    assert wire.decode_frame(bytearray(data)) == frame
    assert wire.encode_frame(wire.decode_frame(data)) == data


def test_every_frame_type_has_a_vector() -> None:
    kinds = {v["frame"]["type"] for v in FRAME_VECTORS}
    assert kinds == {"Hello", "Frontier", "WantRange", "WantCids", "Tokens"}


def test_frontier_is_sent_sorted_by_kid() -> None:
    entries = tuple(wire.FrontierEntry(agent=who.agent_id, seq=1, head=mv.fake_cid(n))
                    for n, who in enumerate((CAROL, ALICE, BOB)))
    decoded = wire.decode_frame(wire.encode_frame(wire.Frontier(entries=entries)))
    assert isinstance(decoded, wire.Frontier)
    assert [wire.agent_id_to_bytes(e.agent) for e in decoded.entries] == sorted(
        wire.agent_id_to_bytes(e.agent) for e in entries)
    assert set(decoded.entries) == set(entries)


@pytest.mark.parametrize("vector", FRAME_VECTORS, ids=lambda v: v["name"])
def test_truncation_at_every_offset(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    for n in range(len(data)):
        assert reason_of(data[:n]) == "truncated", n


@pytest.mark.parametrize("tail", [b"\x00", b"\x80", data := bytes.fromhex(
    FRAME_VECTORS[0]["hex"])])
def test_trailing_bytes(tail: bytes) -> None:
    assert reason_of(data + tail) == "trailing-bytes"


def _big(major: int, n: int) -> bytes:
    return mv.head(major, n)


# (name, frame bytes, reason)
CATALOGUE: list[tuple[str, bytes, str]] = [
    # shape
    ("not-an-array", enc({"t": 0}), "bad-frame"),
    ("empty-array", enc([]), "bad-frame"),
    ("type-as-text", enc(["hello", b"\x00" * 32, 1]), "bad-frame"),
    ("type-as-bool", enc([False, b"\x00" * 32, 1]), "bad-frame"),
    ("type-negative", enc([-1, b"\x00" * 32, 1]), "unknown-frame"),
    ("unknown-type", enc([9, 1]), "unknown-frame"),
    ("hello-missing-field", enc([0, b"\x00" * 32]), "unknown-frame"),
    ("hello-extra-field", enc([0, b"\x00" * 32, 1, 2]), "unknown-frame"),
    # Hello
    ("hello-digest-31", enc([0, b"\x00" * 31, 1]), "bad-frame"),
    ("hello-digest-text", enc([0, "0" * 32, 1]), "bad-frame"),
    ("hello-agents-negative", enc([0, b"\x00" * 32, -1]), "bad-frame"),
    ("hello-agents-huge", enc([0, b"\x00" * 32, 2**53 + 1]), "bad-frame"),
    ("hello-agents-text", enc([0, b"\x00" * 32, "3"]), "bad-frame"),
    ("hello-agents-null", enc([0, b"\x00" * 32, None]), "bad-frame"),
    # Frontier
    ("frontier-not-array", enc([1, {"a": 1}]), "unknown-frame"),
    ("frontier-row-not-array", enc([1, [KID]]), "bad-frame"),
    ("frontier-row-short", enc([1, [[KID, 1]]]), "bad-frame"),
    ("frontier-kid-text", enc([1, [[ALICE.agent_id, 1, CID]]]), "bad-frame"),
    ("frontier-kid-not-peer-id", enc([1, [[b"\x00" * 38, 1, CID]]]), "bad-frame"),
    ("frontier-seq-zero", enc([1, [[KID, 0, CID]]]), "bad-frame"),
    ("frontier-seq-text", enc([1, [[KID, "1", CID]]]), "bad-frame"),
    ("frontier-head-text", enc([1, [[KID, 1, mv.fake_cid(1)]]]), "bad-frame"),
    ("frontier-head-short", enc([1, [[KID, 1, CID[:-1]]]]), "bad-frame"),
    ("frontier-unsorted", enc([1, sorted([[ALICE.kid, 1, CID], [BOB.kid, 1, CID]],
                                         reverse=True)]), "bad-frame"),
    ("frontier-duplicate-agent", enc([1, [[KID, 1, CID], [KID, 2, CID]]]), "bad-frame"),
    # WantRange
    ("range-agent-bad", enc([2, b"\x01" * 38, 1, 2]), "bad-frame"),
    ("range-first-zero", enc([2, KID, 0, 2]), "bad-frame"),
    ("range-last-before-first", enc([2, KID, 5, 4]), "bad-frame"),
    ("range-too-long", enc([2, KID, 1, RANGE_SPAN_MAX + 1]), "limit-exceeded"),
    ("range-seq-text", enc([2, KID, "1", 2]), "bad-frame"),
    # WantCids
    ("want-cids-empty", enc([3, []]), "limit-exceeded"),
    ("want-cids-item-text", enc([3, [mv.fake_cid(1)]]), "bad-frame"),
    ("want-cids-not-array", enc([3, CID]), "unknown-frame"),
    # Tokens
    ("tokens-empty", enc([4, []]), "bad-frame"),
    ("tokens-item-text", enc([4, ["d284"]]), "bad-frame"),
    ("tokens-item-too-large", enc([4, [b"\xd2" * (wire.TOKEN_SIZE_MAX_BYTES + 1)]]), "bad-frame"),
    # encoding
    ("non-shortest-type", b"\x83\x18\x00" + enc(b"\x00" * 32) + b"\x01", "not-deterministic"),
    ("non-shortest-agents", b"\x83\x00" + enc(b"\x00" * 32) + b"\x19\x00\x01",
     "not-deterministic"),
    ("indefinite-array", b"\x9f\x00" + enc(b"\x00" * 32) + b"\x01\xff", "not-deterministic"),
    ("huge-declared-bstr", b"\x83\x00\x5b" + (2**62).to_bytes(8, "big") + b"\x00", "truncated"),
    ("huge-declared-array", b"\x9b" + (2**62).to_bytes(8, "big") + b"\x00", "truncated"),
    ("float-agents", b"\x83\x00" + enc(b"\x00" * 32) + b"\xf9\x3c\x00", "bad-cbor"),
    ("tag-in-frame", b"\x83\x00" + enc(b"\x00" * 32) + b"\xc2\x41\x01", "bad-cbor"),
    ("shared-ref-tag", b"\xd8\x1c\x82\x04\x81\xd8\x1d\x00", "bad-cbor"),
    ("duplicate-key", b"\xa2\x61a\x01\x61a\x02", "bad-cbor"),
    ("too-deep", b"\x81" * 40 + b"\x00", "limit-exceeded"),
    ("break-code", b"\xff", "bad-cbor"),
]


@pytest.mark.parametrize(("name", "data", "reason"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_frame_catalogue(name: str, data: bytes, reason: str) -> None:
    assert reason_of(data) == reason


def test_count_limits() -> None:
    rows = sorted([wire.Identity.from_seed(i.to_bytes(32, "big")).kid, 1, CID]
                  for i in range(1, 3))
    assert isinstance(wire.decode_frame(enc([1, rows])), wire.Frontier)
    too_many_rows = enc([1, [rows[0]] * (FRONTIER_ENTRIES_MAX + 1)])
    assert reason_of(too_many_rows) == "limit-exceeded"
    assert isinstance(wire.decode_frame(enc([3, [CID] * WANT_CIDS_MAX])), wire.WantCids)
    assert reason_of(enc([3, [CID] * (WANT_CIDS_MAX + 1)])) == "limit-exceeded"
    assert isinstance(wire.decode_frame(enc([2, KID, 1, RANGE_SPAN_MAX])), wire.WantRange)


def test_oversize_frame_is_refused_first() -> None:
    limit = wire.FRAME_SIZE_MAX_BYTES
    with pytest.raises(wire.InvalidFrame) as info:
        wire.decode_frame(b"\x82\x04" + b"\x00" * (limit - 1))
    assert info.value.reason == "too-large"
    assert info.value.numbers == {"size_bytes": limit + 1, "limit_bytes": limit}


@pytest.mark.parametrize("value", ["8200", None, 0], ids=repr)
def test_non_bytes(value: Any) -> None:
    with pytest.raises(wire.InvalidFrame) as info:
        wire.decode_frame(value)
    assert info.value.reason == "not-bytes"


@pytest.mark.parametrize("frame", [
    wire.Hello(digest=b"\x00" * 31, agents=0),
    wire.Hello(digest=b"\x00" * 32, agents=-1),
    wire.Hello(digest=b"\x00" * 32, agents=2**60),
    wire.Frontier(entries=(wire.FrontierEntry(agent=ALICE.agent_id, seq=1, head=mv.fake_cid(1)),
                           wire.FrontierEntry(agent=ALICE.agent_id, seq=2, head=mv.fake_cid(2)))),
    wire.Frontier(entries=(wire.FrontierEntry(agent=ALICE.agent_id, seq=0, head=mv.fake_cid(1)),)),
    wire.Frontier(entries=(wire.FrontierEntry(agent=ALICE.agent_id, seq=1, head=mv.fake_cid(1),
                                              forks=-1),)),
    wire.WantRange(agent=ALICE.agent_id, first_seq=3, last_seq=2),
    wire.WantRange(agent=ALICE.agent_id, first_seq=1, last_seq=RANGE_SPAN_MAX + 1),
    wire.WantCids(cids=()),
    wire.Tokens(tokens=()),
    wire.Tokens(tokens=(b"\x00" * (wire.TOKEN_SIZE_MAX_BYTES + 1),)),
    wire.Tokens(tokens=(b"\x00" * (wire.TOKEN_SIZE_MAX_BYTES),) * 5),
], ids=lambda f: type(f).__name__)
def test_encoder_refuses_what_the_decoder_refuses(frame: wire.Frame) -> None:
    with pytest.raises(ValueError):
        wire.encode_frame(frame)


def test_encoder_type_errors() -> None:
    with pytest.raises(TypeError):
        wire.encode_frame("hello")  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # not an agent id
        wire.encode_frame(wire.WantRange(agent="alice", first_seq=1, last_seq=1))


def test_frontier_fork_counts_and_want_forks() -> None:
    entry = wire.FrontierEntry(agent=ALICE.agent_id, seq=5, head=mv.fake_cid(5), forks=2)
    data = wire.encode_frame(wire.Frontier(entries=(entry,)))
    assert wire.decode_frame(data) == wire.Frontier(entries=(entry,))
    plain = wire.FrontierEntry(agent=ALICE.agent_id, seq=5, head=mv.fake_cid(5))
    plain_data = wire.encode_frame(wire.Frontier(entries=(plain,)))
    assert len(plain_data) < len(data)  # no forks: the row has no fourth item
    # forks = 0 written out is a second encoding of the same row: refused
    import cbor2

    kid = wire.agent_id_to_bytes(ALICE.agent_id)
    zero = cbor2.dumps([1, [[kid, 5, wire.cid_to_bytes(mv.fake_cid(5)), 0]]], canonical=True)
    with pytest.raises(wire.InvalidFrame):
        wire.decode_frame(zero)
    want = wire.WantForks(agent=ALICE.agent_id)
    assert wire.decode_frame(wire.encode_frame(want)) == want
    with pytest.raises(wire.InvalidFrame):
        wire.decode_frame(cbor2.dumps([5, b"not a kid"], canonical=True))
