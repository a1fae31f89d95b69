"""Ending a teach session on SIGHUP (a dropped SSH session), SIGTERM or SIGINT, saved.

The handlers raise `SessionEnded`, which unwinds whatever the main thread was doing (a
blocking read of stdin included: a handler that returned would have the read retried) into
the caller's `finally`, where the session is saved once the old handlers are back.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

ENDING_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGHUP", "SIGTERM", "SIGINT") if hasattr(signal, name)
)


class SessionEnded(Exception):
    """A signal asked the session to end."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@contextlib.contextmanager
def on_ending_signals(handler: Callable[[int], None] | None = None) -> Iterator[None]:
    """While inside: an ending signal calls `handler(signum)`, or raises SessionEnded."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set from the main thread
        return

    def handle(signum: int, frame: object) -> None:
        if handler is None:
            raise SessionEnded(signum)
        handler(signum)

    previous = {s: signal.signal(s, handle) for s in ENDING_SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
