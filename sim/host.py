"""What the world's components may ask of the world itself (a Protocol).

Theory of operation. The routers, agents and faults each own one concern,
but all of them end up handing a core's outputs back to the world, which
executes them in order (sim/world.py). They see the world only through this
Protocol, so none of them imports sim/world.py and the world can import all
of them: no import cycle.
"""

from __future__ import annotations

from typing import Protocol

import wire
from node.core import Core, Output

from .simnode import SimNode

__all__ = ["Host"]


class Host(Protocol):
    def execute(self, node: SimNode, outs: list[Output], t: float) -> None:
        """Execute `node`'s core outputs in order (a crash may cut the list)."""

    def issued(self, node: SimNode, tok: wire.Token, t: float) -> None:
        """Record a token `node` made (durable): metrics and the trace."""

    def schedule_tick(self, node: SimNode, t: float) -> None:
        """Schedule `node`'s core timer if it is earlier than the one pending."""

    def new_core(self, node: SimNode) -> Core:
        """A fresh core for `node` (its identity, the run's parameters and memos)."""

    def connect(self, a: int, b: int, t: float) -> None:
        """`peer_up` both ways, if both are up and on the same side."""

    def disconnect(self, a: int, b: int, t: float) -> None:
        """`peer_down` on whichever of the two is up."""
