"""Errors of the wire layer.

Theory of operation: everything that turns untrusted bytes into values raises
exactly one family of exceptions, rooted at `WireError`. A caller at the network
boundary catches `WireError` (or the narrower `InvalidToken` / `InvalidFrame`)
and turns it into an event; no other exception type escapes a decoder for any
input. Each error carries a stable, machine-readable `reason` code (kebab-case,
listed in `docs/token-profile.md`) and the numbers involved, so that logs and
tests can match on the reason instead of on message text.
"""

from __future__ import annotations

__all__ = [
    "WireError", "InvalidToken", "TokenTooLarge", "InvalidFrame", "InvalidBundle",
    "InvalidIdentity",
]


class WireError(Exception):
    """Root of every error raised by the `wire` package."""

    def __init__(self, reason: str, detail: str = "", **numbers: int) -> None:
        self.reason = reason
        self.detail = detail
        self.numbers = numbers
        text = reason if not detail else f"{reason}: {detail}"
        if numbers:
            text += " (" + ", ".join(f"{k}={v}" for k, v in sorted(numbers.items())) + ")"
        super().__init__(text)


class InvalidToken(WireError):
    """Bytes that are not a valid troth token (bad encoding, signature, claims or limits)."""


class TokenTooLarge(InvalidToken):
    """A token over the size limit; refused before any decoding work."""

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        super().__init__("too-large", size_bytes=size_bytes, limit_bytes=limit_bytes)
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class InvalidFrame(WireError):
    """Bytes that are not a valid sync-protocol frame."""


class InvalidBundle(WireError):
    """Bytes that are not a valid bundle of gossip tokens (wire/bundle.py).

    About the bundle's shape only: the tokens inside are judged one by one
    by `decode_token`, whose `InvalidToken` names what is wrong with one."""


class InvalidIdentity(WireError):
    """A key file, agent id or peer-id byte string that cannot be used."""
