"""What `eval --split val` shows, inside the training app: both accuracies, per-class accuracy,
the confusion matrix (with the "did not trigger" column) and the misclassified validation
photos, each of which opens (`MissDialog`): the photo with the patch's heat-map, its label,
what the patch and the base network said.

`validation_results` reads a paused trainer into plain values (copied weights included), so
the dialogs know nothing of the trainer and training may carry on while they are open.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList, Static

from neuralpatch.engine.end_to_end_validation import report_lines, share
from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.number_text import count, fraction
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.trainer import Trainer
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.photo_heat import Explained, PatchLens, show_heat

NOT_TRIGGERED = "did not trigger"
RESULTS_NOTICE = (
    "^o shows per-class accuracy, the confusion matrix and the misclassified validation "
    "photos (enter opens one)."
)


@dataclass(frozen=True)
class Miss:
    """A validation photo not answered right: wrong output, or the patch did not trigger."""

    path: Path
    true_index: int
    guess: int  # the output answered; K (the number of outputs) = did not trigger


@dataclass(frozen=True)
class ValidationResults:
    """The validation split scored end to end at one step, ready to show."""

    step: int
    summary: str
    lines: list[str]  # per class and the confusion matrix
    names: list[str]  # printable output names
    misses: list[Miss]
    lens: PatchLens

    def said(self, miss: Miss) -> str:
        return NOT_TRIGGERED if miss.guess >= len(self.names) else self.names[miss.guess]


def validation_results(trainer: Trainer, patch_name: str) -> ValidationResults | None:
    """The trainer's validation split as `eval --split val` scores it (None: no split)."""
    if not trainer.val_samples or not len(trainer.features):
        return None
    v = trainer.validation()
    report = v.report
    names = [printable(c.name) for c in trainer.outputs]
    k = len(names)
    guesses = v.guesses if v.guesses is not None else np.full(len(v.wrong), k)
    misses = [
        Miss(trainer.val_samples[i][0], int(trainer.val_samples[i][1]), int(guesses[i]))
        for i in v.wrong
    ]
    summary = (
        f"end to end {share(v.end_to_end)} (an untriggered photo counts as wrong) · when "
        f"triggered {share(v.when_triggered)} · {fraction(report.triggered, report.images)} "
        "triggered"
    )
    lens = PatchLens(
        trainer.base,
        trainer.state.patch,
        patch_name,
        [c.tag for c in trainer.outputs],
        [c.name for c in trainer.outputs],
    )
    return ValidationResults(trainer.state.step, summary, report_lines(report), names, misses, lens)


class ValidationDialog(ModalScreen[None]):
    """Per-class accuracy, confusion matrix and the misclassified photos (enter opens one)."""

    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, results: ValidationResults, palette: Palette | None = None) -> None:
        super().__init__()
        self.results, self.palette = results, palette

    def compose(self) -> ComposeResult:
        r = self.results
        with Vertical(classes="dialog", id="validation"):
            yield Label(
                f"Validation at step {count(r.step)}, as `eval --split val` scores it",
                classes="dialog-title",
            )
            yield Static(r.summary, id="validation-summary", markup=False)
            with VerticalScroll(id="validation-tables"):
                yield Static("\n".join(r.lines), markup=False)
            title = f"Misclassified validation photos ({count(len(r.misses))}): enter opens one"
            yield Label(title if r.misses else "No misclassified validation photo.")
            yield OptionList(
                *(
                    printable(f"{m.path.name}  {r.names[m.true_index]} → {r.said(m)}")
                    for m in r.misses
                ),
                id="validation-misses",
            )
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        misses = self.query_one(OptionList)
        misses.display = bool(self.results.misses)
        misses.focus()

    @on(OptionList.OptionSelected)
    def _open(self, event: OptionList.OptionSelected) -> None:
        miss = self.results.misses[event.option_index]
        self.app.push_screen(MissDialog(self.results, miss, self.palette))

    def action_close(self) -> None:
        self.dismiss(None)


class MissDialog(ModalScreen[None]):
    """One misclassified photo: the photo, its heat-map, its label and both answers."""

    BINDINGS = [Binding("escape,q", "close", "Back")]

    def __init__(self, results: ValidationResults, miss: Miss, palette: Palette | None) -> None:
        super().__init__()
        self.results, self.miss, self.palette = results, miss, palette
        self.explained: Explained | None = None

    def compose(self) -> ComposeResult:
        r, miss = self.results, self.miss
        with Vertical(classes="dialog", id="miss"):
            yield Label(printable(miss.path.name), classes="dialog-title", markup=False)
            with Horizontal(id="miss-body"):
                yield ImageView("reading the photo…", palette=self.palette, id="miss-image")
                yield ImageView("heat-map…", palette=self.palette, id="miss-heat")
            yield Static(
                f"label: {r.names[miss.true_index]}    patch: {r.said(miss)}",
                id="miss-facts",
                markup=False,
            )
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="miss-photo")
    def _load(self) -> None:
        try:
            image = decode_image(self.miss.path)
        except (NeuralpatchError, OSError) as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self.query_one("#miss-image", ImageView).set_image, image)
        # The map of the output the patch gave; for an untriggered photo, the one it would give.
        guess = None if self.miss.guess >= len(self.results.names) else self.miss.guess
        try:
            explained = self.results.lens.explain(image, guess)
        except (NeuralpatchError, OSError, ValueError) as exc:
            self.app.call_from_thread(self._failed, str(exc), heat_only=True)
            return
        self.app.call_from_thread(self._show, image, explained)

    def _show(self, image: np.ndarray, explained: Explained) -> None:
        self.explained = explained
        r, miss = self.results, self.miss
        show_heat(self.query_one("#miss-heat", ImageView), image, explained.heatmap)
        k = explained.heatmap.subject.index
        would = "" if miss.guess == k else " (would answer, if it triggered)"
        self.query_one("#miss-facts", Static).update(
            f"label: {r.names[miss.true_index]}\n"
            f"patch: {r.said(miss)}; map of {r.names[k]} "
            f"{float(explained.patch_probabilities[k]):.1%}{would}\n"
            f"base:  {printable(explained.base_name)} {explained.base_probability:.1%}"
        )

    def _failed(self, why: str, heat_only: bool = False) -> None:
        for selector in ("#miss-heat",) if heat_only else ("#miss-image", "#miss-heat"):
            view = self.query_one(selector, ImageView)
            view.placeholder = printable(why)
            view.set_image(None)

    def action_close(self) -> None:
        self.dismiss(None)
