"""troth wire layer: bytes <-> values. Pure: no I/O, no clocks, no randomness.

Identity and keys (`Identity`, agent ids), promise tokens (`Claims`,
`encode_token`, `decode_token`, `Token`), content ids (`cid_of`), and the
frames of the sync protocol. Every decoder of untrusted bytes raises only the
typed errors below (`InvalidToken`, `InvalidFrame`), each with a `.reason` code.
How much a token, or a sync frame, may contain is defined once, in `wire.limits`.
"""

from .errors import InvalidFrame, InvalidIdentity, InvalidToken, TokenTooLarge, WireError
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
    Claims,
    Token,
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
    "TokenHead", "peek_token",
    "CONTENT_TYPE", "DEPS_MAX", "KINDS", "TOKEN_SIZE_MAX_BYTES",
    "Frame", "Hello", "Frontier", "FrontierEntry", "WantRange", "WantCids", "WantForks", "Tokens",
    "encode_frame", "decode_frame", "FRAME_SIZE_MAX_BYTES",
]
