"""The declaration of one scenario field (type, default, bounds, doc).

Shared by sim/fields.py (scenario tables) and sim/behaviours.py (behaviour parameters) so
that both are validated, documented and listed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Spec", "spec"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """One field: type, default, bounds, doc."""

    type: type
    default: Any
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False


def spec(t: type, default: Any, doc: str, lo: float | None = None, hi: float | None = None,
         choices: tuple[str, ...] = (), required: bool = False) -> Spec:
    return Spec(type=t, default=default, doc=doc, lo=lo, hi=hi, choices=choices,
                required=required)
