"""The fuzz engine that needs nothing but Python: seeded random mutation.

Theory of operation: each input is a corpus input with one to four byte-level
mutations (flip a bit, set a byte CBOR treats specially, insert or delete a
few bytes, splice in the tail of another input, cut, or change the mode
byte), run through one live `Target`. Same seed, same corpus -> same inputs.
It is not coverage-guided (atheris is, in `make fuzz`); it runs the short
slice in `make test` and the campaign where atheris does not install. A
failure is recorded and the run goes on with a fresh target.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from .target import MODES, FuzzCounts, FuzzFailure, Target

__all__ = ["mutate", "run", "PlainRun"]

# Bytes that mean something to a CBOR decoder: heads of each major type with
# long or indefinite lengths, simple values, floats, tags, the break byte.
INTERESTING = (0x00, 0x17, 0x18, 0x1B, 0x38, 0x40, 0x58, 0x5B, 0x5F, 0x7F, 0x80, 0x9F,
               0xA0, 0xBF, 0xC2, 0xD2, 0xD8, 0xF4, 0xF6, 0xF7, 0xF9, 0xFB, 0xFF)


def mutate(rng: random.Random, corpus: list[bytes]) -> bytes:
    data = bytearray(rng.choice(corpus))
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        i = rng.randrange(len(data)) if data else 0
        if op == 0 and data:
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[i] = rng.choice(INTERESTING)
        elif op == 2:
            data[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and data:
            del data[i:i + rng.randint(1, 8)]
        elif op == 4:
            other = rng.choice(corpus)
            data[i:] = other[rng.randrange(len(other) + 1):]
        elif op == 5:
            del data[i + 1:]
        elif data:
            data[0] = rng.randrange(len(MODES))
    return bytes(data)


@dataclass
class PlainRun:
    inputs: int
    seconds: float
    failures: list[FuzzFailure] = field(default_factory=list)
    counts: FuzzCounts = field(default_factory=FuzzCounts)


def run(n: int, seed: int, corpus: list[bytes]) -> PlainRun:
    """n mutated inputs through one live target; failures are collected."""
    rng = random.Random(seed)
    target = Target()
    out = PlainRun(inputs=n, seconds=0.0)
    t0 = time.perf_counter()
    for _ in range(n):
        try:
            target.run(mutate(rng, corpus))
        except FuzzFailure as failure:
            out.failures.append(failure)
            out.counts = target.counts
            target = Target()
            target.counts = out.counts
    try:
        target.finish()
    except FuzzFailure as failure:
        out.failures.append(failure)
    out.seconds = time.perf_counter() - t0
    out.counts = target.counts
    return out
