"""Keep library chatter off the app's screen: it goes to a log file in the user cache.

Anything written to the terminal behind Textual's back draws over the screen. Python
logging and warnings (pyopencl's build-log `CompilerWarning`) are routed to the log file,
OpenCV and pyopencl are told to be quiet, and native code (PoCL, OpenCV) that writes to
file descriptor 2 directly writes into the log file too, while Textual keeps its own
duplicate of the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from neuralpatch.engine.paths import cache_dir

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def app_log_path(name: str = "train.log") -> Path:
    return cache_dir("logs") / name


@contextlib.contextmanager
def quiet_output(log_path: Path) -> Iterator[None]:
    """While the app runs, send logging, warnings and native stderr to `log_path`."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("PYOPENCL_COMPILER_OUTPUT", "0")
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        with _native_stderr_to(log_path):
            yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


class _GoneTerminalSafe:
    """The terminal stream, except that once the terminal is gone (EIO after a hang-up) the
    output is dropped. Textual's writer thread would die on the error, and its queue, once
    full, would then block the app for good before it could save and exit."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except OSError:
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except OSError:
                self.gone = True

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _native_stderr_to(log_path: Path) -> Iterator[None]:
    """Point fd 2 at the log file; Python's `sys.stderr` (Textual's output) keeps the tty."""
    if not os.isatty(2):
        yield  # not drawing on a terminal: nothing to protect
        return
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    terminal = os.fdopen(terminal_fd, "w", encoding=sys.stderr.encoding, errors="replace")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    saved = sys.__stderr__, sys.stderr
    os.dup2(log_fd, 2)
    os.close(log_fd)
    # Textual's driver writes to sys.__stderr__, from its writer thread.
    sys.__stderr__ = sys.stderr = _GoneTerminalSafe(terminal)  # type: ignore[assignment]
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # a terminal that went away has nothing to flush
            terminal.flush()
        os.dup2(terminal_fd, 2)
        sys.__stderr__, sys.stderr = saved
        with contextlib.suppress(OSError):
            terminal.close()
