"""The pure core of a node: no I/O, no clock, no randomness (time and
randomness are arguments). Drivers (node.app.runtime, sim) feed it events
and execute the outputs it returns."""

from .liveness import Liveness, LivenessState, PeerLiveness
from .machine import (
    DEFAULT_TOPIC,
    ConsensusChanged,
    Core,
    CoreParams,
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

__all__ = [
    "Core", "CoreParams", "Output", "Send", "Publish", "Persist", "TokenIssued",
    "TokenAccepted", "TokenRejected", "FrameRejected", "EquivocationDetected",
    "VerdictChanged", "TrustChanged", "ConsensusChanged", "OutcomeChanged",
    "topic_for", "DEFAULT_TOPIC", "Liveness", "LivenessState", "PeerLiveness",
]
