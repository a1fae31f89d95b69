"""stop-N-show: the last inference, the image with the patch's heat-map beside it, and
whether to save the snapshot and the patch.

The map is the CAM of the output the patch answered (`photo_heat`), computed in a thread
worker once the dialog is up, so the dialog opens at once; `v` opens the validation results
(`validation_dialog`) without leaving the dialog.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Label, Static

from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.trainer import SampleShown
from neuralpatch.engine.training_files import SavedFiles
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.photo_heat import Explained, PatchLens, show_heat
from neuralpatch.tui.validation_dialog import ValidationDialog, ValidationResults

TOP_PROBABILITIES = 5
BAR_WIDTH = 8
NAME_WIDTH = 20


@dataclass
class InferenceChoice:
    """What the stop-N-show dialog was answered: save or not, and the checkbox's state."""

    save: bool
    stop_n_show: bool


def probability_lines(probabilities: np.ndarray, names: list[str]) -> list[str]:
    """The most probable outputs, best first, with a bar each."""
    order = np.argsort(probabilities)[::-1][:TOP_PROBABILITIES]
    short = [shorten(names[i], NAME_WIDTH) for i in order]
    width = max(len(name) for name in short)
    return [
        f"{name:<{width}} {'█' * round(float(probabilities[i]) * BAR_WIDTH):<{BAR_WIDTH}}"
        f" {float(probabilities[i]):6.1%}"
        for name, i in zip(short, order, strict=True)
    ]


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class InferenceDialog(ModalScreen[InferenceChoice]):
    """stop-N-show: the last inference, and whether to save the snapshot and the patch."""

    BINDINGS = [
        Binding("y", "choose(True)", "Yes, save"),
        Binding("n,escape", "choose(False)", "No, next"),
        Binding("ctrl+n", "toggle_stop_n_show", "stop-N-show"),
        Binding("v", "validation", "Validation"),
    ]

    def __init__(
        self,
        sample: SampleShown,
        output_names: list[str],
        stop_n_show: bool,
        saved: SavedFiles | None = None,
        error: str | None = None,
        palette: Palette | None = None,
        lens: PatchLens | None = None,
        results: ValidationResults | None = None,
    ) -> None:
        super().__init__()
        self.sample, self.names = sample, output_names
        self.stop_n_show, self.saved, self.error = stop_n_show, saved, error
        self.palette, self.lens, self.results = palette, lens, results
        self.explained: Explained | None = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "validation":
            return self.results is not None
        return True

    def compose(self) -> ComposeResult:
        sample, names = self.sample, self.names
        right = sample.true_index == sample.predicted_index
        with Vertical(classes="dialog", id="inference"):
            yield Label("stop-N-show: the last inference", classes="dialog-title")
            with Horizontal(id="inference-body"):
                yield ImageView("image not readable", palette=self.palette, id="inference-image")
                yield ImageView(self._heat_placeholder(), palette=self.palette, id="inference-heat")
            with Horizontal(id="inference-facts"):
                yield Static(
                    f"{printable(sample.path.name)}\n"
                    f"true:  {names[sample.true_index]}\n"
                    f"patch: {names[sample.predicted_index]} "
                    f"{'✓' if right else '✗'}",
                    classes="facts",
                    markup=False,
                )
                yield Static(
                    "\n".join(probability_lines(sample.probabilities, names)),
                    classes="probabilities",
                    markup=False,
                )
            yield Static(
                self._save_text(),
                id="save-result",
                markup=False,
                classes="error" if self.error else "",
            )
            yield Label("Save the full snapshot and the .specialneurons patch?")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", id="yes", variant="primary", compact=True)
                yield Button("No (n)", id="no", compact=True)
                yield Checkbox(
                    "stop-N-show (^n)", self.stop_n_show, id="keep-stopping", compact=True
                )
        yield Footer(show_command_palette=False)

    def _heat_placeholder(self) -> str:
        if self.sample.image is None:
            return "no heat-map: image not readable"
        return "heat-map…" if self.lens is not None else "no heat-map"

    def _save_text(self) -> str:
        if self.error:
            return f"Not saved: {self.error}"
        if self.saved:
            return f"Saved {self.saved.snapshot}\n  and {self.saved.patch}"
        return ""

    def on_mount(self) -> None:
        self.query_one("#save-result").display = bool(self.error or self.saved)
        self.query_one("#inference-image", ImageView).set_image(self.sample.image)
        self.query_one("#no" if self.saved else "#yes", Button).focus()
        if self.lens is not None and self.sample.image is not None:
            self._explain(self.lens, self.sample.image, self.sample.predicted_index)

    @work(thread=True, exclusive=True, group="inference-heat")
    def _explain(self, lens: PatchLens, image: np.ndarray, output: int) -> None:
        try:
            explained = lens.explain(image, output)
        except (NeuralpatchError, OSError) as exc:
            self.app.call_from_thread(self._no_heat, str(exc))
            return
        self.app.call_from_thread(self._show_heat, image, explained)

    def _show_heat(self, image: np.ndarray, explained: Explained) -> None:
        self.explained = explained
        show_heat(self.query_one("#inference-heat", ImageView), image, explained.heatmap)

    def _no_heat(self, why: str) -> None:
        view = self.query_one("#inference-heat", ImageView)
        view.placeholder = printable(f"no heat-map: {why}")
        view.set_image(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id == "yes")

    def action_choose(self, save: bool) -> None:
        self.dismiss(InferenceChoice(save, self.query_one(Checkbox).value))

    def action_toggle_stop_n_show(self) -> None:
        self.query_one(Checkbox).toggle()

    def action_validation(self) -> None:
        if self.results is not None:
            self.app.push_screen(ValidationDialog(self.results, self.palette))
