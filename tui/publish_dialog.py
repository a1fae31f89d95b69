"""Publish this patch: the training app's way into a catalogue folder (the market).

A `ModalScreen[Published | None]`: the catalogue folder and an optional signing key are typed
in, the publish itself runs in a thread worker (`engine/market_publish`), and the dialog
closes with the entry it added, or stays open showing why it could not.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.market_config import read_sources
from neuralpatch.engine.market_publish import Published, publish
from neuralpatch.engine.market_signing import load_private_key
from neuralpatch.engine.safe_text import printable
from neuralpatch.tui.market_messages import PublishFinished


def default_catalogue() -> str:
    """The first configured catalogue that is a local folder (one can publish into it)."""
    try:
        sources = read_sources()
    except NeuralpatchError:
        return ""
    return next((s.url for s in sources if "://" not in s.url and Path(s.url).is_dir()), "")


class PublishDialog(ModalScreen[Published | None]):
    """Catalogue folder, key, Publish: the saved plugin file becomes a new catalogue version."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, patch: Path) -> None:
        super().__init__()
        self.patch = patch

    def compose(self) -> ComposeResult:
        with Vertical(id="publish-dialog"):
            yield Label("Publish this patch to a catalogue", id="publish-title")
            yield Static(printable(self.patch.name), id="publish-file", markup=False)
            yield Input(default_catalogue(), placeholder="catalogue folder", id="publish-to")
            yield Input(placeholder="signing key (optional; market keygen KEY)", id="publish-key")
            yield Static("", id="publish-result", markup=False)
            with Horizontal(id="publish-buttons"):
                yield Button("Publish (enter)", id="publish-go", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="publish-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#publish-to", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#publish-go")
    def action_publish(self) -> None:
        folder = self.query_one("#publish-to", Input).value.strip()
        if not folder:
            self._show("Type the catalogue folder to publish into.")
            return
        self._show("publishing…")
        self._publish(folder, self.query_one("#publish-key", Input).value.strip())

    @on(Button.Pressed, "#publish-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, group="publish")
    def _publish(self, folder: str, key: str) -> None:
        try:
            signing = load_private_key(key) if key else None
            (result,) = publish([self.patch], folder, key=signing)
        except (NeuralpatchError, OSError) as exc:
            self.post_message(PublishFinished(None, exc))
            return
        self.post_message(PublishFinished(result))

    def on_publish_finished(self, message: PublishFinished) -> None:
        if message.published is None:
            self._show(f"Not published: {printable(message.error)}")
        else:
            self.dismiss(message.published)

    def _show(self, text: str) -> None:
        self.query_one("#publish-result", Static).update(text)
