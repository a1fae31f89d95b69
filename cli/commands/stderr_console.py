"""Rich's console for progress bars on stderr, with a broken pipe left to the caller."""

from __future__ import annotations

from rich.console import Console


class StderrConsole(Console):
    """Rich's console, except that a broken pipe is an OSError to catch: rich's own answer
    (redirect stdout to /dev/null and exit) would end the command before it saves."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError("the progress stream was closed")
