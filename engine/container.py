"""The data-only container behind `.specialneurons` patches and `.npsnapshot` snapshots.

    magic (8 bytes) | header length (uint32 LE) | UTF-8 JSON header | payload

The payload holds raw little-endian float32 arrays and PNG bytes ("blobs"), each described in
the header by `offset`/`nbytes` relative to the payload start. Nothing is ever unpickled or
executed: a hostile file can only fail validation. The byte layout is in docs/patch-format.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuralpatch.engine.errors import PatchFormatError

PATCH_MAGIC = b"NPATCH\x00\x01"
SNAPSHOT_MAGIC = b"NPSNAP\x00\x01"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 1 << 20
ALIGN = 16  # header and blobs are padded so every array starts 16-byte aligned in the file
DTYPE = "<f4"
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


@dataclass
class Container:
    """A read container whose prefix, header JSON, payload hash and blob extents are valid."""

    path: Path
    header: dict[str, Any]
    payload: bytes

    def error(self, message: str) -> PatchFormatError:
        return PatchFormatError(message, self.path)

    def get(
        self,
        key: str,
        kinds: type | tuple[type, ...],
        *,
        obj: Mapping[str, Any] | None = None,
        what: str | None = None,
    ) -> Any:
        """A required field of `obj` (default: the header), type-checked."""
        obj = self.header if obj is None else obj
        if key not in obj:
            raise self.error(f"missing field {what or key!r}")
        return self.check(obj[key], kinds, what or key)

    def check(self, value: Any, kinds: type | tuple[type, ...], what: str) -> Any:
        """`value` if it is one of `kinds`; a bool is never an int here, a float is finite."""
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise self.error(f"field {what!r} must be {names}, not {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(f"field {what!r} is not finite")
        return value

    def string(
        self,
        key: str,
        max_len: int,
        *,
        empty: bool = False,
        obj: Mapping[str, Any] | None = None,
        what: str | None = None,
    ) -> str:
        value = self.get(key, str, obj=obj, what=what)
        if not value and not empty:
            raise self.error(f"field {what or key!r} is empty")
        if len(value) > max_len:
            raise self.error(f"field {what or key!r} is longer than {max_len} characters")
        return value

    def integer(
        self,
        key: str,
        low: int,
        high: int,
        *,
        obj: Mapping[str, Any] | None = None,
        what: str | None = None,
    ) -> int:
        value = self.get(key, int, obj=obj, what=what)
        if not low <= value <= high:
            raise self.error(f"field {what or key!r} = {value} is outside [{low}, {high}]")
        return value

    def blob(self, name: str) -> bytes | None:
        """The bytes of a blob, or None when its header entry is null."""
        entry = self.header[name]
        if entry is None:
            return None
        return self.payload[entry["offset"] : entry["offset"] + entry["nbytes"]]

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A finite float32 array blob that must have exactly `shape`."""
        entry = self.header[name]
        if entry is None:
            raise self.error(f"field {name!r} must not be null")
        got = [
            self.check(n, int, f"{name}.shape")
            for n in self.get("shape", list, obj=entry, what=f"{name}.shape")
        ]
        if got != list(shape):
            raise self.error(f"{name} has shape {got}, expected {list(shape)}")
        if self.get("dtype", str, obj=entry, what=f"{name}.dtype") != DTYPE:
            raise self.error(f"{name}.dtype must be {DTYPE!r} (little-endian float32)")
        if entry["nbytes"] != math.prod(shape) * 4:
            raise self.error(
                f"{name} has {entry['nbytes']} bytes, shape {list(shape)} needs "
                f"{math.prod(shape) * 4}"
            )
        values = np.frombuffer(self.blob(name) or b"", dtype=DTYPE).reshape(shape)
        if not np.isfinite(values).all():
            raise self.error(f"{name} contains NaN or infinity")
        return values.astype(np.float32)  # a writable native-endian copy


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
    data: bytes,
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
    header = _parse_header(data[_PREFIX.size : start], path)
    c = Container(path, header, data[start:])
    version = c.get("format_version", int)
    if version != FORMAT_VERSION:
        raise c.error(f"unknown format_version {version} (this version reads {FORMAT_VERSION})")
    if c.get("kind", str) != kind:
        raise c.error(f"kind is {header['kind']!r}, expected {kind!r}")
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


def _read_capped(path: Path, max_file_bytes: int) -> bytes:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or flood
            raise PatchFormatError("not a regular file", path)
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > max_file_bytes:
                raise PatchFormatError(f"file is over the {max_file_bytes} byte limit", path)
            data = f.read(max_file_bytes + 1)
    except OSError as exc:
        raise PatchFormatError(f"cannot read: {exc.strerror or exc}", path) from exc
    if len(data) > max_file_bytes:  # grew while we read it
        raise PatchFormatError(f"file is over the {max_file_bytes} byte limit", path)
    return data


def _describe_magic(found: bytes, expected: bytes) -> str:
    if found[:7] == expected[:7]:
        return f"unsupported container version {found[7]} (this version reads {expected[7]})"
    if found[:6] in _KINDS:
        return f"wrong kind of file: this is {_KINDS[found[:6]]} file"
    if found[:1] == b"\x80" or found[:2] == b"PK":
        return "wrong magic: looks like a Python pickle or torch file; refused (data only)"
    return f"wrong magic {found!r}: not a neuralpatch file"


def _parse_header(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PatchFormatError(f"header is not UTF-8 (byte {exc.start})", path) from exc
    try:
        header = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique,
        )
    except (ValueError, RecursionError) as exc:
        raise PatchFormatError(f"header is not valid JSON: {exc}", path) from exc
    if not isinstance(header, dict):
        raise PatchFormatError(f"header is a JSON {type(header).__name__}, not an object", path)
    return header


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    """JSON numbers such as 1e999 would read as infinity: refused like `Infinity` is."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not finite")
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate keys would let two readers see different values; refuse them."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


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
