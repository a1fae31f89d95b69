"""Ed25519 keys and entry signatures for catalogues, through the `cryptography` package.

A publisher signs, per entry, a short canonical message binding the patch's name and version
to the sha256 and size of its file (and of its icon), so a catalogue host cannot swap files
or relabel versions without the signature failing. Keys are standard PEM files (PKCS#8
private key, SubjectPublicKeyInfo public key), so `openssl` can check a signature too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.catalogue import CatalogueError, Entry, Signature

MESSAGE_PREFIX = b"neuralpatch-catalogue-entry-v1\n"
MAX_KEY_BYTES = 16 << 10


def generate_key(path: str | Path) -> tuple[Path, Path]:
    """Write a new private key to `path` (mode 0600) and its public key to `path.pub`.

    Existing files are never overwritten: a lost private key cannot be re-made.
    """
    private_path = Path(path)
    public_path = private_path.with_name(private_path.name + ".pub")
    for p in (private_path, public_path):
        if p.exists():
            raise CatalogueError(f"{p}: already exists; choose another name")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_atomic(public_path, public_pem)
    return private_path, public_path


def _read_key_file(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read the key: {exc.strerror}") from exc
    if len(data) > MAX_KEY_BYTES:
        raise CatalogueError(f"{path}: too large to be a key file")
    return data


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(_read_key_file(path), password=None)
    except (ValueError, TypeError) as exc:
        raise CatalogueError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CatalogueError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    path = Path(path)
    try:
        key = serialization.load_pem_public_key(_read_key_file(path))
    except (ValueError, TypeError) as exc:
        raise CatalogueError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CatalogueError(f"{path}: not an Ed25519 public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the sha256 of the raw 32-byte public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signed_message(entry: Entry) -> bytes:
    """What is signed: a fixed prefix, then the entry's identity as canonical JSON."""
    fields = {
        "name": entry.name,
        "version": entry.version,
        "sha256": entry.sha256,
        "size": entry.size,
        "base_fingerprint": entry.base_fingerprint,
        "icon_sha256": entry.icon_sha256,
    }
    return MESSAGE_PREFIX + json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


def sign_entry(entry: Entry, key: Ed25519PrivateKey) -> Signature:
    value = key.sign(signed_message(entry))
    return Signature(key_id(key.public_key()), base64.b64encode(value).decode("ascii"))


def verify_entry(entry: Entry, trusted: Ed25519PublicKey) -> None:
    """Raise CatalogueError unless `entry` carries a valid signature by `trusted`."""
    if entry.signature is None:
        raise CatalogueError(f"{entry.spec} is not signed, and a trusted key was given; refused")
    expected = key_id(trusted)
    if entry.signature.key_id != expected:
        raise CatalogueError(
            f"{entry.spec} is signed by key {entry.signature.key_id}, not by the trusted key "
            f"{expected}; refused"
        )
    try:
        value = base64.b64decode(entry.signature.value, validate=True)
        trusted.verify(value, signed_message(entry))
    except (InvalidSignature, binascii.Error, ValueError):
        raise CatalogueError(
            f"{entry.spec}: the signature does not match (the entry or the key was changed); "
            "refused"
        ) from None
