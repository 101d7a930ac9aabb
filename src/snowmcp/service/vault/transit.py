"""Envelope encryption through Vault's Transit engine: no key material on the host's disk.

Every user record gets its own 256-bit data key from `transit/datakey/wrapped/<key>`
(Vault generates it and returns it wrapped under the Transit key). The wrapped key is
stored inside each ciphertext; the plain data key exists only in this process's memory,
obtained through `transit/decrypt` the first time a record is read and cached after that.
The tokens are then sealed locally with AES-256-GCM under the data key (same associated
data as file-key mode: user and field).

Ciphertext layout (then base64url): 0x02 | length of the wrapped key (2 bytes, big endian)
| wrapped key ("vault:vN:...", ASCII) | nonce (12) | AES-GCM ciphertext+tag.

Why envelope rather than Transit encrypt/decrypt of each token: a refresh then costs no
Vault call once the record's data key is cached (a direct mode needs a decrypt and an
encrypt per refresh, and a decrypt per process for every access token it serves), and a
Transit key rotation only rewraps the small wrapped key (`vault rewrap`); see
docs/service.md for the measurement.

Sign-in verifiers (held at most SNOWMCP_LOGIN_TTL) are sealed under one data key per
process, renewed every SESSION_KEY_TTL seconds, so an unauthenticated /v1/login costs no
Vault call.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from snowmcp.service.crypto import DecryptError, _b64d, _b64e
from snowmcp.service.vault.client import VaultClient, VaultDenied

_VERSION = 2
SESSION_KEY_TTL = 300.0
MAX_CACHED_KEYS = 200_000  # one per user record (plus a few): about 100 bytes each


class ForeignCiphertext(DecryptError):
    """A value sealed in file-key mode, read in Vault mode: only a new sign-in replaces it."""


def split(token: str) -> tuple[str, bytes, bytes]:
    """(wrapped key, nonce, ciphertext) of a Transit-mode ciphertext; DecryptError otherwise."""
    try:
        raw = _b64d(token)
    except ValueError:
        raise DecryptError("not a ciphertext") from None
    if len(raw) < 3 or raw[0] != _VERSION:
        raise ForeignCiphertext("not a Transit-mode ciphertext (written in file-key mode?)")
    size = int.from_bytes(raw[1:3], "big")
    end = 3 + size
    if len(raw) <= end + 12:
        raise DecryptError("not a ciphertext")
    try:
        wrapped = raw[3:end].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptError("not a ciphertext") from None
    return wrapped, raw[end : end + 12], raw[end + 12 :]


def join(wrapped: str, nonce: bytes, body: bytes) -> str:
    data = wrapped.encode("ascii")
    return _b64e(bytes([_VERSION]) + len(data).to_bytes(2, "big") + data + nonce + body)


def key_version(wrapped: str) -> int:
    """N of a "vault:vN:..." ciphertext (0 if it is not one)."""
    parts = wrapped.split(":", 2)
    return int(parts[1][1:]) if len(parts) == 3 and parts[1][1:].isdigit() else 0


class Sealer:
    """Seals values under one data key, locally (no Vault call)."""

    def __init__(self, wrapped: str, cipher: AESGCM) -> None:
        self.wrapped = wrapped
        self._cipher = cipher

    def seal(self, plaintext: str, aad: str) -> str:
        nonce = os.urandom(12)
        return join(self.wrapped, nonce, self._cipher.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8")))


class TransitCipher:
    """The Transit-mode counterpart of crypto.KeyRing (same `open` / `sealer` / `seal`)."""

    def __init__(self, vault: VaultClient, mount: str, key: str) -> None:
        self.vault = vault
        self.mount = mount
        self.key = key
        self._keys: dict[str, AESGCM] = {}  # wrapped data key -> the data key, in memory only
        self._loading: dict[str, asyncio.Future[AESGCM]] = {}
        self._session: Sealer | None = None
        self._session_at = 0.0
        self.unwraps = 0  # transit/decrypt calls made (tests, bench)

    # -- data keys ---------------------------------------------------------------
    async def _unwrap(self, wrapped: str) -> AESGCM:
        cached = self._keys.get(wrapped)
        if cached is not None:
            return cached
        pending = self._loading.get(wrapped)
        if pending is not None:  # one Transit call for all the requests that need this key
            return await asyncio.shield(pending)
        future: asyncio.Future[AESGCM] = asyncio.get_running_loop().create_future()
        self._loading[wrapped] = future
        try:
            self.unwraps += 1
            answer = await self.vault.request("POST", f"{self.mount}/decrypt/{self.key}", {"ciphertext": wrapped})
            cipher = AESGCM(base64.b64decode(answer["data"]["plaintext"]))
            self._remember(wrapped, cipher)
            future.set_result(cipher)
            return cipher
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters (if any) re-raise it
            raise
        finally:
            del self._loading[wrapped]

    def _remember(self, wrapped: str, cipher: AESGCM) -> None:
        if len(self._keys) >= MAX_CACHED_KEYS:
            self._keys.clear()  # crude but bounded: the next reads unwrap again
        self._keys[wrapped] = cipher

    async def _new_key(self) -> Sealer:
        answer = await self.vault.request("POST", f"{self.mount}/datakey/wrapped/{self.key}", {"bits": 256})
        wrapped = str(answer["data"]["ciphertext"])
        # `wrapped` datakeys come back without the plain key (the policy grants no
        # `plaintext` datakey): one decrypt call gets it into memory.
        return Sealer(wrapped, await self._unwrap(wrapped))

    # -- the cipher interface ----------------------------------------------------------
    async def open(self, token: str, aad: str, hint: str = "") -> str:
        """Decrypt `token`. `hint`: another ciphertext that may share its data key under an
        older wrapping (a record rewrapped meanwhile): tried before asking Vault."""
        wrapped, nonce, body = split(token)
        cipher = self._keys.get(wrapped)
        if cipher is None and hint:
            cipher = self._adopt(wrapped, nonce, body, aad, hint)
        if cipher is None:
            try:
                cipher = await self._unwrap(wrapped)
            except VaultDenied as exc:
                raise DecryptError(f"Transit refused the data key: {exc}") from None
        try:
            return cipher.decrypt(nonce, body, aad.encode("utf-8")).decode("utf-8")
        except InvalidTag:
            raise DecryptError("ciphertext does not verify") from None

    def _adopt(self, wrapped: str, nonce: bytes, body: bytes, aad: str, hint: str) -> AESGCM | None:
        try:
            hinted = self._keys.get(split(hint)[0])
        except DecryptError:
            return None
        if hinted is None:
            return None
        try:
            hinted.decrypt(nonce, body, aad.encode("utf-8"))  # the tag proves it is the same key
        except InvalidTag:
            return None
        self._remember(wrapped, hinted)
        return hinted

    async def sealer(self, like: Sequence[str] = ()) -> Sealer:
        """A sealer for a record: the data key of the first of `like` whose key is (or can be)
        loaded, else a new data key from Transit."""
        for token in like:
            try:
                wrapped = split(token)[0]
            except DecryptError:
                continue
            cached = self._keys.get(wrapped)
            if cached is not None:
                return Sealer(wrapped, cached)
        for token in like:
            try:
                wrapped = split(token)[0]
            except DecryptError:
                continue
            return Sealer(wrapped, await self._unwrap(wrapped))
        return await self._new_key()

    async def session_sealer(self) -> Sealer:
        """The process's data key for short-lived values (sign-in verifiers)."""
        now = time.monotonic()
        if self._session is None or now - self._session_at > SESSION_KEY_TTL:
            self._session = await self._new_key()
            self._session_at = now
        return self._session

    async def rewrap(self, wrapped: Sequence[str]) -> list[str]:
        """The same data keys wrapped under the Transit key's newest version."""
        answer = await self.vault.request("POST", f"{self.mount}/rewrap/{self.key}",
                                          {"batch_input": [{"ciphertext": w} for w in wrapped]})  # fmt: skip
        results = answer["data"]["batch_results"]
        out = []
        for item in results:
            if item.get("error"):
                raise VaultDenied(f"Transit rewrap failed: {item['error']}")
            out.append(str(item["ciphertext"]))
        return out
