"""Typed errors: each names the file (and line, when there is one) it is about.

The CLI prints `str(error)` and exits non-zero; the TUI shows it in a notification.
"""

from __future__ import annotations

from pathlib import Path


class NeuralpatchError(Exception):
    """Base of every error the user should see as one clear message, never a traceback."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        if self.path is None:
            return self.message
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.message}"


class BaseNetworkError(NeuralpatchError):
    """Missing or corrupt weights, a bad topology line, a `.data` of the wrong size."""


class KernelBuildError(NeuralpatchError):
    """An OpenCL program failed to build; the message carries the build log."""


class DeviceError(NeuralpatchError):
    """No usable OpenCL platform or device."""


class ImageError(NeuralpatchError):
    """An image file that cannot be read or decoded."""


class DatasetError(NeuralpatchError):
    """A dataset folder or its `map_clsloc.txt` breaks the format rules."""


class PatchFormatError(NeuralpatchError):
    """A `.specialneurons` or snapshot file that is truncated, hostile or inconsistent."""


class SettingError(NeuralpatchError):
    """A hyper-parameter or option outside its valid range."""


class MissingPackageError(NeuralpatchError, ImportError):
    """An optional package a feature needs is not installed (also an ImportError, so code
    that treats optional engines as absent keeps working)."""
