"""Gossip messages: one token, or a bundle of several.

Theory of operation (docs/decisions/0016-gossip-bundles.md). The data of a
gossip message on a troth topic is one of two things, told apart by its
first byte:

    token    = the token's bytes, as ever        ; first byte d2 (tag 18)
    bundle   = [2*256 token: bstr]                ; first byte 82..99 (array)

A COSE_Sign1 token always begins with the tag-18 byte `d2`; a bundle is a
CBOR array, whose first byte has major type 4 (`80`..`9f`): no input is both.
Even read without its tag, a COSE_Sign1 is an array whose second item is a
map, never a byte string, so no reader can take a bundle for a token either.

A bundle is strict in the way wire/frames.py is: size capped before it is
parsed, the one deterministic encoding (wire/cbor.py), at least two tokens
(a lone token travels bare, so one token has exactly one gossip form and a
node that knows no bundles still reads it), at most `BUNDLE_TOKENS_MAX`, no
token twice, each within the token size cap. Every refusal is
`InvalidBundle` with a reason. The tokens inside are *not* verified here:
whoever reads a bundle verifies each with `decode_token`, and one bad token
makes the whole message bad (its publisher signed or passed on garbage).

`pack_gossip` is the publisher's half: tokens in order -> the fewest gossip
messages within the limits, keeping the order (an issuer's chain arrives in
seq order, so receivers apply it without waiting).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import cbor
from .errors import InvalidBundle
from .limits import BUNDLE_SIZE_MAX_BYTES, BUNDLE_TOKENS_MAX, TOKEN_SIZE_MAX_BYTES

__all__ = [
    "encode_bundle", "decode_bundle", "is_bundle", "gossip_tokens", "gossip_count",
    "pack_gossip",
    "BUNDLE_SIZE_MAX_BYTES", "BUNDLE_TOKENS_MAX",
]

# CBOR major type 4 (array) in the top three bits of the first byte.
_ARRAY_MAJOR = 4


def is_bundle(data: bytes) -> bool:
    """Whether gossip `data` claims to be a bundle (from its first byte only;
    `decode_bundle` checks the rest). Anything else is read as one token."""
    return bool(data) and data[0] >> 5 == _ARRAY_MAJOR


def gossip_count(data: bytes) -> int:
    """How many tokens gossip `data` claims to carry, from its first bytes
    only (1 for anything but a bundle's head; a bad bundle is refused later,
    when it is read): what a neighbour's rate limit charges before parsing."""
    if not is_bundle(data):
        return 1
    n = data[0] & 0x1F
    if n < 24:
        return max(n, 1)
    if n == 24 and len(data) > 1:
        return min(data[1], BUNDLE_TOKENS_MAX)
    if n == 25 and len(data) > 2:
        return min(int.from_bytes(data[1:3], "big"), BUNDLE_TOKENS_MAX)
    return BUNDLE_TOKENS_MAX  # a longer head: a bad bundle, charged in full


def _head_bytes(n: int) -> int:
    """Bytes of the shortest CBOR head for an argument `n`."""
    return 1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5 if n < 2**32 else 9


def encode_bundle(tokens: Sequence[bytes]) -> bytes:
    """The bundle of `tokens` (their bytes, in order). Raises ValueError for a
    bundle `decode_bundle` would refuse (the encoder checks its own output)."""
    data = cbor.dumps(list(tokens))
    try:
        decode_bundle(data)
    except InvalidBundle as exc:
        raise ValueError(f"not a valid bundle: {exc}") from None
    return data


def decode_bundle(data: bytes) -> tuple[bytes, ...]:
    """The token bytes inside a bundle, in order. Raises only InvalidBundle."""
    value = cbor.loads_capped(data, BUNDLE_SIZE_MAX_BYTES, InvalidBundle)
    if type(value) is not tuple or any(type(t) is not bytes for t in value):
        raise InvalidBundle("not-a-bundle", "a bundle is an array of token byte strings")
    if len(value) < 2:
        raise InvalidBundle("too-few-tokens", "a lone token travels bare, not bundled",
                            length=len(value))
    if len(value) > BUNDLE_TOKENS_MAX:
        raise InvalidBundle("limit-exceeded", "tokens in a bundle", length=len(value),
                            limit=BUNDLE_TOKENS_MAX)
    for t in value:
        if len(t) > TOKEN_SIZE_MAX_BYTES:
            raise InvalidBundle("limit-exceeded", "a token in the bundle is over the size cap",
                                size_bytes=len(t), limit_bytes=TOKEN_SIZE_MAX_BYTES)
    if len(set(value)) != len(value):
        raise InvalidBundle("duplicate-token", "the same token twice in one bundle")
    return value


def gossip_tokens(data: bytes) -> tuple[bytes, ...]:
    """The tokens a gossip message carries: its data itself, or a bundle's
    tokens. Raises InvalidBundle for a bad bundle (a bare token is judged by
    `decode_token` later, like every token of a bundle)."""
    return decode_bundle(data) if is_bundle(data) else (data,)


def pack_gossip(tokens: Sequence[bytes]) -> list[bytes]:
    """Gossip messages carrying `tokens` in order: runs of consecutive tokens
    in bundles as large as the limits allow, a token left alone bare.
    The caller gives distinct tokens, each within the token size cap."""
    messages: list[bytes] = []
    run: list[bytes] = []
    size = _head_bytes(BUNDLE_TOKENS_MAX)  # the array head, at its largest

    def flush() -> None:
        if run:
            messages.append(run[0] if len(run) == 1 else encode_bundle(run))

    for raw in tokens:
        cost = _head_bytes(len(raw)) + len(raw)
        if run and (len(run) == BUNDLE_TOKENS_MAX or size + cost > BUNDLE_SIZE_MAX_BYTES):
            flush()
            run, size = [], _head_bytes(BUNDLE_TOKENS_MAX)
        run.append(raw)
        size += cost
    flush()
    return messages
