"""The values a `Core` returns: what its driver must do or may report.

Theory of operation. Every entry point of `Core` returns a list of these,
frozen and in order. `Send`, `Publish` and `Persist` are orders (the driver
executes them in list order, every `Persist` durable before a later `Send` or
`Publish` of the same list is handed to the network); the rest are reports
(logged, counted, shown). They carry values, never references into the core.
"""

from __future__ import annotations

from dataclasses import dataclass

import trust
from wire import Token

__all__ = [
    "Output",
    "Send",
    "Publish",
    "Persist",
    "TokenIssued",
    "TokenAccepted",
    "TokenRejected",
    "FrameRejected",
    "EquivocationDetected",
    "VerdictChanged",
    "TrustChanged",
    "ConsensusChanged",
    "OutcomeChanged",
    "topic_for",
    "DEFAULT_TOPIC",
]

DEFAULT_TOPIC = "troth/1/default"


def topic_for(scope: str | None) -> str:
    """The gossipsub topic of a scope (a community's charter cid)."""
    return DEFAULT_TOPIC if scope is None else f"troth/1/{scope}"


# The outputs made once per token or frame define their own __init__ (the
# dataclass keeps it): a generated frozen __init__ costs about twice as much,
# and a node makes two or three of these per token it takes in.
_set = object.__setattr__


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Send a sync frame to one peer."""
    peer: str
    data: bytes

    def __init__(self, *, peer: str, data: bytes) -> None:
        _set(self, "peer", peer)
        _set(self, "data", data)


@dataclass(frozen=True, slots=True, kw_only=True)
class Publish:
    """Gossip a token's bytes on a topic."""
    topic: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Persist:
    """Append a token to the durable log (before any later Send/Publish).

    `seen_at`: when this node applied it (received it with its parents
    present, or its last missing parent came; or issued it), on its clock;
    stored with the token and handed back to `Core.restore`, so governance's
    arrival lateness survives a restart.
    """
    token: Token
    seen_at: float | None

    def __init__(self, *, token: Token, seen_at: float | None = None) -> None:
        _set(self, "token", token)
        _set(self, "seen_at", seen_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenIssued:
    """The local agent made this token."""
    token: Token


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenAccepted:
    """A token was applied to the view (its prev and deps were all present)."""
    token: Token
    peer: str | None

    def __init__(self, *, token: Token, peer: str | None) -> None:
        _set(self, "token", token)
        _set(self, "peer", peer)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRejected:
    """A peer sent bytes that are not a valid token, or a token that breaks its chain."""
    peer: str | None
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameRejected:
    """A peer sent a sync frame that does not decode."""
    peer: str
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EquivocationDetected:
    """`issuer` signed two or more different tokens with the same seq."""
    issuer: str
    seq: int
    cids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerdictChanged:
    """This node's verdict on a promise changed state or evidence."""
    verdict: trust.Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustChanged:
    """This node's trust opinion of an agent moved (by more than rounding)."""
    agent: str
    opinion: trust.Opinion


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsensusChanged:
    """A conflict set's leader or state changed in this node's view."""
    consensus: trust.Consensus


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeChanged:
    """A proposal's outcome (state or result) changed in this node's view."""
    outcome: trust.Outcome


Output = (Send | Publish | Persist | TokenIssued | TokenAccepted | TokenRejected | FrameRejected
          | EquivocationDetected | VerdictChanged | TrustChanged | ConsensusChanged
          | OutcomeChanged)
