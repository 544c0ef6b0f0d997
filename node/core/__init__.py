"""The pure core of a node: no I/O, no clock, no randomness (time and
randomness are arguments). Drivers (node.app.runtime, sim) feed it events
and execute the outputs it returns.

Modules: machine.py (`Core`, the facade), outputs.py (what it returns),
params.py (`CoreParams`, `Stats`), index.py (applied tokens and the frontier
digest), causal.py (tokens waiting for parents), sync.py (the anti-entropy
protocol), view.py (change events), liveness.py (peer liveness).
"""

from .liveness import Liveness, LivenessState, PeerLiveness
from .machine import Core, OwnChainBehind
from .outputs import (
    DEFAULT_TOPIC,
    ConsensusChanged,
    EquivocationDetected,
    FrameRejected,
    OutcomeChanged,
    Output,
    Persist,
    Publish,
    Send,
    TokenAccepted,
    TokenIssued,
    TokenRejected,
    TrustChanged,
    VerdictChanged,
    topic_for,
)
from .params import CoreParams, Stats

__all__ = [
    "Core", "OwnChainBehind", "CoreParams", "Stats", "Output", "Send", "Publish", "Persist",
    "TokenIssued", "TokenAccepted", "TokenRejected", "FrameRejected", "EquivocationDetected",
    "VerdictChanged", "TrustChanged", "ConsensusChanged", "OutcomeChanged",
    "topic_for", "DEFAULT_TOPIC", "Liveness", "LivenessState", "PeerLiveness",
]
