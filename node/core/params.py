"""The knobs of a `Core` and the counters it keeps.

Theory of operation. `CoreParams` is fixed for a core's life; every bound on
what a peer can make this node hold or spend is here, with why it has its
value. `Stats` are plain counters the drivers read (metrics, logs, the
simulator's reports); nothing in the core decides on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wire.frames import FRAME_SIZE_MAX_BYTES

from .admission import AdmissionParams

__all__ = ["CoreParams", "Stats"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreParams:
    # Tokens waiting for their prev/deps. 10,000 x ~1 KiB objects bounds the
    # buffer to ~10 MiB; past it the oldest is dropped (sync fetches it again).
    pending_max: int = 10_000
    # A waiting token is dropped after this long; its parents never came.
    pending_ttl_s: float = 300.0
    # One anti-entropy round (Hello to the next peer, round robin) this often.
    sync_interval_s: float = 5.0
    # A requested cid not received by then is asked for again (of another peer).
    request_retry_s: float = 3.0
    # Payload budget of one Tokens frame (the frame cap less room for heads).
    tokens_frame_budget_bytes: int = FRAME_SIZE_MAX_BYTES - 4096
    # At most this many token bytes answer one WantRange/WantCids; the peer
    # asks again next round. Bounds the memory one request can make us spend.
    response_max_bytes: int = 8 * 1024 * 1024
    # Emit VerdictChanged / TrustChanged / ConsensusChanged as the view moves.
    # The simulator turns this off for speed and asks the observer at the end.
    view_events: bool = True
    # Feed applied tokens to the trust Observer. Off only where nobody asks
    # this node for verdicts or trust (the simulator's non-observer nodes: a
    # thousand observers over the same tokens would double the cost).
    observe: bool = True
    # When a proposal this node votes in closes (on its clock, after the skew
    # allowance), publish its tally: the result and the exact cut it counted
    # (docs/governance.md). Again if late-arriving ballots change its cut.
    auto_tally: bool = True
    # Whose tokens to store and forward (admission.py): None takes every valid
    # token, as the simulator does (its scenarios model full dissemination, so
    # its pinned digests stay as they are); the node turns it on.
    admission: AdmissionParams | None = None


@dataclass(slots=True)
class Stats:
    received_tokens: int = 0
    duplicate_tokens: int = 0
    rejected: int = 0
    pending_dropped: int = 0
    frames_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    # Rarer counters by name (e.g. "unsolicited_frontier").
    extra: dict[str, int] = field(default_factory=dict)
