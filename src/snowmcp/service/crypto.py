"""Encryption at rest (AES-256-GCM key ring) and the hashing of API and admin keys.

Ciphertext layout (then base64url): version byte 0x01 | key id (4 bytes) | nonce (12) |
AES-GCM ciphertext+tag. The key id is derived from the key itself, so a ring is just a
list of keys and any record names the key that opened it. The associated data binds a
ciphertext to its user and field: a refresh token copied into another user's record, or
into the access-token field, fails to decrypt instead of being served.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = 1
_HEADER = 1 + 4 + 12


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_key() -> str:
    """A new 256-bit encryption key as printed by `snowmcp-service keys generate`."""
    return _b64e(secrets.token_bytes(32))


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"snowmcp-key-id:" + key).digest()[:4]


class Sealing(Protocol):
    def seal(self, plaintext: str, aad: str) -> str: ...


class Cipher(Protocol):
    """What the token code needs from KeyRing (file keys) or TransitCipher (Vault mode)."""

    async def open(self, token: str, aad: str, hint: str = "") -> str: ...

    async def sealer(self, like: Sequence[str] = ()) -> Sealing: ...

    async def session_sealer(self) -> Sealing: ...


class DecryptError(Exception):
    """No key in the ring opens this value (wrong key, tampering, or wrong user/field)."""


class KeyRing:
    """The first key encrypts; every key decrypts (for rotation)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._ciphers = {key_id(k): AESGCM(k) for k in keys}
        self._primary_id = key_id(keys[0])
        self._primary = self._ciphers[self._primary_id]

    @classmethod
    def from_strings(cls, values: tuple[str, ...] | list[str]) -> KeyRing:
        keys: list[bytes] = []
        for i, value in enumerate(values, 1):
            try:
                raw = _b64d(value.strip())
            except ValueError:
                raise ValueError(f"key {i} is not base64url (make one with `snowmcp-service keys generate`)") from None
            if len(raw) != 32:
                raise ValueError(f"key {i} must decode to 32 bytes (make one with `snowmcp-service keys generate`)")
            keys.append(raw)
        if len({key_id(k) for k in keys}) != len(keys):
            raise ValueError("the same key is listed twice")
        return cls(keys)

    @property
    def primary_id(self) -> str:
        return self._primary_id.hex()

    def encrypt(self, plaintext: str, aad: str) -> str:
        nonce = os.urandom(12)
        body = self._primary.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
        return _b64e(bytes([_VERSION]) + self._primary_id + nonce + body)

    def decrypt(self, token: str, aad: str) -> str:
        try:
            raw = _b64d(token)
        except ValueError:
            raise DecryptError("not a ciphertext") from None
        if len(raw) <= _HEADER or raw[0] != _VERSION:
            raise DecryptError("not a ciphertext")
        cipher = self._ciphers.get(raw[1:5])
        if cipher is None:
            raise DecryptError("encrypted under a key that is not in the ring")
        try:
            return cipher.decrypt(raw[5:17], raw[17:], aad.encode("utf-8")).decode("utf-8")
        except InvalidTag:
            raise DecryptError("ciphertext does not verify") from None

    # The cipher interface shared with the Transit-mode cipher (vault/transit.py), whose
    # data keys may need a Vault call: async where that one can wait, `seal` local.
    def seal(self, plaintext: str, aad: str) -> str:
        return self.encrypt(plaintext, aad)

    async def open(self, token: str, aad: str, hint: str = "") -> str:
        return self.decrypt(token, aad)

    async def sealer(self, like: Sequence[str] = ()) -> KeyRing:
        return self

    async def session_sealer(self) -> KeyRing:
        return self

    def needs_rotation(self, token: str) -> bool:
        """True when the value was encrypted under a key other than the first."""
        try:
            return _b64d(token)[1:5] != self._primary_id
        except ValueError:
            return True


def hash_secret(value: str) -> str:
    """SHA-256 hex of an API or admin key. The keys are 256-bit random, so no slow hash is needed."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    return "smcp_" + secrets.token_urlsafe(32)


def new_opaque(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def pkce_challenge(verifier: str) -> str:
    return _b64e(hashlib.sha256(verifier.encode("ascii")).digest())


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
