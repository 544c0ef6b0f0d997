"""The errors of the network edge: one root, `P2PError`, with a stable `reason`.

Theory of operation
-------------------
No libp2p type or exception crosses node/net's boundary: whatever py-libp2p
raises is caught where it happens and re-raised as one of these, carrying a
short `detail` and the numbers that explain it (`size_bytes=...`). API misuse
(a wrong type, a negative length) raises `ValueError`/`TypeError` instead; the
two address/peer-id errors are both, since a bad string is the caller's fault
and a peer's at once.
"""

from __future__ import annotations

__all__ = [
    "P2PError", "StartFailed", "IdentityMismatch", "InvalidAddress", "InvalidPeerId",
    "ConnectFailed", "NodeClosed", "PublishRejected", "PublishFailed",
    "StreamOpenFailed", "StreamClosed", "StreamFailed", "FrameTooLarge", "MalformedFrame",
    "FrameTimeout", "TruncatedFrame", "WriteTimeout", "SyncLimitExceeded", "RequestRateExceeded",
    "TooManyStreams", "PeerBanned",
]


class P2PError(Exception):
    """Root of every error node/net raises (besides API-misuse ValueError)."""

    reason: str = "p2p-error"

    def __init__(self, detail: str = "", **numbers: object) -> None:
        self.detail = detail
        self.numbers = numbers
        extra = ", ".join(f"{k}={v!r}" for k, v in numbers.items())
        super().__init__(": ".join(x for x in (self.reason, detail, extra) if x))


class StartFailed(P2PError):
    reason = "start-failed"


class IdentityMismatch(P2PError):
    reason = "identity-mismatch"


class InvalidAddress(P2PError, ValueError):
    reason = "invalid-address"


class InvalidPeerId(P2PError, ValueError):
    reason = "invalid-peer-id"


class ConnectFailed(P2PError):
    reason = "connect-failed"


class NodeClosed(P2PError):
    reason = "node-closed"


class PublishRejected(P2PError):
    """Our own validator refused the data we tried to publish."""

    reason = "publish-rejected"


class PublishFailed(P2PError):
    reason = "publish-failed"


class StreamOpenFailed(P2PError):
    reason = "stream-open-failed"


class StreamClosed(P2PError):
    """The peer closed its side cleanly, at a frame boundary."""

    reason = "stream-closed"


class StreamFailed(P2PError):
    """Reset, EOF in the middle of a frame, or an I/O error."""

    reason = "stream-failed"


class FrameTooLarge(P2PError):
    reason = "frame-too-large"

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes
        super().__init__("", size_bytes=size_bytes, limit_bytes=limit_bytes)


class MalformedFrame(P2PError):
    reason = "malformed-frame"


class FrameTimeout(P2PError):
    reason = "frame-timeout"

    def __init__(self, timeout_s: float, received_bytes: int) -> None:
        self.timeout_s = timeout_s
        self.received_bytes = received_bytes
        super().__init__("", timeout_s=timeout_s, received_bytes=received_bytes)


class TruncatedFrame(StreamFailed):
    """The stream ended (EOF) in the middle of a frame."""

    reason = "truncated-frame"


class WriteTimeout(StreamFailed):
    """A frame write did not finish in time: the peer does not read (a slow reader)."""

    reason = "write-timeout"

    def __init__(self, timeout_s: float, size_bytes: int) -> None:
        self.timeout_s = timeout_s
        self.size_bytes = size_bytes
        super().__init__("", timeout_s=timeout_s, size_bytes=size_bytes)


class SyncLimitExceeded(P2PError):
    """A sync peer broke a per-peer limit (guard.py's `SyncLimits`)."""

    reason = "sync-limit-exceeded"


class RequestRateExceeded(SyncLimitExceeded):
    """The peer kept sending frames while throttled: it is disconnected and banned."""

    reason = "request-rate"

    def __init__(self, refused_units: float) -> None:
        self.refused_units = refused_units
        super().__init__("", refused_units=round(refused_units))


class TooManyStreams(SyncLimitExceeded):
    """An inbound sync stream over the peer's cap: that stream is refused."""

    reason = "too-many-streams"


class PeerBanned(SyncLimitExceeded):
    """The peer is banned for a while (it broke a limit): no dial, no stream."""

    reason = "peer-banned"
