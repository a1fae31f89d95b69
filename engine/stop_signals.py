"""Signals that end long work cleanly: Ctrl-C, a dropped SSH session, a service stop.

SIGINT (Ctrl-C), SIGHUP (the terminal or SSH session went away) and SIGTERM (`timeout`,
systemd, containers) all set the work's stop `threading.Event`, so it ends after the step
under way and saves — a step cut in half would save a snapshot that does not resume
exactly. A second Ctrl-C gives up at once, unsaved. Headless training and teach mode use
`stop_on_signals` around their loop; the apps turn the same signals into their quit flow.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

STOP_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)


@dataclass
class StopRequest:
    """Which signal asked the work to stop (None while none has)."""

    signal: signal.Signals | None = None

    @property
    def name(self) -> str:
        return self.signal.name if self.signal is not None else ""


@contextlib.contextmanager
def stop_on_signals(
    stop: threading.Event, on_signal: Callable[[signal.Signals], None] | None = None
) -> Iterator[StopRequest]:
    """While inside, SIGINT/SIGHUP/SIGTERM set `stop` (and call `on_signal`, from the main
    thread, e.g. to wake an app); a second SIGINT raises KeyboardInterrupt.

    Handlers can only be set from the main thread: elsewhere this does nothing.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if request.signal is None:
            request.signal = signal.Signals(signum)
        stop.set()
        if on_signal is not None:
            on_signal(signal.Signals(signum))

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
