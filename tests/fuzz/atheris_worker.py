"""One coverage-guided fuzzing process: atheris (libFuzzer) around the target.

Run by tests/fuzz/campaign.py (`make fuzz`), one per core, as

    python -m tests.fuzz.atheris_worker STATS.json [libFuzzer flags] NEW_DIR CORPUS_DIR

wire/, trust/ and node.core are imported under atheris's instrumentation, so
libFuzzer sees which branches of the decoders and the core each input reaches
and writes inputs that reach new ones to NEW_DIR. A rule the target checks
(tests/fuzz/target.py) that breaks is not a libFuzzer crash: the input sequence
is kept in $TROTH_FUZZ_CRASH_DIR and the run goes on with a fresh target, so a
campaign counts every failure instead of stopping at the first. STATS.json
receives the target's tally every `STATS_EVERY` inputs and at the end.

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


def main() -> None:
    stats_path = Path(sys.argv.pop(1))
    crash_dir = Path(os.environ["TROTH_FUZZ_CRASH_DIR"])
    runs = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("-runs=")), 0)
    state = {"target": Target(), "failures": 0}

    def write_stats() -> None:
        t: Target = state["target"]  # type: ignore[assignment]
        stats_path.write_text(json.dumps({
            "inputs": t.tally.inputs, "failures": state["failures"],
            "verified": t.tally.verified, "resets": t.tally.resets,
            "by_mode": dict(t.tally.by_mode), "outputs": dict(t.tally.outputs)}))

    def fail(failure: FuzzFailure) -> None:
        path = save_crash(failure, crash_dir)
        print(f"troth-fuzz: failure kept in {path}: {str(failure)[:2000]}", file=sys.stderr)
        state["failures"] = int(state["failures"]) + 1  # type: ignore[call-overload]
        tally = state["target"].tally  # type: ignore[attr-defined]
        state["target"] = Target()
        state["target"].tally = tally  # type: ignore[attr-defined]

    def one_input(data: bytes) -> None:
        target: Target = state["target"]  # type: ignore[assignment]
        try:
            target.run(data)
            n = target.tally.inputs
            if n == runs:  # the last input: rule 3 once more, then report
                target.finish()
            if n == runs or n % STATS_EVERY == 0:
                write_stats()
        except FuzzFailure as failure:
            fail(failure)
            write_stats()

    argv = list(sys.argv)
    argv[0] = os.environ.get("TROTH_FUZZ_LAUNCHER", argv[0])
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
