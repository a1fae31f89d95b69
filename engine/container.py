"""The data-only container behind `.specialneurons` patches and `.npsnapshot` snapshots.

    magic (8 bytes) | header length (uint32 LE) | UTF-8 JSON header | payload

The payload holds raw little-endian float32 arrays and PNG bytes ("blobs"), each described in
the header by `offset`/`nbytes` relative to the payload start. Nothing is ever unpickled or
executed: a hostile file can only fail validation. The byte layout is in docs/patch-format.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from neuralpatch.engine.container_fields import DTYPE, Container
from neuralpatch.engine.errors import PatchFormatError
from neuralpatch.engine.header_json import parse_header

PATCH_MAGIC = b"NPATCH\x00\x01"
SNAPSHOT_MAGIC = b"NPSNAP\x00\x01"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 1 << 20
ALIGN = 16  # header and blobs are padded so every array starts 16-byte aligned in the file
_PREFIX = struct.Struct("<8sI")
_KINDS = {PATCH_MAGIC[:6]: "a neuralpatch patch", SNAPSHOT_MAGIC[:6]: "a neuralpatch snapshot"}


def pack(
    magic: bytes,
    kind: str,
    header: Mapping[str, Any],
    blobs: Mapping[str, np.ndarray | bytes | None],
) -> bytes:
    """Lay out a container; arrays become `{shape, dtype, offset, nbytes}` header entries.

    Raises ValueError when the header is not strict JSON (NaN, infinity) or is too large.
    """
    full: dict[str, Any] = {"format_version": FORMAT_VERSION, "kind": kind, **header}
    payload = bytearray()
    for name, blob in blobs.items():
        if blob is None:
            full[name] = None
            continue
        payload += bytes(-len(payload) % ALIGN)
        entry: dict[str, Any] = {}
        if isinstance(blob, np.ndarray):
            entry = {"shape": list(blob.shape), "dtype": DTYPE}
            blob = np.ascontiguousarray(blob, dtype=DTYPE).tobytes()
        full[name] = {**entry, "offset": len(payload), "nbytes": len(blob)}
        payload += blob
    full["payload_nbytes"] = len(payload)
    full["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    text = json.dumps(full, allow_nan=False, ensure_ascii=False, indent=1).encode("utf-8")
    text += b" " * (-(_PREFIX.size + len(text)) % ALIGN)
    if len(text) > MAX_HEADER_BYTES:
        raise ValueError(f"header is {len(text)} bytes, over the {MAX_HEADER_BYTES} limit")
    return _PREFIX.pack(magic, len(text)) + text + bytes(payload)


def pack_verified(
    magic: bytes,
    kind: str,
    header: Mapping[str, Any],
    blobs: Mapping[str, np.ndarray | bytes | None],
    path: str | Path,
    *,
    blob_names: Iterable[str],
    max_file_bytes: int,
    read_fields: Callable[[Container], object],
) -> bytes:
    """`pack`, then parse the result exactly as a reader would (`read_fields` included).

    Writers call this, so no file is ever written that loading would refuse; anything
    wrong is a PatchFormatError naming `path`.
    """
    try:
        data = pack(magic, kind, header, blobs)
    except (ValueError, TypeError) as exc:
        raise PatchFormatError(f"cannot write {kind}: {exc}", path) from exc
    read_fields(
        parse_container(
            data,
            path,
            magic=magic,
            kind=kind,
            blob_names=blob_names,
            max_file_bytes=max_file_bytes,
        )
    )
    return data


def read_header(
    path: str | Path, *, magic: bytes, kind: str, max_file_bytes: int
) -> dict[str, Any]:
    """Only the JSON header of a container file: no payload is read or checked.

    For looking up a field (a snapshot's dataset folder) without reading hundreds of
    megabytes; the header gets the same checks as in a full read, the payload none.
    """
    path = Path(path)
    data = _read_capped(path, max_file_bytes, limit=_PREFIX.size + MAX_HEADER_BYTES)
    header, _ = _split(data, path, magic)
    c = Container(path, header, b"")
    _check_kind(c, kind)
    return header


def read_container(
    path: str | Path, *, magic: bytes, kind: str, blob_names: Iterable[str], max_file_bytes: int
) -> Container:
    """Read a file (refusing one over `max_file_bytes` before reading it) and parse it."""
    path = Path(path)
    return parse_container(
        _read_capped(path, max_file_bytes),
        path,
        magic=magic,
        kind=kind,
        blob_names=blob_names,
        max_file_bytes=max_file_bytes,
    )


def parse_container(
    data: bytes | bytearray,
    path: str | Path,
    *,
    magic: bytes,
    kind: str,
    blob_names: Iterable[str],
    max_file_bytes: int,
) -> Container:
    """Check everything the layout promises; the caller then checks its own fields.

    Writers parse what they are about to write too, so no file is written that would be
    refused on load. `path` is only used to name the file in errors.
    """
    path = Path(path)
    if len(data) > max_file_bytes:
        raise PatchFormatError(f"file is over the {max_file_bytes} byte limit", path)
    header, start = _split(data, path, magic)
    c = Container(path, header, memoryview(data)[start:])
    _check_kind(c, kind)
    announced = c.integer("payload_nbytes", 0, max_file_bytes)
    if announced != len(c.payload):
        raise c.error(
            f"truncated or padded: payload is {len(c.payload)} bytes, header announces {announced}"
        )
    digest = c.get("payload_sha256", str)
    if hashlib.sha256(c.payload).hexdigest() != digest.lower():
        raise c.error("payload sha256 mismatch: the file is corrupt or was modified")
    _check_extents(c, blob_names)
    return c


def _split(data: bytes | bytearray, path: Path, magic: bytes) -> tuple[dict[str, Any], int]:
    """The checked prefix and parsed header, and where the payload starts."""
    if len(data) < _PREFIX.size:
        raise PatchFormatError(
            f"truncated: {len(data)} bytes is shorter than the {_PREFIX.size}-byte prefix", path
        )
    found, header_len = _PREFIX.unpack_from(data)
    if found != magic:
        raise PatchFormatError(_describe_magic(found, magic), path)
    if header_len > MAX_HEADER_BYTES:
        raise PatchFormatError(
            f"header length {header_len} is over the {MAX_HEADER_BYTES} byte limit", path
        )
    start = _PREFIX.size + header_len
    if start > len(data):
        raise PatchFormatError(
            f"truncated header: {header_len} bytes announced, {len(data) - _PREFIX.size} present",
            path,
        )
    return parse_header(bytes(data[_PREFIX.size : start]), path), start


def _check_kind(c: Container, kind: str) -> None:
    version = c.get("format_version", int)
    if version != FORMAT_VERSION:
        raise c.error(f"unknown format_version {version} (this version reads {FORMAT_VERSION})")
    if c.get("kind", str) != kind:
        raise c.error(f"kind is {c.header['kind']!r}, expected {kind!r}")


def _read_capped(path: Path, max_file_bytes: int, limit: int | None = None) -> bytearray:
    """The file's bytes (the first `limit` of them, if given) in one writable buffer.

    Read with `readinto` into a buffer of the file's size, so a 500 MB snapshot is held
    once: the arrays of a loaded file are views into this buffer.
    """
    try:
        # O_NONBLOCK: a FIFO with no writer must not block the open; it is refused below.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or flood
                raise PatchFormatError("not a regular file", path)
            if info.st_size > max_file_bytes:
                raise PatchFormatError(f"file is over the {max_file_bytes} byte limit", path)
            want = info.st_size if limit is None else min(info.st_size, limit)
            data = bytearray(want + 1)  # one byte more: tells a file that grew meanwhile
            view, got = memoryview(data), 0
            while got < len(data) and (n := f.readinto(view[got:])):
                got += n
            del view
    except OSError as exc:
        raise PatchFormatError(f"cannot read: {exc.strerror or exc}", path) from exc
    if limit is None and got > want:
        raise PatchFormatError("the file grew while it was read (still being written?)", path)
    del data[min(got, want) :]
    return data


def _describe_magic(found: bytes, expected: bytes) -> str:
    if found[:7] == expected[:7]:
        return f"unsupported container version {found[7]} (this version reads {expected[7]})"
    if found[:6] in _KINDS:
        return f"wrong kind of file: this is {_KINDS[found[:6]]} file"
    if found[:1] == b"\x80" or found[:2] == b"PK":
        return "wrong magic: looks like a Python pickle or torch file; refused (data only)"
    return f"wrong magic {found!r}: not a neuralpatch file"


def _check_extents(c: Container, names: Iterable[str]) -> None:
    spans = []
    for name in names:
        entry = c.get(name, (dict, type(None)))
        if entry is None:
            continue
        offset = c.get("offset", int, obj=entry, what=f"{name}.offset")
        nbytes = c.get("nbytes", int, obj=entry, what=f"{name}.nbytes")
        if offset < 0 or nbytes < 0:
            raise c.error(f"{name} has a negative offset or length ({offset}, {nbytes})")
        if offset + nbytes > len(c.payload):
            raise c.error(
                f"{name} spans bytes {offset}..{offset + nbytes} of the payload, "
                f"beyond its end at {len(c.payload)}"
            )
        if nbytes:
            spans.append((offset, offset + nbytes, name))
    spans.sort()
    for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise c.error(f"{first} and {second} overlap in the payload")
