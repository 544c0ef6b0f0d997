"""`make fuzz`: a million inputs through the decoders and a live core.

    python -m tests.fuzz.campaign [--inputs N] [--workers W] [--engine E] [--seed S]

Theory of operation: the seeds are rewritten from the golden vectors, then W
processes (one per core by default) share the N inputs. With atheris
installed (the `fuzz` extra) each is a coverage-guided libFuzzer run
(tests/fuzz/atheris_worker.py) that starts from tests/fuzz_corpus/ and writes
the inputs that reached new branches to a scratch directory; afterwards
libFuzzer's merge adds to the corpus only those that still add coverage, and
the corpus is trimmed to `CORPUS_FILES_MAX` (the largest go first). Without
atheris the seeded mutator (tests/fuzz/plain.py) runs instead and the corpus
is left as it is. Failures of the target's rules are kept in
tests/fuzz_corpus/crashes/ (as are libFuzzer's own crash, leak and timeout
artifacts) and replayed by `make test` from then on.

Printed: inputs, seconds, inputs/s, failures, corpus size, and as a baseline
measured in the same run, one uninstrumented process of the plain mutator over
`BASELINE_INPUTS` inputs (the campaign's rate is given as a ratio of it).
Exit status 1 if any input broke a rule.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import corpus, plain

ROOT = Path(__file__).resolve().parent.parent.parent
BASELINE_INPUTS = 5_000
# libFuzzer: a single input running this long is a hang, kept as a crash.
INPUT_TIMEOUT_S = 10
# Inputs longer than this add nothing the decoders' size caps do not already
# refuse on their first bytes (a token is at most 64 KiB, checked first).
INPUT_MAX_BYTES = 4096


def _has_atheris() -> bool:
    return importlib.util.find_spec("atheris") is not None


def _worker_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.fuzz.atheris_worker", *args]


def _env(scratch: Path) -> dict[str, str]:
    """The workers' environment, with a launcher libFuzzer can run as argv[0]
    for its merge step (a child process that must be this worker again)."""
    launcher = scratch / "worker"
    if not launcher.exists():
        launcher.write_text(f"#!/bin/sh\nexec {sys.executable} -m tests.fuzz.atheris_worker "
                            f"{scratch}/stats-inner.json \"$@\"\n")
        launcher.chmod(0o755)
    return dict(os.environ, PYTHONPATH=str(ROOT), TROTH_FUZZ_CRASH_DIR=str(corpus.CRASH_DIR),
                TROTH_FUZZ_LAUNCHER=str(launcher))


def run_atheris(n: int, workers: int, seed: int, scratch: Path) -> dict[str, int]:
    """W libFuzzer processes; returns inputs run and failures kept."""
    procs = []
    for i in range(workers):
        share = n // workers + (1 if i < n % workers else 0)
        new = scratch / f"new-{i}"
        new.mkdir()
        log = open(scratch / f"worker-{i}.log", "wb")  # noqa: SIM115 - closed below
        cmd = _worker_cmd(str(scratch / f"stats-{i}.json"), f"-runs={share}", f"-seed={seed + i}",
                          f"-max_len={INPUT_MAX_BYTES}", f"-timeout={INPUT_TIMEOUT_S}",
                          f"-artifact_prefix={scratch}/artifact-{i}-", "-print_final_stats=1",
                          str(new), str(corpus.CORPUS_DIR))
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(scratch),
                                       cwd=ROOT), log, i))
    inputs = failures = 0
    for proc, log, i in procs:
        proc.wait()
        log.close()
        text = (scratch / f"worker-{i}.log").read_text(errors="replace")
        stats = json.loads((scratch / f"stats-{i}.json").read_text()) \
            if (scratch / f"stats-{i}.json").exists() else {}
        done = re.search(r"Done (\d+) runs", text)
        inputs += int(done.group(1)) if done else int(stats.get("inputs", 0))
        failures += int(stats.get("failures", 0))
        if proc.returncode != 0:  # libFuzzer's own crash/leak/timeout: keep its input
            failures += 1
            print(f"worker {i} stopped (exit {proc.returncode}):\n{text[-3000:]}")
            for art in scratch.glob(f"artifact-{i}-*"):
                corpus.save_crash_inputs([art.read_bytes()])
        print(f"worker {i}: {stats.get('inputs', 0)} inputs, "
              f"{stats.get('verified', 0)} accepted tokens re-verified, "
              f"{stats.get('failures', 0)} failures")
    return {"inputs": inputs, "failures": failures}


def merge(scratch: Path, workers: int) -> None:
    """Add to the corpus what adds coverage (libFuzzer -merge=1), then trim it."""
    before = set(corpus.CORPUS_DIR.iterdir())
    subprocess.run(_worker_cmd(str(scratch / "stats-merge.json"), "-merge=1",
                               f"-max_len={INPUT_MAX_BYTES}",
                               f"-merge_control_file={scratch}/merge.ctl",
                               str(corpus.CORPUS_DIR),
                               *(str(scratch / f"new-{i}") for i in range(workers))),
                   env=_env(scratch), cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    for path in set(corpus.CORPUS_DIR.iterdir()) - before:
        if path.is_file():  # libFuzzer names its files by sha1, no suffix
            path.rename(path.with_name(f"cov-{path.name[:16]}.bin"))
    kept = sorted((p for p in corpus.CORPUS_DIR.glob("cov-*.bin")),
                  key=lambda p: (p.stat().st_size, p.name))
    room = corpus.CORPUS_FILES_MAX - len(list(corpus.CORPUS_DIR.glob("seed-*.bin")))
    for path in kept[max(room, 0):]:
        path.unlink()


def _plain_share(args: tuple[int, int, list[bytes]]) -> dict[str, int]:
    n, seed, inputs = args
    result = plain.run(n, seed, inputs)
    for failure in result.failures:
        corpus.save_crash(failure)
    return {"inputs": result.inputs, "failures": len(result.failures),
            "verified": result.counts.verified}


def run_plain(n: int, workers: int, seed: int) -> dict[str, int]:
    inputs = corpus.inputs()
    shares = [(n // workers + (1 if i < n % workers else 0), seed + i, inputs)
              for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_plain_share, shares))
    for i, r in enumerate(results):
        print(f"worker {i}: {r['inputs']} inputs, {r['verified']} accepted tokens re-verified, "
              f"{r['failures']} failures")
    return {"inputs": sum(r["inputs"] for r in results),
            "failures": sum(r["failures"] for r in results)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.campaign", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--engine", choices=("auto", "atheris", "plain"), default="auto")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if _has_atheris() else "plain"
    if engine == "atheris" and not _has_atheris():
        ap.error("atheris is not installed (pip install -e '.[fuzz]')")
    seeds = corpus.write_seeds()
    print(f"engine: {engine}, {args.workers} processes, {args.inputs} inputs, "
          f"corpus {len(corpus.inputs())} inputs ({seeds} seeds)")
    with tempfile.TemporaryDirectory(prefix="troth-fuzz-") as tmp:
        t0 = time.perf_counter()
        result = run_atheris(args.inputs, args.workers, args.seed, Path(tmp)) \
            if engine == "atheris" else run_plain(args.inputs, args.workers, args.seed)
        seconds = time.perf_counter() - t0
        if engine == "atheris":
            merge(Path(tmp), args.workers)
    base = plain.run(BASELINE_INPUTS, args.seed, corpus.inputs())
    base_rate = base.inputs / base.seconds
    rate = result["inputs"] / seconds
    print(f"inputs: {result['inputs']} in {seconds:.0f} s = {rate:.0f} inputs/s "
          f"({rate / base_rate:.2f}x one plain process: {base_rate:.0f} inputs/s)")
    print(f"failures: {result['failures']} (kept in {corpus.CRASH_DIR.relative_to(ROOT)})")
    print(f"corpus: {len(corpus.inputs())} inputs, {len(corpus.crashes())} crash sequences")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
