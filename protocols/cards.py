"""Card UIDs as keyed hashes: the coordinator stores them so and the device looks them up so.

Readers print the same UID as `04:A1:B2`, `04a1b2` or `04 A1 B2`; normalising in one place
makes every reader and the database agree.
"""

import hashlib
import hmac

from protocols.errors import ProtocolError

MAX_UID_CHARS = 64


def normalize_card_uid(uid: str) -> str:
    normalized = uid.strip().upper().replace(":", "").replace(" ", "")
    if not normalized or len(normalized) > MAX_UID_CHARS or "\x00" in normalized:
        raise ProtocolError(f"card UID must be 1-{MAX_UID_CHARS} characters without NUL")
    return normalized


def card_uid_hash(key: bytes, uid: str) -> str:
    """HMAC-SHA256 of the normalised UID, hex: a database dump or a bundle reveals no UIDs."""
    return hmac.new(key, normalize_card_uid(uid).encode(), hashlib.sha256).hexdigest()
