"""Memoised wire decoding and gossip message ids, shared by every node of a run.

Theory of operation. Thousands of cores receive the same bytes, so each
distinct token is verified once per run (`decode`, handed to every `Core` as
its decoder) and each distinct large sync frame is parsed once
(`decode_frame`; the memo is dropped when it grows past FRAME_MEMO_BYTES).
The routers handle gossip by message id (`mid`): a small int per distinct
byte string, in first-seen order, so seen caches are one byte per id;
`msgs[mid]` is the bytes and `valid[mid]` says whether they verify (1) or not
(2), which is the gossip validator's answer. A memo never changes what a
decoder returns, only how often it runs.
"""

from __future__ import annotations

import wire

__all__ = ["Codec", "FRAME_MEMO_MIN_BYTES", "FRAME_MEMO_BYTES"]

# Parsed sync frames of at least FRAME_MEMO_MIN_BYTES are kept for reuse; the
# memo is cleared when they add up to FRAME_MEMO_BYTES.
FRAME_MEMO_MIN_BYTES = 1024
FRAME_MEMO_BYTES = 32 << 20


class Codec:
    """The run's token and frame memos and its message-id table."""

    def __init__(self) -> None:
        self._memo: dict[bytes, wire.Token | wire.InvalidToken] = {}
        self._frame_memo: dict[bytes, wire.Frame | wire.InvalidFrame] = {}
        self._frame_memo_bytes = 0
        self._mids: dict[bytes, int] = {}
        self.msgs: list[bytes] = []  # message id -> bytes
        self.valid = bytearray()  # per message id: 1 verifies, 2 does not

    def mid(self, data: bytes) -> int:
        """The message id of gossip bytes (a new one for bytes never seen in this run)."""
        m = self._mids.get(data)
        if m is None:
            m = self._mids[data] = len(self.msgs)
            self.msgs.append(data)
            try:
                self.decode(data)
                self.valid.append(1)
            except wire.InvalidToken:
                self.valid.append(2)
        return m

    def decode_frame(self, data: bytes) -> wire.Frame:
        """Parse each distinct large frame once (a frontier goes to several peers)."""
        if len(data) < FRAME_MEMO_MIN_BYTES:
            return wire.decode_frame(data)  # a Hello or a small request: cheap, unique
        memo = self._frame_memo
        r = memo.get(data)
        if r is None:
            try:
                r = wire.decode_frame(data)
            except wire.InvalidFrame as exc:
                r = exc
            self._frame_memo_bytes += len(data)
            if self._frame_memo_bytes > FRAME_MEMO_BYTES:
                memo.clear()
                self._frame_memo_bytes = len(data)
            memo[data] = r
        if isinstance(r, wire.InvalidFrame):
            raise r.with_traceback(None)
        return r

    def cid(self, raw: bytes) -> str:
        """The cid of bytes already verified once this run is the Token's."""
        r = self._memo.get(raw)
        return r.cid if type(r) is wire.Token else wire.cid_of(raw)

    def decode(self, raw: bytes) -> wire.Token:
        """Verify each distinct byte string once per run; share the Token across nodes."""
        r = self._memo.get(raw)
        if r is None:
            try:
                r = wire.decode_token(raw)
            except wire.InvalidToken as exc:
                r = exc
            self._memo[raw] = r
        if isinstance(r, wire.InvalidToken):
            raise r.with_traceback(None)
        return r
