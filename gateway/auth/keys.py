"""The embedded identity's RSA signing key, kept as a PEM file (mode 0600) in the data dir.

The first start creates it (exclusively, so two processes starting together end up with one key); later
starts load it. ``rotate`` keeps the previous key next to it so tokens it signed stay valid until they
expire: the local JWKS holds both.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from gateway.auth.jwks import StaticJwks, thumbprint

log = logging.getLogger("wecare.auth.keys")

KEY_FILE = "jwt-signing-key.pem"
PREVIOUS_KEY_FILE = "jwt-signing-key.previous.pem"


class KeyFileError(Exception):
    """The signing key file cannot be read, written or parsed; the message says which file and why."""


@dataclass(frozen=True)
class SigningKey:
    private_key: RSAPrivateKey
    kid: str

    @property
    def public_key(self) -> RSAPublicKey:
        return self.private_key.public_key()


def generate_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` with mode 0600 unless it exists; True when we created it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        raise KeyFileError(
            f"cannot create the signing key {path}: {exc.strerror}; check the data dir"
        ) from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _load(path: Path) -> SigningKey:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning(
                "signing key was readable by others; restricting it to 0600", extra={"path": str(path)}
            )
            path.chmod(0o600)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise KeyFileError(f"cannot read the signing key {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise KeyFileError(
            f"the signing key {path} is not a PEM RSA private key; move it away to create a new one "
            "(every signed-in user will have to sign in again)"
        ) from exc
    if not isinstance(key, RSAPrivateKey):
        raise KeyFileError(f"the signing key {path} is not an RSA key")
    return SigningKey(key, thumbprint(key.public_key()))


def load_or_create(data_dir: Path) -> SigningKey:
    """The current signing key of this data dir, created on first use."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create the data dir {data_dir}: {exc.strerror}") from exc
    path = data_dir / KEY_FILE
    if not path.exists() and _write_exclusive(path, _pem(generate_key())):
        log.info("created a new token signing key", extra={"path": str(path)})
    return _load(path)


def previous(data_dir: Path) -> SigningKey | None:
    path = data_dir / PREVIOUS_KEY_FILE
    return _load(path) if path.exists() else None


def rotate(data_dir: Path) -> SigningKey:
    """Make a new current key; the old one becomes the previous key (still accepted until tokens expire)."""
    current = data_dir / KEY_FILE
    if current.exists():
        os.replace(current, data_dir / PREVIOUS_KEY_FILE)
    return load_or_create(data_dir)


def local_jwks(data_dir: Path) -> tuple[SigningKey, StaticJwks]:
    """The signing key and the key set that verifies what it (and the previous key) signed."""
    current = load_or_create(data_dir)
    keys = {current.kid: current.public_key}
    old = previous(data_dir)
    if old is not None:
        keys[old.kid] = old.public_key
    return current, StaticJwks(keys)
