"""Where an engine checks signatures beside its core: threads or processes.

Theory of operation (docs/decisions/0018-verify-threads.md and
0020-verify-processes.md). `wire.TokenBatch` hands chunks of signature
checks to an `Executor`; this module makes the executor an `Engine` owns.

- **Threads** share the node's memory and its interpreter lock. libsodium lets
  go of the lock while it verifies, but the rest of each check (the loop, the
  call, the answer) needs it back, and the node's own thread rarely lets go:
  on a 2-core machine one thread measured no faster than none.
- **Processes** have their own interpreter, so a check never waits for the
  node's thread. A task is plain bytes in, one boolean per signature out;
  each pays pickling and two pipe hops, so it carries `PROCESS_CHUNK`
  signatures rather than a thread's `wire.VERIFY_CHUNK`. Processes are
  started with `spawn` (forking a process that runs trio and libp2p threads
  is unsafe), when the first task comes. Once started, each ignores SIGINT
  and SIGTERM (sent to the whole process group by Ctrl-C or a service
  manager: the node handles them and shuts the pool) and exits on its own
  once the node is gone, even killed with SIGKILL, which nothing else would
  tell it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import wire

__all__ = ["PROCESS_CHUNK", "ORPHAN_CHECK_S", "REPLACE_MAX", "Verifier"]

log = logging.getLogger("troth.node")

# Signatures per task sent to a process: about 8 ms of libsodium against a
# task's pickling and pipe hops (measured best of 32, 128 and 512, bench.ingest).
PROCESS_CHUNK = 128
# How often a verify process looks whether the node that started it is alive.
ORPHAN_CHECK_S = 1.0
# Pools replaced after breaking, in a row (no answer from any of them), before
# the engine gives up and checks everything on its own thread: a worker that
# cannot even start, say.
REPLACE_MAX = 3


def _start_worker(node_pid: int) -> None:
    """Run first in each verify process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def exit_when_orphaned() -> None:
        while os.getppid() == node_pid:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(0)  # (the node is gone: nobody is waiting for an answer)

    threading.Thread(target=exit_when_orphaned, name="troth-verify-orphan-check",
                     daemon=True).start()


class Verifier:
    """An engine's pool of verify threads or processes (never both), replaced
    when it breaks (a process killed): the batch that found it broken checked
    its signatures on the spot, and the next one gets a fresh pool. After
    `REPLACE_MAX` replacements in a row, with no answer from any of those
    pools, every check is on the spot (`gave_up`)."""

    def __init__(self, *, threads: int = 0, processes: int = 0) -> None:
        if threads < 0 or processes < 0:
            raise ValueError(f"verify threads and processes must be >= 0, got {threads}, "
                             f"{processes}")
        if threads and processes:
            raise ValueError("verify in threads or in processes, not both")
        if not threads and not processes:
            raise ValueError("a Verifier needs threads or processes")
        self.threads = threads
        self.processes = processes
        self.chunk = wire.VERIFY_CHUNK if threads else PROCESS_CHUNK
        self.replaced = 0  # pools replaced after breaking, in all
        self._in_a_row = 0  # ... since a pool last answered
        self._last: wire.TokenBatch | None = None
        self.gave_up = False
        self.executor: Executor = self._start()

    def _start(self) -> Executor:
        if self.threads:
            return ThreadPoolExecutor(self.threads, thread_name_prefix="troth-verify")
        return ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(os.getpid(),))

    def batch(self, raws: list[bytes]) -> wire.TokenBatch:
        """`wire.TokenBatch` of `raws` on this pool; a pool it finds broken is replaced."""
        if self.gave_up:
            return wire.TokenBatch((), self.executor)  # (all decoded on the spot)
        if self._last is not None and self._last.answered:
            self._in_a_row = 0
        batch = self._last = wire.TokenBatch(raws, self.executor, self.chunk)
        if batch.broken:
            self.executor.shutdown(wait=False, cancel_futures=True)
            if self._in_a_row == REPLACE_MAX:
                self.gave_up = True
                log.error("event=verifier_given_up replaced=%d: checking signatures on the "
                          "node's thread from now on", self.replaced)
                return batch
            self.executor = self._start()
            self.replaced += 1
            self._in_a_row += 1
            log.warning("event=verifier_replaced replaced=%d", self.replaced)
        return batch

    def shutdown(self) -> None:
        self.executor.shutdown(cancel_futures=True)
