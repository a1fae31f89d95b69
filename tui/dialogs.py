"""The training app's modal dialogs, as in the original tool.

Each is a `ModalScreen[T]` closed with `dismiss(answer)`; none knows about the trainer.
stop-N-show's dialog lives in `inference_dialog` (re-exported here), the validation results
in `validation_dialog`.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from neuralpatch.engine.dataset import Category
from neuralpatch.engine.number_text import count, fraction
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.trigger_coverage import TriggerCoverage
from neuralpatch.engine.trigger_suggestion import TriggerSuggestion
from neuralpatch.tui.inference_dialog import InferenceChoice, InferenceDialog

__all__ = ["InferenceChoice", "InferenceDialog", "QuitDialog", "ReconfigureDialog"]


class ReconfigureDialog(ModalScreen[str]):
    """Starting a new patch: its output layer gets K neurons instead of the base network's.

    Also shows the trigger coverage (outside the scrolling list, so it is always seen) and
    offers the suggested triggers; answers "yes", "no" or "suggest".
    """

    BINDINGS = [
        Binding("y", "answer('yes')", "Yes, start"),
        Binding("n,escape", "answer('no')", "No, go back"),
        Binding("s", "answer('suggest')", "Add suggested triggers"),
    ]

    def __init__(
        self,
        outputs: list[Category],
        triggers: list[Category],
        base_outputs: int,
        train_images: int,
        val_images: int,
        coverage: TriggerCoverage | None = None,
        suggestion: TriggerSuggestion | None = None,
        out_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.outputs, self.triggers, self.base_outputs = outputs, triggers, base_outputs
        self.out_dir = out_dir
        self.counts = (train_images, val_images)
        self.coverage, self.suggestion = coverage, suggestion

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "answer" and parameters == ("suggest",):
            return bool(self.suggestion and self.suggestion.added)
        return True

    def coverage_text(self) -> str:
        cov = self.coverage
        if cov is None or cov.fraction is None:
            return ""
        worst = min(cov.outputs, key=lambda o: o.fraction if o.fraction is not None else 1.0)
        text = (
            f"Trigger coverage {cov.fraction:.0%}: {fraction(cov.covered, cov.images)} photos "
            f"trigger the patch (lowest: {worst.name} {worst.fraction:.0%}); the others are misses."
        )
        s = self.suggestion
        if s and s.added:
            text += (
                f"\ns: add {len(s.added)} suggested triggers "
                f"({', '.join(t.name for t in s.added[:4])}{'…' if len(s.added) > 4 else ''})"
                f" for {s.after.fraction:.0%}"
            )
        return "\n".join(printable(line) for line in text.split("\n"))  # names from the map

    def compose(self) -> ComposeResult:
        k = len(self.outputs)
        with Vertical(classes="dialog", id="reconfigure"):
            yield Label("Reconfigure the output layer", classes="dialog-title")
            yield Static(
                f"The base network has {count(self.base_outputs)} output categories; this "
                f"patch's output layer will be configured for {count(k)}:"
            )
            with VerticalScroll(classes="dialog-list"):
                yield Static(
                    "\n".join(
                        printable(f"  {n}  {c.name}  ({c.tag}, {count(len(c.images))} images)")
                        for n, c in enumerate(self.outputs)
                    ),
                    markup=False,
                )
                # Named as `classify` and `patches` name them: the base network's own names.
                names = ", ".join(c.base_name or c.name for c in self.triggers)
                names = printable(names) or "none"
                yield Static(
                    f"Triggered by {count(len(self.triggers))} base categories: {names}",
                    classes="triggers",
                    markup=False,
                )
            low = self.coverage is not None and bool(self.coverage.problems())
            yield Static(
                self.coverage_text(), id="coverage", markup=False, classes="error" if low else ""
            )
            if self.out_dir is not None:  # the whole path: the pane's field may be too narrow
                where = os.path.abspath(self.out_dir)
                yield Static(printable(f"Files go to {where}{os.sep}"), markup=False)
            yield Static(
                f"{count(self.counts[0])} training / {count(self.counts[1])} validation images. "
                "Start training?"
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", id="yes", variant="primary", compact=True)
                yield Button("No (n)", id="no", compact=True)
                if self.suggestion and self.suggestion.added:
                    yield Button("Add triggers (s)", id="suggest", compact=True)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#coverage").display = bool(self.coverage_text())

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "no")

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)


class QuitDialog(ModalScreen[str | None]):
    """Quitting with unsaved training: "save", "discard", or None to stay."""

    BINDINGS = [
        Binding("y", "answer('save')", "Save and quit"),
        Binding("n", "answer('discard')", "Quit without saving"),
        Binding("escape", "answer(None)", "Cancel"),
    ]

    def __init__(self, unsaved_steps: int) -> None:
        super().__init__()
        self.unsaved_steps = unsaved_steps

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="quit"):
            yield Label("Quit training", classes="dialog-title")
            yield Static(
                f"{count(self.unsaved_steps)} training steps are not saved. Save the full "
                "snapshot and the .specialneurons patch before quitting?"
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save and quit (y)", id="save", variant="primary", compact=True)
                yield Button("Quit (n)", id="discard", variant="error", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer(show_command_palette=False)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_answer(None if event.button.id == "cancel" else event.button.id)

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)
