"""A read container's header fields, type-checked one by one, and its blobs as arrays.

`Container` is what `container.read_container` returns once the layout (prefix, strict JSON
header, payload hash, blob extents) is valid; the patch and snapshot readers then pull each
field through `get`/`string`/`integer`/`array`, which refuse anything but the stated type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuralpatch.engine.errors import PatchFormatError

DTYPE = "<f4"


@dataclass
class Container:
    """A read container whose prefix, header JSON, payload hash and blob extents are valid."""

    path: Path
    header: dict[str, Any]
    payload: bytes | bytearray | memoryview  # a view into the file's bytes: never copied

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
        """The bytes of a blob (a copy: blobs read as bytes are small), or None when null."""
        view = self._view(name)
        return None if view is None else bytes(view)

    def _view(self, name: str) -> memoryview | None:
        entry = self.header[name]
        if entry is None:
            return None
        return memoryview(self.payload)[entry["offset"] : entry["offset"] + entry["nbytes"]]

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
        values = np.frombuffer(self._view(name) or b"", dtype=DTYPE).reshape(shape)
        if not np.isfinite(values).all():
            raise self.error(f"{name} contains NaN or infinity")
        if values.flags.writeable and values.dtype == np.float32:
            return values  # a view into the file's own (writable) buffer: no copy at all
        return values.astype(np.float32)  # a writable native-endian copy
