"""RSA key pairs for key-pair (SNOWFLAKE_JWT) sign-in, generated at test or demo time.

No private key is ever committed: each run makes its own, written 0600.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def generate(path: Path, passphrase: str | None = None) -> str:
    """Write a new 2048-bit RSA private key (PKCS#8 PEM, encrypted if a passphrase is
    given) to `path` with mode 0600; return the public key as RSA_PUBLIC_KEY takes it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return public_body(key.public_key())


def public_body(key: rsa.RSAPublicKey) -> str:
    """Base64 of the public key's DER: the value of ALTER USER ... SET RSA_PUBLIC_KEY."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()
