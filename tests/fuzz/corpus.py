"""The fuzz corpus on disk: tests/fuzz_corpus/.

Theory of operation: `*.bin` files are single inputs of the target
(tests/fuzz/target.py): the seeds made here from the golden vectors
(`seed-*`, rewritten by `write_seeds`) and the inputs `make fuzz` kept because
they reached new coverage (libFuzzer's merge names them by their sha1).
`crashes/*.cbor` are failures: a CBOR array of the inputs since the target's
last reset, the failing one last, so each replays from a fresh target.
`make test` replays all of them (tests/test_fuzz.py). The corpus is bounded by
`CORPUS_FILES_MAX` so that replay stays a second or two.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cbor2

import wire
from tests.vectors import make_vectors as mv

from .target import MODES, FuzzFailure

__all__ = ["CORPUS_DIR", "CRASH_DIR", "CORPUS_FILES_MAX", "seeds", "write_seeds", "inputs",
           "crashes", "save_crash", "save_crash_inputs"]

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = ROOT / "fuzz_corpus"
CRASH_DIR = CORPUS_DIR / "crashes"
VECTORS = ROOT / "vectors"
# "a few hundred files at most": replay in make test stays around a second.
CORPUS_FILES_MAX = 400


def _mode(name: str) -> bytes:
    return bytes([MODES.index(name)])


def seeds() -> list[bytes]:
    """Inputs made from the golden vectors, one or more per mode."""
    tokens = [bytes.fromhex(v["hex"]) for v in json.loads(
        (VECTORS / "tokens.json").read_text(encoding="utf-8"))["vectors"]]
    bad = [bytes.fromhex(v["hex"]) for v in json.loads(
        (VECTORS / "bad_tokens.json").read_text(encoding="utf-8"))["vectors"]]
    frames = [bytes.fromhex(v["hex"]) for v in json.loads(
        (VECTORS / "frames.json").read_text(encoding="utf-8"))["vectors"]]
    frames.append(wire.encode_frame(wire.Tokens(tokens=tuple(tokens))))
    out = [_mode("gossip") + b"\x00" + t for t in tokens + bad]
    out += [_mode("frame") + bytes([i % 3]) + f for i, f in enumerate(frames)]
    # Building tokens: choices spelled by bytes (see Target._build); the
    # same three signers, each kind, in and out of chain.
    out += [_mode("token") + bytes([signer, how, kind]) + bytes(range(k, k + 24))
            for signer in range(3) for how in range(5) for kind in range(0, 9, 2)
            for k in (signer * 7 + how,)]
    payload = mv.enc(mv.claims_map(mv.identity("alice"), kind="promise", body={"t": "x"}))
    out += [_mode("signed") + bytes([0, 40]) + payload,
            _mode("signed") + bytes([1, 40]) + payload[:-1]]
    out += [_mode("control") + bytes([p, op, 7]) for p in range(3) for op in range(4)]
    return out


def _name(prefix: str, data: bytes) -> str:
    return f"{prefix}-{hashlib.sha1(data).hexdigest()[:16]}"


def write_seeds(directory: Path = CORPUS_DIR) -> int:
    """(Re)write the seed files; returns how many there are."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("seed-*.bin"):
        old.unlink()
    made = seeds()
    for data in made:
        (directory / f"{_name('seed', data)}.bin").write_bytes(data)
    return len(made)


def inputs(directory: Path = CORPUS_DIR) -> list[bytes]:
    """Every corpus input, in file-name order (seeds first)."""
    files = sorted(directory.glob("*.bin"), key=lambda p: (not p.name.startswith("seed-"), p.name))
    return [p.read_bytes() for p in files]


def crashes(directory: Path = CRASH_DIR) -> dict[str, list[bytes]]:
    """name -> the input sequence of each kept failure."""
    return {p.name: [bytes(b) for b in cbor2.loads(p.read_bytes())]
            for p in sorted(directory.glob("*.cbor"))}


def save_crash(failure: FuzzFailure, directory: Path = CRASH_DIR) -> Path:
    return save_crash_inputs(failure.inputs, directory)


def save_crash_inputs(inputs: list[bytes], directory: Path = CRASH_DIR) -> Path:
    """Keep a failing input sequence (a libFuzzer artifact is one input)."""
    data = cbor2.dumps(inputs)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_name('crash', data)}.cbor"
    path.write_bytes(data)
    return path
