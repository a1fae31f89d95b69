"""Rich parts of the progress bars, imported only when a bar is drawn on a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.progress import ProgressColumn, Task
from rich.text import Text

from neuralpatch.engine.number_text import count, fraction


class CountColumn(ProgressColumn):
    """`1,234/5,678` (rich's own M-of-N column prints no thousands separators)."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        text = count(done) if task.total is None else fraction(done, int(task.total))
        return Text(text, style="progress.download")


class StderrConsole(Console):
    """Rich's console, except that a broken pipe is an OSError to catch: rich's own answer
    (redirect stdout to /dev/null and exit) would end the command before it saves."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError("the progress stream was closed")
