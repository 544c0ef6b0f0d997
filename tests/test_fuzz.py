"""The fuzz corpus as regression tests, a short slice of fresh inputs, and the
rules of the fuzz target shown to fire (tests/fuzz/target.py; `make fuzz` runs
the million-input campaign, tests/fuzz/campaign.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import wire
from tests.fuzz import corpus, plain
from tests.fuzz.target import HELD, MODES, FuzzFailure, Target
from tests.vectors import make_vectors as mv

# Fresh inputs per `make test`: a few seconds; the campaign runs a million.
SLICE_INPUTS = 2_000
SLICE_SEED = 20261203


def _gossip(raw: bytes) -> bytes:
    return bytes([MODES.index("gossip"), 0]) + raw


def test_the_seed_files_are_the_vectors_seeds() -> None:
    """tests/fuzz_corpus/seed-* are what corpus.seeds() makes of the golden
    vectors today (rewrite them with corpus.write_seeds() when vectors change)."""
    on_disk = {p.read_bytes() for p in corpus.CORPUS_DIR.glob("seed-*.bin")}
    assert on_disk == set(corpus.seeds())


def test_the_corpus_replays_through_a_live_core_without_failure() -> None:
    inputs = corpus.inputs()
    assert len(corpus.seeds()) <= len(inputs) <= corpus.CORPUS_FILES_MAX
    target = Target()
    for data in inputs:
        target.run(data)
    target.finish()
    out = target.counts.outputs
    # The corpus reaches acceptance, both decoders' refusals and equivocation.
    assert out["TokenAccepted"] >= 20 and target.counts.verified == out["TokenAccepted"]
    assert out["TokenRejected:bad-signature"] and out["FrameRejected"]
    assert out["EquivocationDetected"]


def test_every_kept_failure_replays_clean(tmp_path: Path) -> None:
    """A failure found by a campaign, once fixed, stays fixed. Beside the kept
    ones (none may be kept), a sequence saved as a campaign saves one is read
    back and replayed, so the loop is never empty."""
    saved_inputs = corpus.seeds()[:3]
    saved = corpus.save_crash_inputs(saved_inputs, tmp_path)
    assert corpus.crashes(tmp_path) == {saved.name: saved_inputs}
    for name, inputs in {**corpus.crashes(), **corpus.crashes(tmp_path)}.items():
        target = Target()
        for data in inputs:
            target.run(data)
        target.finish()
        assert target.counts.inputs == len(inputs), name


def test_a_slice_of_fresh_mutated_and_generated_inputs() -> None:
    run = plain.run(SLICE_INPUTS, SLICE_SEED, corpus.inputs())
    assert not run.failures, "\n\n".join(str(f) for f in run.failures)
    counts = run.counts
    assert counts.inputs == SLICE_INPUTS
    assert set(counts.by_mode) == set(MODES)
    out = counts.outputs
    assert out["TokenAccepted"] >= 50 and counts.verified == out["TokenAccepted"]
    assert out["EquivocationDetected"] and out["TokenRejected:bad-chain"]


# -- the rules fire --------------------------------------------------------

def test_a_token_of_a_key_the_harness_does_not_hold_is_a_forgery() -> None:
    """Only the harness's keys sign; a valid token of any other key reaching
    acceptance means something forged it."""
    stranger = wire.Identity.from_seed(b"\x77" * 32)
    raw = wire.encode_token(stranger, wire.Claims(issuer=stranger.agent_id, iat=mv.IAT, seq=1,
                                                  kind="promise"))
    with pytest.raises(FuzzFailure, match="does not hold") as caught:
        Target().run(_gossip(raw))
    assert caught.value.inputs == [_gossip(raw)]


def test_a_core_that_skips_the_signature_is_caught() -> None:
    alice = HELD[0]
    good = wire.sign_token(alice, wire.Claims(issuer=alice.agent_id, iat=mv.IAT, seq=1,
                                              kind="promise"))
    forged = good.raw[:-1] + bytes([good.raw[-1] ^ 1])  # the last signature byte

    def no_signature_check(raw: bytes) -> wire.Token:
        if raw == forged:
            return dataclasses.replace(good, raw=raw, cid=wire.cid_of(raw))
        return wire.decode_token(raw)

    with pytest.raises(FuzzFailure, match="signature does not verify"):
        Target(decode=no_signature_check).run(_gossip(forged))


def test_a_forged_token_inside_a_bundle_is_caught_too() -> None:
    alice = HELD[0]
    first = wire.sign_token(alice, wire.Claims(issuer=alice.agent_id, iat=mv.IAT, seq=1,
                                               kind="promise"))
    good = wire.sign_token(alice, wire.Claims(issuer=alice.agent_id, iat=mv.IAT, seq=2,
                                              kind="promise", prev=first.cid))
    forged = good.raw[:-1] + bytes([good.raw[-1] ^ 1])

    def no_signature_check(raw: bytes) -> wire.Token:
        if raw == forged:
            return dataclasses.replace(good, raw=raw, cid=wire.cid_of(raw))
        return wire.decode_token(raw)

    Target().run(_gossip(wire.encode_bundle([first.raw, forged])))  # a real core refuses it
    with pytest.raises(FuzzFailure, match="signature does not verify"):
        Target(decode=no_signature_check).run(_gossip(wire.encode_bundle([first.raw, forged])))


def test_an_untyped_exception_is_a_failure_with_its_inputs() -> None:
    def broken(raw: bytes) -> wire.Token:
        raise KeyError("a decoder bug")

    target = Target(decode=broken)
    first = bytes([MODES.index("control"), 0, 0])
    target.run(first)
    with pytest.raises(FuzzFailure, match="KeyError") as caught:
        target.run(corpus.seeds()[0])
    assert caught.value.inputs == [first, corpus.seeds()[0]]


def test_a_broken_invariant_is_a_failure() -> None:
    target = Target()
    for data in corpus.seeds():
        target.run(data)
    del target.core.index.tokens[next(iter(target.core.index.tokens))]
    with pytest.raises(FuzzFailure, match="invariant"):
        target.finish()
