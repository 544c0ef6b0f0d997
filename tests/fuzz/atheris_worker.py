"""One coverage-guided fuzzing process: atheris (libFuzzer) around the target.

Run by tests/fuzz/campaign.py (`make fuzz`), one per core, as

    python -m tests.fuzz.atheris_worker STATS.json [libFuzzer flags] NEW_DIR CORPUS_DIR

wire/, trust/ and node.core are imported under atheris's instrumentation, so
libFuzzer sees which branches of the decoders and the core each input reaches
and writes inputs that reach new ones to NEW_DIR. A rule the target checks
(tests/fuzz/target.py) that breaks is not a libFuzzer crash: the input sequence
is kept in $TROTH_FUZZ_CRASH_DIR and the run goes on with a fresh target, so a
campaign counts every failure instead of stopping at the first. STATS.json
receives the target's counts every `STATS_EVERY` inputs and at the end.

libFuzzer runs its merge (and fork) steps as child processes of argv[0];
`$TROTH_FUZZ_LAUNCHER`, an executable the campaign writes, stands in for it
(a module run with `python -m` has no executable of its own).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["wire", "trust", "node.core"]):
    import node.core  # noqa: F401 - instrumented here, used through the target
    import trust  # noqa: F401
    import wire  # noqa: F401

from .corpus import save_crash  # noqa: E402 - after the instrumented imports
from .target import FuzzFailure, Target  # noqa: E402

STATS_EVERY = 10_000


class Worker:
    """The target across libFuzzer's calls: a failure is kept and counted, and
    a fresh target (with the same counts) takes over."""

    def __init__(self, stats_path: Path, crash_dir: Path, runs: int) -> None:
        self.stats_path = stats_path
        self.crash_dir = crash_dir
        self.runs = runs
        self.target = Target()
        self.failures = 0

    def one_input(self, data: bytes) -> None:
        try:
            self.target.run(data)
            n = self.target.counts.inputs
            if n >= self.runs:  # the last input(s): rule 3 once more, then report
                self.target.finish()  # (libFuzzer's count includes the corpus it loads
            if n >= self.runs or n % STATS_EVERY == 0:  # first, ours may reach -runs early)
                self.write_stats()
        except FuzzFailure as failure:
            path = save_crash(failure, self.crash_dir)
            print(f"troth-fuzz: failure kept in {path}: {str(failure)[:2000]}", file=sys.stderr)
            self.failures += 1
            counts = self.target.counts
            self.target = Target()
            self.target.counts = counts
            self.write_stats()

    def write_stats(self) -> None:
        c = self.target.counts
        self.stats_path.write_text(json.dumps({
            "inputs": c.inputs, "failures": self.failures, "verified": c.verified,
            "resets": c.resets, "by_mode": dict(c.by_mode), "outputs": dict(c.outputs)}))


def main() -> None:
    stats_path = Path(sys.argv.pop(1))
    runs = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("-runs=")), 0)
    worker = Worker(stats_path, Path(os.environ["TROTH_FUZZ_CRASH_DIR"]), runs)
    argv = list(sys.argv)
    argv[0] = os.environ.get("TROTH_FUZZ_LAUNCHER", argv[0])
    atheris.Setup(argv, worker.one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
