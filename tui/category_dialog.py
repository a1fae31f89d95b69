"""New category: the name typed for a new output of the taught patch (teach mode)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static


class CategoryDialog(ModalScreen[str | None]):
    """Enter gives the name (a tag is made up for it); Escape gives None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="category-dialog"):
            yield Label("New category", classes="dialog-title")
            yield Static(
                "Its name (spaces become _). A tag no ImageNet class uses is made up for it "
                "and written to map_clsloc.txt; label frames with its key to teach it."
            )
            yield Input(placeholder="e.g. my_mug", id="category-name")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if name:
            self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)
