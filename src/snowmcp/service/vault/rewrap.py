"""`snowmcp-service vault rewrap`: every stored record's wrapped data keys to the Transit
key's newest version, after `transit/keys/<key>/rotate` and before `min_decryption_version`
is raised.

Only the wrapped data key inside each ciphertext changes (transit/rewrap: Vault never
returns the data key for this); the data key, nonce and sealed token stay as they are, so
the service's cached keys and tokens remain valid. Safe under load: each record is written
with compare-and-set, and a refresh that wrote meanwhile is rewrapped again. Idempotent: a
record already on the newest version is not written.
"""

from __future__ import annotations

from dataclasses import replace

from snowmcp.service.crypto import DecryptError
from snowmcp.service.store import Store, UserRecord
from snowmcp.service.vault.transit import TransitCipher, join, key_version, split


def _rewrapped(token: str, mapping: dict[str, str]) -> str:
    if not token:
        return token
    wrapped, nonce, body = split(token)
    return join(mapping.get(wrapped, wrapped), nonce, body)


async def rewrap_store(store: Store, cipher: TransitCipher) -> dict[str, int]:
    counts = {"records": 0, "rewrapped": 0, "retried": 0, "skipped": 0}
    for listed in await store.list_users():
        counts["records"] += 1
        rec: UserRecord | None = listed
        while rec is not None:
            try:
                wrapped = sorted({split(t)[0] for t in (rec.refresh_token, rec.access_token) if t})
            except DecryptError:
                counts["skipped"] += 1  # not sealed through Transit (a record from file-key mode)
                break
            if not wrapped:
                break
            mapping = dict(zip(wrapped, await cipher.rewrap(wrapped), strict=True))
            if all(key_version(new) <= key_version(old) for old, new in mapping.items()):
                break  # already on the newest key version: nothing to write
            new_rec = replace(rec, version=rec.version + 1,
                              refresh_token=_rewrapped(rec.refresh_token, mapping),
                              access_token=_rewrapped(rec.access_token, mapping))  # fmt: skip
            if await store.save(new_rec, rec.version):
                counts["rewrapped"] += 1
                break
            counts["retried"] += 1  # a refresh or sign-in wrote meanwhile: rewrap its result
            rec = await store.get(rec.username)
    return counts
