"""Read a legacy (non-zip) PyTorch `.pth` state dict without torch and without running code.

The legacy format is five pickles in a row (magic number, protocol version, system info, the
state dict with storages as persistent ids, the storage keys) followed by each storage's raw
bytes. The unpickler below resolves only the few globals such a file needs; anything else
is refused, so a hostile file cannot execute code.
"""

from __future__ import annotations

import collections
import pickle
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from neuralpatch.engine.errors import BaseNetworkError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
}


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _TensorRef:
    """A tensor described by the pickle: which storage, offset, shape and strides."""

    def __init__(self, storage: tuple, offset: int, shape: tuple, strides: tuple):
        self.storage, self.offset, self.shape, self.strides = storage, offset, shape, strides


def _rebuild_tensor_v2(storage, offset, shape, strides, *_ignored) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(shape), tuple(strides))


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")

    def persistent_load(self, pid: Any) -> tuple:
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError("unexpected persistent id")
        return (pid[1], str(pid[2]), int(pid[4]))


def _load(f: BinaryIO) -> Any:
    return _RestrictedUnpickler(f).load()


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Return the tensors of a legacy `.pth` state dict as float32/int numpy arrays."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if _load(f) != _LEGACY_MAGIC:
                raise BaseNetworkError("not a legacy PyTorch file (bad magic number)", path)
            _load(f)  # protocol version
            _load(f)  # system info (endianness, type sizes)
            refs = _load(f)
            keys = _load(f)
            storages: dict[str, np.ndarray] = {}
            wanted = {r.storage[1]: r.storage for r in refs.values()}
            for key in keys:
                (count,) = struct.unpack("<q", f.read(8))
                storage_type, _, numel = wanted[key]
                nbytes = count * storage_type.dtype.itemsize
                raw = f.read(nbytes)
                if len(raw) != nbytes or count != numel:
                    raise BaseNetworkError(f"storage {key} is truncated", path)
                storages[key] = np.frombuffer(raw, dtype=storage_type.dtype)
    except (
        OSError,
        pickle.UnpicklingError,
        EOFError,
        KeyError,
        struct.error,
        AttributeError,
        TypeError,
        ValueError,
    ) as exc:
        if isinstance(exc, BaseNetworkError):
            raise
        raise BaseNetworkError(f"cannot read weights: {exc}", path) from exc

    tensors: dict[str, np.ndarray] = {}
    for name, ref in refs.items():
        if not isinstance(ref, _TensorRef):
            raise BaseNetworkError(f"entry {name} is not a tensor", path)
        data = storages[ref.storage[1]]
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.strides, strict=True))
        if ref.offset < 0 or min(ref.strides, default=0) < 0 or last >= len(data):
            raise BaseNetworkError(f"tensor {name} points outside its storage", path)
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[ref.offset :], shape=ref.shape, strides=[s * item for s in ref.strides]
        )
        tensors[name] = np.ascontiguousarray(view)
    return tensors
