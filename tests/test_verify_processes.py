"""Signatures checked in worker processes (`Engine(verify_processes=N)`,
node/store/verifiers.py): the same outcome as checking inline, the checks
really done in another process, nothing lost when a worker is killed, and no
worker left behind when the node itself is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import BrokenExecutor, Executor, Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest
import trio

import wire
import wire.token
from node.app.runtime import Runtime
from node.store import Store, verifiers
from node.store.engine import Engine
from node.store.home import Config, Home
from node.store.verifiers import Verifier
from tests.harness import ident
from tests.test_gossip_bundles import QUIET_SYNC_S, line
from tests.test_runtime import holds, wait_until
from tests.test_verify_threads import BAD, VALID, _feed, _outcome


def test_with_or_without_verify_processes_the_outcome_is_the_same(tmp_path: Path) -> None:
    inline = Engine(Store(tmp_path / "0.sqlite"), ident(9))
    beside = Engine(Store(tmp_path / "1.sqlite"), ident(9), verify_processes=1)
    try:
        assert _feed(inline) == _feed(beside)
        assert inline.core.digest() == beside.core.digest()
        assert str(inline.core.stats) == str(beside.core.stats)
        assert list(inline.store.log()) == list(beside.store.log())
        verifier = beside.verifier
        assert verifier is not None and verifier.chunk > wire.VERIFY_CHUNK
        # The checks ran in another process.
        assert verifier.executor.submit(os.getpid).result(timeout=60) != os.getpid()
    finally:
        inline.close()
        beside.close()
    again = Engine(Store(tmp_path / "1.sqlite"), ident(9), verify_processes=1)
    try:
        assert again.core.digest() == inline.core.digest()
    finally:
        again.close()


def test_a_killed_verify_process_loses_nothing_and_is_replaced(tmp_path: Path) -> None:
    inline = Engine(Store(tmp_path / "0.sqlite"), None)
    beside = Engine(Store(tmp_path / "1.sqlite"), None, verify_processes=1)
    try:
        first, rest = VALID[:30], VALID[30:]
        assert (inline.receive_gossip_many([("p", r) for r in first], 1.0)
                == beside.receive_gossip_many([("p", r) for r in first], 1.0))
        verifier = beside.verifier
        assert verifier is not None
        worker = verifier.executor.submit(os.getpid).result(timeout=60)
        os.kill(worker, signal.SIGKILL)
        with pytest.raises(BrokenExecutor):  # (the pool has noticed)
            verifier.executor.submit(os.getpid).result(timeout=60)
        burst = [("p", r) for r in rest + BAD]
        assert (inline.receive_gossip_many(burst, 2.0)
                == beside.receive_gossip_many(burst, 2.0))
        assert verifier.replaced == 1
        assert verifier.executor.submit(os.getpid).result(timeout=60) not in (worker, os.getpid())
        assert inline.core.digest() == beside.core.digest()
        assert len(beside.core.tokens) == len(VALID)
    finally:
        inline.close()
        beside.close()


def test_a_verify_process_killed_mid_batch_loses_nothing(tmp_path: Path) -> None:
    v = Verifier(processes=1)
    try:
        worker = v.executor.submit(os.getpid).result(timeout=60)
        v.executor.submit(time.sleep, 60)  # the one worker is busy ...
        raws = VALID + BAD
        batch = v.batch(raws)  # ... so this batch's task waits behind it
        assert not batch.broken
        os.kill(worker, signal.SIGKILL)
        assert ([_outcome(lambda r=r: batch.decode(r)) for r in raws]
                == [_outcome(lambda r=r: wire.decode_token(r)) for r in raws])
        assert batch.broken and not batch.answered
        v.batch(VALID[:2])  # the next batch gets a fresh pool
        assert v.replaced == 1
        assert v.executor.submit(os.getpid).result(timeout=60) not in (worker, os.getpid())
    finally:
        v.shutdown()


class _BrokenOnSubmit(Executor):
    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise BrokenProcessPool("a worker died")


class _BrokenOnResult(Executor):
    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_exception(BrokenProcessPool("a worker died"))
        return future


@pytest.mark.parametrize("executor", [_BrokenOnSubmit(), _BrokenOnResult()])
def test_a_batch_on_a_broken_executor_checks_on_the_spot(executor: Executor) -> None:
    raws = VALID[:10] + BAD
    batch = wire.TokenBatch(raws, executor, 4)
    assert ([_outcome(lambda r=r: batch.decode(r)) for r in raws]
            == [_outcome(lambda r=r: wire.decode_token(r)) for r in raws])
    assert batch.broken


def test_a_verifier_takes_threads_or_processes_not_both() -> None:
    for bad in ({"threads": 1, "processes": 1}, {}, {"processes": -1}):
        with pytest.raises(ValueError):
            Verifier(**bad)


_NODE = """
import os, sys, time
from pathlib import Path
from node.store import Store
from node.store.engine import Engine
from tests.test_verify_threads import VALID
eng = Engine(Store(Path(sys.argv[1])), None, verify_processes=1)
eng.receive_gossip_many([("p", r) for r in VALID], 1.0)
print(eng.verifier.executor.submit(os.getpid).result(timeout=60), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # (a zombie has exited)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_verify_process_exits_when_its_node_is_killed(tmp_path: Path) -> None:
    node = subprocess.Popen([sys.executable, "-c", _NODE, str(tmp_path / "n.sqlite")],
                            stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    try:
        assert node.stdout is not None
        worker = int(node.stdout.readline())
        assert worker != node.pid and _alive(worker)
        node.send_signal(signal.SIGKILL)
        node.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the verify process outlived its node"
    finally:
        node.kill()
        node.wait()


async def test_nodes_verifying_in_processes_take_a_burst_checked_out_of_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rts = []
    for name in "abc":
        home, identity = Home.init(tmp_path / name)
        rts.append(Runtime(home, identity, Config(sync_interval_s=QUIET_SYNC_S,
                                                  peer_exchange=False, admission=None,
                                                  verify_processes=1)))
    here: list[bytes] = []  # signatures checked in this process
    real_verify = wire.token.verify_signature

    def spy(key: bytes, sig: bytes, msg: bytes) -> bool:
        here.append(sig)
        return real_verify(key, sig, msg)

    monkeypatch.setattr(wire.token, "verify_signature", spy)
    a, b, c = rts
    async with trio.open_nursery() as nursery:
        await line(nursery, rts)
        assert a.engine is not None
        issued = []
        for k in range(40):  # at once, as a client's burst: sent as bundles
            tok, outs = a.engine.issue(kind="promise", now=a.clock(), body={"text": f"b {k}"})
            a._dispatch(outs)
            issued.append(tok)
        await wait_until(lambda: all(holds(rt, t.cid) for rt in (b, c) for t in issued),
                         "the burst at b and c")
        # Checked here once each, when a signed it; b and c checked them in
        # their verify processes.
        sigs = {t.raw[-64:] for t in issued}
        assert len([s for s in here if s in sigs]) == len(issued)
        for rt in rts:
            rt.stop()


def test_a_verifier_whose_workers_keep_dying_gives_up_and_checks_on_the_spot(
        monkeypatch: pytest.MonkeyPatch) -> None:
    v = Verifier(threads=1)
    v.executor.shutdown()
    monkeypatch.setattr(v, "_start", _BrokenOnSubmit)
    v.executor = _BrokenOnSubmit()
    raws = VALID[:10] + BAD
    for _ in range(verifiers.REPLACE_MAX + 2):
        batch = v.batch(raws)
        assert ([_outcome(lambda r=r, b=batch: b.decode(r)) for r in raws]
                == [_outcome(lambda r=r: wire.decode_token(r)) for r in raws])
    assert v.replaced == verifiers.REPLACE_MAX and v.gave_up


def test_a_pool_that_answered_starts_the_count_of_breaks_again() -> None:
    v = Verifier(threads=1)
    try:
        for _ in range(2 * verifiers.REPLACE_MAX):
            v.executor.shutdown()
            v.executor = _BrokenOnSubmit()
            batch = v.batch(VALID[:3])  # found broken, checked on the spot, replaced
            assert [batch.decode(r).raw for r in VALID[:3]] == VALID[:3]
            answered = v.batch(VALID[:3])  # the fresh pool answers
            assert [answered.decode(r).raw for r in VALID[:3]] == VALID[:3]
            assert answered.answered
        assert v.replaced == 2 * verifiers.REPLACE_MAX and not v.gave_up
    finally:
        v.shutdown()
