"""Printing that never costs the user their work: a closed or broken stdout/stderr (a `tee`
killed by the same Ctrl-C, a dropped SSH session) silences the output, nothing more."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from neuralpatch.engine.safe_text import printable


def say(text: str = "", stream: TextIO | None = None) -> bool:
    """Print `text` (and a newline), file-supplied text made safe; False when the stream is gone.

    A stream found broken is pointed at /dev/null, so Python's own flush at exit does not
    fail on it again (and turn a clean exit into status 120).
    """
    stream = stream or sys.stdout
    # Names from files (patches, maps, photos) are in `text`: no control character goes out
    # raw, line by line so a multi-line text keeps its lines. JSON text passes unchanged.
    text = "\n".join(map(printable, text.split("\n")))
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):
        _silence(stream)
        return False
    return True


def warn(text: str) -> bool:
    """`neuralpatch: text` on stderr."""
    return say(f"neuralpatch: {text}", sys.stderr)


def _silence(stream: TextIO) -> None:
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
