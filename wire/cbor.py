"""Strict deterministic CBOR for troth payloads and frames.

Theory of operation: troth signs and hashes exact bytes, so every value has
exactly one encoding. We use RFC 8949 §4.2.1 *core deterministic encoding*
(shortest heads, definite lengths, map keys in bytewise order of their
encodings) restricted to a small data model:

    int (-2**64 .. 2**64-1), bytes, text, list, map, bool, null

No floats, no tags, no simple values other than true/false/null. Map keys are
text strings, or unsigned integers 0..23 (used only by registered CWT / COSE
labels). Under that key rule, cbor2's `canonical=True` (length-first key order,
the RFC 7049 rule) produces exactly the RFC 8949 bytewise order: a 0..23 int key
encodes in one byte below 0x18 and every text key starts at 0x60 or above, and
within one major type a longer head always means a larger value. So we encode
with cbor2's C encoder and *check* decoded input by re-encoding it and
comparing bytes; any other encoding of the same value is refused. The check
walks every map's keys in the order read (they must ascend in that order) and
re-encodes without sorting (cbor2 always writes shortest heads): the same
verdict as a canonical re-encode at a fraction of its cost. See
docs/decisions/0001-token-codec.md.

`strict_loads` never raises anything but `WireError` subclasses (the caller
chooses which), never follows tags (so no shared-reference cycles), and is
bounded by the caller's size cap plus our depth and length limits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import cbor2

from .errors import WireError

__all__ = ["dumps", "strict_loads", "loads_capped", "DEPTH_MAX", "ITEMS_MAX", "TEXT_MAX_BYTES",
           "BYTES_MAX_BYTES"]

# Nesting depth of a payload or frame. Claims are at most map -> body map ->
# a few levels of user structure; 16 leaves room and keeps recursion shallow.
DEPTH_MAX = 16
# Elements of any one array or map. Bounds per-container work; deps have their
# own lower limit in token.py.
ITEMS_MAX = 16_384
# A single text string: promise statements and evidence notes are prose, and
# anything larger belongs outside the token, referenced by hash.
TEXT_MAX_BYTES = 64 * 1024
# A single byte string (evidence digests, cids, embedded tokens in frames are
# checked separately by their own caps).
BYTES_MAX_BYTES = 512 * 1024

_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1

# cbor2 decodes these tags into Python objects itself (found by probing cbor2
# 6.2 over tags 0..69999); tag 28/29 can build reference cycles. We refuse all.
_SEMANTIC_TAGS = (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260,
                  261, 1004, 43000, 55799)


class _Refused(Exception):
    pass


def _refuse_semantic(_decoder: Any) -> NoReturn:
    raise _Refused("tag")


def _refuse_tag(_decoder: Any, _tag: Any) -> NoReturn:
    raise _Refused("tag")


_NO_TAGS = {tag: _refuse_semantic for tag in _SEMANTIC_TAGS}


def dumps(value: Any) -> bytes:
    """Deterministic encoding of a value of the troth data model."""
    return cbor2.dumps(value, canonical=True)


def _check_items(items: Iterable[Any], depth: int, error: Callable[..., WireError]) -> None:
    """`_check` each item; the common scalars are tested inline (no call per item)."""
    for item in items:
        t = type(item)
        if not ((t is str and len(item) <= TEXT_MAX_BYTES)
                or (t is int and _INT_MIN <= item <= _INT_MAX)
                or (t is bytes and len(item) <= BYTES_MAX_BYTES)):
            _check(item, depth, error)


def _check(value: Any, depth: int, error: Callable[..., WireError]) -> None:
    # Explicit type dispatch: exact types only (bool is checked before int
    # because bool is a subclass of int in Python).
    t = type(value)
    if t is str:
        if len(value) > TEXT_MAX_BYTES:  # chars <= bytes, a cheap first bound
            raise error("limit-exceeded", "text too long", length=len(value),
                        limit=TEXT_MAX_BYTES)
        return
    if t is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise error("bad-cbor", "integer out of range")
        return
    if t is bytes:
        if len(value) > BYTES_MAX_BYTES:
            raise error("limit-exceeded", "byte string too long", length=len(value),
                        limit=BYTES_MAX_BYTES)
        return
    if value is None or t is bool:
        return
    if depth >= DEPTH_MAX:
        raise error("limit-exceeded", "nesting too deep", depth=depth + 1, limit=DEPTH_MAX)
    if t is list or t is tuple:
        if len(value) > ITEMS_MAX:
            raise error("limit-exceeded", "array too long", length=len(value), limit=ITEMS_MAX)
        _check_items(value, depth + 1, error)
        return
    if t is dict or t is cbor2.frozendict:
        if len(value) > ITEMS_MAX:
            raise error("limit-exceeded", "map too large", length=len(value), limit=ITEMS_MAX)
        last: tuple[int, int, Any] = (-1, 0, 0)
        for key in value:
            kt = type(key)
            if kt is str:
                order = (1, len(key.encode("utf-8")), key)
            elif kt is int and 0 <= key <= 23:
                order = (0, key, 0)
            else:
                raise error("bad-cbor", "map keys must be text or 0..23")
            if order <= last:
                raise error("not-deterministic", "map keys not in RFC 8949 bytewise order")
            last = order
        _check_items(value.values(), depth + 1, error)
        return
    raise error("bad-cbor", f"type {t.__name__} is outside the troth data model")


def loads_capped(data: Any, size_max_bytes: int, error: Callable[..., WireError]) -> Any:
    """`strict_loads` of bytes from outside: anything but bytes (`bytearray`
    and `memoryview` are copied) is `not-bytes`, more than `size_max_bytes`
    is `too-large`, both before any parsing."""
    if type(data) is not bytes:
        if not isinstance(data, (bytearray, memoryview)):
            raise error("not-bytes", f"got {type(data).__name__}")
        data = bytes(data)
    if len(data) > size_max_bytes:
        raise error("too-large", size_bytes=len(data), limit_bytes=size_max_bytes)
    return strict_loads(data, error)


def strict_loads(data: bytes, error: Callable[..., WireError]) -> Any:
    """Decode `data` as one deterministic CBOR item of the troth data model.

    `error(reason, detail, **numbers)` builds the exception to raise, so
    tokens raise InvalidToken and frames raise InvalidFrame. The caller must
    have capped `len(data)` already.
    """
    try:
        value = cbor2.loads(
            data,
            max_depth=DEPTH_MAX + 1,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            semantic_decoders=_NO_TAGS,
            tag_hook=_refuse_tag,
            immutable=True,
        )
    except cbor2.CBORDecodeEOF as exc:
        raise error("truncated", str(exc)) from None
    except cbor2.CBORDecodeError as exc:
        text = str(exc)
        if "tag" in text or isinstance(exc.__cause__, _Refused):
            raise error("bad-cbor", "tags are not allowed") from None
        if "Duplicate" in text or "duplicate" in text:
            raise error("bad-cbor", "duplicate map key") from None
        if "indefinite" in text:
            raise error("not-deterministic", "indefinite length") from None
        if "depth" in text:
            raise error("limit-exceeded", "nesting too deep", limit=DEPTH_MAX) from None
        if "extra data" in text or "trailing" in text:
            raise error("trailing-bytes", text) from None
        raise error("bad-cbor", text) from None
    except _Refused:
        raise error("bad-cbor", "tags are not allowed") from None
    except (RecursionError, MemoryError, ValueError, TypeError, OverflowError, UnicodeError) as exc:
        # cbor2's C decoder reports some malformations with builtin types.
        raise error("bad-cbor", type(exc).__name__) from None
    _check(value, 0, error)
    try:
        # Maps re-encode in the order they were read (their key order was just
        # checked): cheaper than canonical=True, which sorts every map again.
        again = cbor2.dumps(value)
    except Exception as exc:  # noqa: BLE001 - a value we cannot re-encode is not ours
        raise error("bad-cbor", f"cannot re-encode: {type(exc).__name__}") from None
    if again != data:
        if len(again) < len(data) and data.startswith(again):
            raise error("trailing-bytes", length=len(data) - len(again))
        raise error("not-deterministic", "not in RFC 8949 core deterministic form")
    return value
