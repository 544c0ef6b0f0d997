"""Signatures checked beside the core (`wire.TokenBatch`, `Engine(verify_threads=N)`):
the same tokens, refusals and state as checking them inline, with the checks
really done on the verify threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wire
import wire.token
from node.core import Core, Output
from node.store import Store
from node.store.engine import Engine
from tests.harness import ident


def _chain(who: int, n: int, start: float = 0.0) -> list[wire.Token]:
    core = Core(ident(who))
    toks = []
    for i in range(n):
        outs = core.issue(kind="promise", now=start + i, body={"text": f"promise {i}"})
        toks.append(next(o.token for o in outs if hasattr(o, "token")))
    return toks


def _forged(raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 1])


def _outcome(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except wire.InvalidToken as exc:
        return ("refused", type(exc), exc.reason)


TOKENS = _chain(1, 40) + _chain(2, 20)
VALID = [t.raw for t in TOKENS]
BAD = [
    _forged(VALID[3]),                     # bad signature
    VALID[4][:-10],                        # truncated
    VALID[5] + b"\x00",                    # trailing bytes
    b"\xd2\x84" + bytes(wire.TOKEN_SIZE_MAX_BYTES),  # over the size cap
    b"",
    b"\xa0",
    VALID[6][:2] + b"\x00" + VALID[6][3:],  # a broken protected header
]


@pytest.fixture(scope="module")
def pool() -> ThreadPoolExecutor:
    with ThreadPoolExecutor(2) as ex:
        yield ex  # type: ignore[misc]


def test_a_batch_decodes_each_raw_exactly_as_decode_token(pool: ThreadPoolExecutor) -> None:
    raws = VALID + BAD + [VALID[0]]  # a repeat is handed out once
    batch = wire.TokenBatch(raws, pool, chunk=7)
    assert len(batch) == len(VALID) + len(BAD)
    for raw in raws[:-1]:
        assert raw in batch
        assert _outcome(lambda r=raw: batch.decode(r)) == _outcome(
            lambda r=raw: wire.decode_token(r))
        assert raw not in batch
    assert len(batch) == 0
    # Handed out already, or never in it: decoded on the spot, the same way.
    assert batch.decode(VALID[0]) == TOKENS[0]
    assert _outcome(lambda: batch.decode(BAD[0])) == ("refused", wire.InvalidToken,
                                                       "bad-signature")
    with pytest.raises(wire.TokenTooLarge):
        wire.TokenBatch([BAD[3]], pool).decode(BAD[3])


@settings(max_examples=300, deadline=None)
@given(which=st.integers(0, len(VALID) - 1), at=st.integers(0, 10_000), flip=st.integers(1, 255),
       cut=st.booleans())
def test_a_mutated_token_gets_the_same_verdict_either_way(
        which: int, at: int, flip: int, cut: bool) -> None:
    raw = VALID[which]
    at %= len(raw)
    bad = raw[:at] if cut else raw[:at] + bytes([raw[at] ^ flip]) + raw[at + 1:]
    with ThreadPoolExecutor(1) as ex:
        got = _outcome(lambda: wire.TokenBatch([bad], ex).decode(bad))
    assert got == _outcome(lambda: wire.decode_token(bad))


def _threads_that_verify(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    real = wire.token.verify_signature

    def spy(key: bytes, sig: bytes, msg: bytes) -> bool:
        names.append(threading.current_thread().name)
        return real(key, sig, msg)

    monkeypatch.setattr(wire.token, "verify_signature", spy)
    return names


def test_the_engine_checks_signatures_on_its_verify_threads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = _threads_that_verify(monkeypatch)
    eng = Engine(Store(tmp_path / "a.sqlite"), ident(9), verify_threads=2)
    eng.receive_gossip_many([("p", raw) for raw in VALID[:30]], now=1.0)
    eng.receive_frame("p", wire.encode_frame(wire.Tokens(tokens=tuple(VALID[30:]))), 2.0)
    assert len(eng.core.tokens) == len(VALID)
    assert len(names) == len(VALID)
    assert all(n.startswith("troth-verify") for n in names), set(names)
    eng.close()
    names.clear()
    again = Engine(Store(tmp_path / "a.sqlite"), ident(9), verify_threads=1)
    assert again.core.digest() == eng.core.digest()
    assert len(names) == len(VALID) and all(n.startswith("troth-verify") for n in names)
    again.close()
    names.clear()
    inline = Engine(Store(tmp_path / "a.sqlite"), ident(9))
    assert len(names) == len(VALID) and set(names) == {threading.main_thread().name}
    inline.close()


def test_what_a_caller_verified_already_is_not_verified_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = _threads_that_verify(monkeypatch)
    cache = {t.raw: t for t in TOKENS[:10]}
    eng = Engine(Store(tmp_path / "a.sqlite"), None, verify_threads=1,
                 decode=lambda raw: cache.pop(raw, None) or wire.decode_token(raw),
                 predecoded=cache.__contains__)
    eng.receive_gossip_many([("p", raw) for raw in VALID[:20]], now=1.0)
    assert len(eng.core.tokens) == 20 and len(names) == 10  # only the ten not cached
    eng.receive_gossip_many([("p", raw) for raw in VALID[:20]], now=2.0)
    assert len(names) == 10  # repeats: known, not verified
    eng.close()


def _feed(eng: Engine) -> list[list[Output]]:
    """Gossip in and out of order, bundles (one with a forgery), repeats and
    sync frames (one not a frame at all)."""
    a, b = VALID[:40], VALID[40:]
    steps = [
        eng.receive_gossip_many([("p", raw) for raw in a[10:20]], 1.0),  # parents missing
        eng.receive_gossip_many([("q", raw) for raw in a[:10] + BAD[:3]], 2.0),
        eng.receive_gossip("p", wire.encode_bundle(b[:5] + [_forged(b[5])]), 3.0),
        eng.receive_gossip("p", wire.encode_bundle(b[:6]), 4.0),
        eng.receive_gossip("q", a[20], 5.0),
        eng.receive_frame("q", wire.encode_frame(wire.Tokens(tokens=tuple(a[21:] + b[6:]))), 6.0),
        eng.receive_frame("q", wire.encode_frame(wire.Tokens(tokens=(BAD[0], a[0]))), 7.0),
        eng.receive_frame("q", b"\xa0not a frame", 8.0),
        eng.receive_gossip_many([("p", raw) for raw in VALID], 9.0),
    ]
    return steps


def test_with_or_without_verify_threads_the_outcome_is_the_same(tmp_path: Path) -> None:
    engines = [Engine(Store(tmp_path / f"{n}.sqlite"), ident(9), verify_threads=n)
               for n in (0, 1, 3)]
    outcomes = [_feed(e) for e in engines]
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert len(engines[0].core.tokens) == len(VALID)
    assert len({e.core.digest() for e in engines}) == 1
    assert len({str(e.core.stats) for e in engines}) == 1
    logs = [list(e.store.log()) for e in engines]
    assert logs[0] == logs[1] == logs[2]
    for n, e in zip((0, 1, 3), engines, strict=True):
        e.close()
        again = Engine(Store(tmp_path / f"{n}.sqlite"), ident(9), verify_threads=n)
        assert again.core.digest() == engines[0].core.digest()
        again.close()


def test_verify_threads_must_not_be_negative(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="verify threads"):
        Engine(Store(tmp_path / "a.sqlite"), None, verify_threads=-1)
