"""Named random streams derived from one master seed.

Theory of operation: every source of randomness in a run (a node's agent, what
a node sends, a link's latency factor, a fault schedule) draws from its own
`random.Random`, seeded with sha256(master seed, stream name). Streams are
therefore independent of each other and of creation order: adding a node, a
link or a fault does not change what any other stream draws. (Within one
stream, the draws follow the order of events, which the run fixes: a node's
messages draw in the order it sends them, whatever the link.) This is the
only module of the model that imports `random`; every other module takes a
`random.Random` as an argument.
"""

from __future__ import annotations

import hashlib
import random

__all__ = ["derive_seed", "stream", "Random", "TWOPI"]

Random = random.Random
# The constant `Random.gauss` scales its first uniform draw by (sim/network.py
# repeats its steps inline in the mesh push).
TWOPI: float = random.TWOPI  # type: ignore[attr-defined]


def derive_seed(master: int, *names: str | int) -> int:
    """A 64-bit seed for the stream called `names` under `master`."""
    text = "\x1f".join(map(str, names))
    h = hashlib.sha256(f"troth-sim/1\x1e{master}\x1e{text}".encode()).digest()
    return int.from_bytes(h[:8], "big")


def stream(master: int, *names: str | int) -> random.Random:
    """A fresh `random.Random` for the stream `names` (same name -> same draws)."""
    return random.Random(derive_seed(master, *names))


def seed_bytes(master: int, *names: str | int) -> bytes:
    """32 bytes for the stream `names` (key seeds of simulated identities)."""
    text = "\x1f".join(map(str, names))
    return hashlib.sha256(f"troth-sim/1/bytes\x1e{master}\x1e{text}".encode()).digest()
