"""The status line: steps, images/s, rolling loss, validation accuracy, elapsed training time.

During slow set-up stages it shows what is happening with a progress bar instead.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from neuralpatch.engine.number_text import count, rate
from neuralpatch.engine.trainer import StepReport


def format_report(report: StepReport | None, state: str) -> str:
    """`state · step N · img/s · loss · val · elapsed`, with dashes before the first step."""
    if report is None:
        return f"{state} · step 0 · — img/s · loss — · val end-to-end — · 0:00:00"
    minutes, seconds = divmod(int(report.elapsed_s), 60)
    hours, minutes = divmod(minutes, 60)
    val = "—" if report.val_accuracy is None else f"{report.val_accuracy:.1%}"
    when = "—" if report.val_when_triggered is None else f"{report.val_when_triggered:.1%}"
    return (
        f"{state} · step {count(report.step)} · {rate(report.images_per_s)} img/s · "
        f"loss {report.rolling_loss:.4f} · val end-to-end {val} (triggered {when}) · "
        f"{hours}:{minutes:02}:{seconds:02}"
    )


class StatusBar(Horizontal):
    """One line at the bottom of the screen, above the footer."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = "ready"
        self.report: StepReport | None = None

    def compose(self) -> ComposeResult:
        yield Label(format_report(None, self.state), id="status-text")
        yield ProgressBar(show_eta=False, id="status-progress")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def show_report(self, report: StepReport | None = None, state: str | None = None) -> None:
        """Show the latest report (or keep the last one) under a new state word."""
        if report is not None:
            self.report = report
        if state is not None:
            self.state = state
        self.query_one(ProgressBar).display = False
        self.query_one("#status-text", Label).update(format_report(self.report, self.state))

    def show_progress(self, done: int, total: int, what: str) -> None:
        """A set-up stage: its name and a bar (indeterminate when total is 0)."""
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=total or None, progress=done)
        self.query_one("#status-text", Label).update(what)

    def show_message(self, text: str) -> None:
        self.query_one(ProgressBar).display = False
        self.query_one("#status-text", Label).update(text)
