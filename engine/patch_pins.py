"""Local pins: which file of a patch name runs, as the user chose it for one patch folder.

Of several files with one patch name the newest runs (`patch_rules.supersede_by_name`), and
"newest" is a `created` time written by whoever made the file. A pin is the user's own word,
kept beside the patches in `.neuralpatch-pins.json` (hidden, so no loader takes it for a
patch), written atomically: `{"pins": {"<patch name>": "<file name in the folder>"}}`. A pin
wins over every date; a pin whose file is gone or now holds another patch name pins nothing,
and `neuralpatch patches` says so.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.errors import NeuralpatchError, PatchFormatError, SettingError
from neuralpatch.engine.header_json import parse_header
from neuralpatch.engine.patch_events import is_patch_file
from neuralpatch.engine.patch_file import MAX_NAME_LEN, load_patch
from neuralpatch.engine.safe_text import json_text

PINS_NAME = ".neuralpatch-pins.json"
MAX_PINS_BYTES = 1 << 20


def is_pins_file(path: str | Path) -> bool:
    return Path(path).name == PINS_NAME


@dataclass(frozen=True)
class Pins:
    """The pins of one folder; `problem` says why the file could not be used (then no pins)."""

    folder: Path
    by_name: dict[str, str] = field(default_factory=dict)  # patch name -> file name
    problem: str | None = None

    def paths(self) -> dict[Path, str]:
        """Pinned file path -> the patch name it is pinned for."""
        return {self.folder / file: name for name, file in self.by_name.items()}


def read_pins(folder: str | Path) -> Pins:
    """The folder's pins: none when there is no pins file, and none (with the reason) when
    it is not one this module wrote; a bad pins file never stops the patches loading."""
    folder = Path(folder)
    path = folder / PINS_NAME
    try:
        # O_NONBLOCK and fstat: a FIFO or device put in its place is refused, never waited on.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return Pins(folder, problem=f"{path}: not a regular file; pins ignored")
            raw = f.read(MAX_PINS_BYTES + 1)  # parse_pins refuses anything longer
    except FileNotFoundError:
        return Pins(folder)
    except OSError as exc:
        return Pins(folder, problem=f"{path}: cannot read: {exc.strerror}; pins ignored")
    try:
        return Pins(folder, parse_pins(raw, path))
    except PatchFormatError as exc:
        return Pins(folder, problem=f"{path}: {exc.message}; pins ignored")


def parse_pins(raw: bytes, path: Path) -> dict[str, str]:
    """Patch name -> file name from a pins file's bytes; PatchFormatError when it is not one."""
    if len(raw) > MAX_PINS_BYTES:
        raise PatchFormatError(f"over {MAX_PINS_BYTES} bytes", path)
    header = parse_header(raw, path)  # strict JSON: the same reader as the plugin headers
    pins = header.get("pins")
    if not isinstance(pins, dict):
        raise PatchFormatError("it has no 'pins' object", path)
    for name, file in pins.items():
        if not isinstance(file, str) or not 0 < len(name) <= MAX_NAME_LEN:
            raise PatchFormatError(f"pin {name[:80]!r} is not a patch name → file name", path)
        if Path(file).name != file or not is_patch_file(file):
            raise PatchFormatError(f"pin {name[:80]!r} names {file[:80]!r}, not a patch file", path)
    return dict(pins)


def _write(folder: Path, by_name: dict[str, str]) -> Path:
    text = json_text({"pins": dict(sorted(by_name.items()))}, indent=2) + "\n"
    return write_atomic(folder / PINS_NAME, text.encode())


def _current(folder: Path) -> dict[str, str]:
    """The pins to change: refusing a broken pins file rather than overwriting it."""
    pins = read_pins(folder)
    if pins.problem is not None:
        raise SettingError(f"{pins.problem}: fix or delete it first")
    return pins.by_name


def pin(path: str | Path) -> tuple[str, Path]:
    """Pin this patch file: it runs whatever the dates of other files with its name.

    Returns (patch name, pins file). The file must be a valid patch directly in its folder.
    """
    path = Path(os.path.abspath(Path(path).expanduser()))
    if not is_patch_file(path):
        raise SettingError("only a visible .specialneurons file can be pinned", path)
    name = load_patch(path).name  # refuses, with the reason, a file that cannot run
    by_name = _current(path.parent)
    by_name[name] = path.name
    return name, _write(path.parent, by_name)


def unpin(folder: str | Path, what: str) -> list[str]:
    """Drop the pins of a patch name, or of a file name (a path in `folder` works too).

    Returns the patch names unpinned; raises when nothing pinned matches.
    """
    folder = Path(os.path.abspath(Path(folder).expanduser()))
    if not folder.is_dir():
        raise NeuralpatchError("the patch folder does not exist or is not a folder", folder)
    by_name = _current(folder)
    file = Path(what).name
    gone = [name for name, pinned in by_name.items() if what == name or file == pinned]
    if not gone:
        raise SettingError(f"nothing in this folder is pinned as {what!r}", folder / PINS_NAME)
    for name in gone:
        del by_name[name]
    _write(folder, by_name)
    return gone
