"""troth wire layer: bytes <-> values. Pure: no I/O, no clocks, no randomness.

Identity and keys (`Identity`, agent ids), promise tokens (`Claims`,
`encode_token`, `decode_token`, `Token`), content ids (`cid_of`), the frames
of the sync protocol, and bundles (several tokens in one gossip message).
Every decoder of untrusted bytes raises only the typed errors below
(`InvalidToken`, `InvalidFrame`, `InvalidBundle`), each with a `.reason` code.
How much a token, a sync frame or a bundle may contain is defined once, in
`wire.limits`.
"""

from .bundle import (
    BUNDLE_SIZE_MAX_BYTES,
    BUNDLE_TOKENS_MAX,
    decode_bundle,
    encode_bundle,
    gossip_count,
    gossip_tokens,
    is_bundle,
    pack_gossip,
)
from .errors import (
    InvalidBundle,
    InvalidFrame,
    InvalidIdentity,
    InvalidToken,
    TokenTooLarge,
    WireError,
)
from .frames import (
    FRAME_SIZE_MAX_BYTES,
    Frame,
    Frontier,
    FrontierEntry,
    Hello,
    Tokens,
    WantCids,
    WantForks,
    WantRange,
    decode_frame,
    encode_frame,
)
from .ids import (
    Identity,
    agent_id_from_bytes,
    agent_id_from_public_key,
    agent_id_to_bytes,
    cid_from_bytes,
    cid_of,
    cid_to_bytes,
    is_cid,
)
from .limits import DEPS_MAX, TOKEN_SIZE_MAX_BYTES
from .token import (
    CONTENT_TYPE,
    KINDS,
    VERIFY_CHUNK,
    Claims,
    Token,
    TokenBatch,
    TokenHead,
    decode_token,
    encode_token,
    peek_token,
    sign_token,
)

__all__ = [
    "WireError", "InvalidToken", "TokenTooLarge", "InvalidFrame", "InvalidIdentity",
    "Identity", "agent_id_from_bytes", "agent_id_from_public_key", "agent_id_to_bytes",
    "cid_of", "cid_to_bytes", "cid_from_bytes", "is_cid",
    "Claims", "Token", "encode_token", "sign_token", "decode_token",
    "TokenBatch", "VERIFY_CHUNK",
    "TokenHead", "peek_token",
    "CONTENT_TYPE", "DEPS_MAX", "KINDS", "TOKEN_SIZE_MAX_BYTES",
    "Frame", "Hello", "Frontier", "FrontierEntry", "WantRange", "WantCids", "WantForks", "Tokens",
    "encode_frame", "decode_frame", "FRAME_SIZE_MAX_BYTES",
    "InvalidBundle", "encode_bundle", "decode_bundle", "is_bundle", "gossip_tokens",
    "gossip_count",
    "pack_gossip", "BUNDLE_SIZE_MAX_BYTES", "BUNDLE_TOKENS_MAX",
]
