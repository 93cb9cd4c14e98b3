"""Password hashing: scrypt from the standard library, in a self-describing string.

Why scrypt (n=2**14, r=8, p=1, 16-byte salt): memory-hard like argon2, with no compiled
dependency. ``scrypt$n$r$p$salt$hash`` keeps the costs with each hash, so raising them later only
needs a re-hash at the next successful login (:func:`needs_rehash`). Comparison is constant time.
One hash takes ~50 ms and 16 MiB: callers on the event loop run it in a worker thread.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SALT_BYTES, _HASH_BYTES = 16, 32
_MAXMEM = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` for ``password`` (a fresh random salt unless given)."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                            p=SCRYPT_P, dklen=_HASH_BYTES, maxmem=_MAXMEM)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; a malformed or absurd hash never matches
    (costs are bounded so a tampered row cannot make a login eat the server's memory)."""
    try:
        scheme, n_s, r_s, p_s, salt_s, hash_s = stored.split("$")
        n, r, p = int(n_s), int(r_s), int(p_s)
        salt, expected = _unb64(salt_s), _unb64(hash_s)
    except ValueError:
        return False
    if scheme != "scrypt" or not (2 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    if n & (n - 1) or not expected or 128 * n * r * p > _MAXMEM:
        return False
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                            dklen=len(expected), maxmem=_MAXMEM)
    return hmac.compare_digest(digest, expected)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other costs than today's."""
    return not stored.startswith(f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$")


@functools.cache
def dummy_hash() -> str:
    """Verified against when the username is unknown, so that costs as much as a wrong
    password (made on first use: importing this module should not cost a hash)."""
    return hash_password("not a real password", salt=b"\0" * _SALT_BYTES)

