"""Atomic writes: a crash or a full disk never leaves half a file behind.

A write goes to a temp file beside the target (`.<name>.<random>.tmp`), is fsynced, renamed
into place, and the folder is fsynced so the rename itself survives a power cut. A process
killed mid-write leaves its temp file; `clean_stale_temps` removes such leftovers (only that
pattern, only when old enough that no live writer can own them) when a run starts.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from pathlib import Path

STALE_TEMP_S = 600.0  # a write takes seconds at most: older temp files have no writer left
_TEMP_RE = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")  # mkstemp(prefix=".<name>.", suffix=".tmp")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: os.umask is process-wide, so never toggle it while threads run


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to a temp file beside `path`, fsync it, then `os.replace` it into place
    and fsync the folder.

    The file gets the usual permissions (0666 less the umask), not the temp file's 0600:
    patches, snapshots and snapped photos are meant to be shared.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the file asked for, not the temp name
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # disk full, a folder in the way...: name the file asked for
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # a folder that cannot be opened cannot be synced; the file itself is
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder: the rename is all they offer
    finally:
        os.close(fd)


def clean_stale_temps(
    folder: str | Path, older_than_s: float = STALE_TEMP_S, subfolders: bool = False
) -> list[Path]:
    """Remove the temp files a killed `write_atomic` left in `folder`; returns them.

    Only regular files named like ours and untouched for `older_than_s` go: a temp file of
    a write under way in another process is young, and nothing else matches the pattern.
    `subfolders`: also one level down (the feature cache keeps its entries in `<2 hex>/`).
    """
    removed: list[Path] = []
    cutoff = time.time() - older_than_s
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if subfolders and entry.is_dir(follow_symlinks=False):
            removed += clean_stale_temps(entry.path, older_than_s)
            continue
        if not (entry.name.startswith(".") and _TEMP_RE.fullmatch(entry.name)):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone meanwhile, or not ours to remove
    return removed
