"""Edit mode: step through past labels, newest first, and relabel or delete one.

Each photo shows with its label and the taught patch's current answer on it. A relabel
renames the file and a delete removes it (both atomic, in the engine); the trainer learns
the new label or forgets the photo at once.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.teach_session import TeachSession
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.teach_panels import MAX_KEYED, output_lines


class TeachEditDialog(ModalScreen[None]):
    BINDINGS = [
        Binding("right,down,j", "step(1)", "Older"),
        Binding("left,up,k", "step(-1)", "Newer"),
        Binding("d,delete", "delete", "Delete"),
        Binding("b", "relabel(-1)", "Relabel background"),
        *[Binding(str(n), f"relabel({n - 1})", show=False) for n in range(1, MAX_KEYED + 1)],
        Binding("escape,e", "close", "Back"),
    ]

    def __init__(self, session: TeachSession, palette: Palette | None = None) -> None:
        super().__init__()
        self.session, self.palette = session, palette
        self.position = 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="teach-edit"):
            yield Label("Edit past labels (newest first)", classes="dialog-title")
            with Horizontal(id="teach-edit-body"):
                yield ImageView("no labels yet", palette=self.palette, id="teach-edit-image")
                yield Static("", id="teach-edit-answer")
            yield Label("", id="teach-edit-caption", markup=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        records = self.session.records
        caption = self.query_one("#teach-edit-caption", Label)
        view = self.query_one("#teach-edit-image", ImageView)
        answer_view = self.query_one("#teach-edit-answer", Static)
        if not records:
            view.set_image(None)
            caption.update("no labelled photos")
            answer_view.update("")
            return
        self.position = min(max(self.position, 0), len(records) - 1)
        record = records[self.position]
        try:
            view.set_image(decode_image(record.path))
        except NeuralpatchError as exc:
            view.set_image(None, str(exc))
        answer = self.session.answer(record.features, "")
        said = self.session.outputs[answer.index].name
        label = self.session.outputs[record.output].name
        caption.update(
            printable(
                f"{self.position + 1}/{len(records)}  {record.path.name}  label: {label}  "
                f"patch now: {said}"
                + ("" if record.right is None else f"  (right before labelling: {record.right})")
            )
        )
        answer_view.update(
            output_lines(self.session.outputs, self.session.trainer.published, answer)
        )

    def action_step(self, delta: int) -> None:
        self.position += delta
        self.show()

    def action_relabel(self, output: int) -> None:
        records = self.session.records
        outputs = self.session.outputs
        if not records:
            return
        if output < 0:
            output = len(outputs) - 1  # `b`: the background, always last
        elif output >= len(outputs) - 1:
            return  # no category on this key
        try:
            self.session.relabel(records[self.position], output)
        except NeuralpatchError as exc:
            self.notify(str(exc), title="Not relabelled", severity="error")
        self.show()

    def action_delete(self) -> None:
        records = self.session.records
        if not records:
            return
        record = records[self.position]
        try:
            self.session.delete(record)
        except NeuralpatchError as exc:
            self.notify(str(exc), title="Not deleted", severity="error")
            return
        self.notify(printable(f"deleted {record.path.name}"), timeout=3)
        self.show()

    def action_close(self) -> None:
        self.dismiss(None)
