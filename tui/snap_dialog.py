"""Snap to dataset: which dataset and which category a frozen frame really belongs to.

A `ModalScreen[SnapChoice | None]` closed with `dismiss`; it knows nothing of the live loop,
and it does not save (the camera screen does that in a worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.snap_to_dataset import SnapTarget
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.image_view import ImageView

NO_TARGET_HELP = (
    "No dataset to snap into. Pass --dataset DIR (a folder with map_clsloc.txt), "
    "or load a patch whose .npsnapshot sits beside it and whose training folder "
    "still exists."
)


@dataclass(frozen=True)
class SnapChoice:
    """The dataset folder and the category (tag and name) the frame is filed under."""

    root: Path
    tag: str
    name: str


class SnapDialog(ModalScreen[SnapChoice | None]):
    """Pick a dataset (left), then its category (right); Enter on a category saves."""

    BINDINGS = [Binding("ctrl+s", "save", "Save"), Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        image: np.ndarray,
        targets: list[SnapTarget],
        problems: list[str],
        palette: Palette | None = None,
        hint: str = "",
    ) -> None:
        super().__init__()
        self.image, self.targets, self.problems = image, targets, problems
        self.palette, self.hint = palette, hint

    def compose(self) -> ComposeResult:
        with Vertical(id="snap-dialog"):
            yield Label("Snap this frame into a dataset", id="snap-title")
            with Horizontal(id="snap-body"):
                yield ImageView("no frame", palette=self.palette, id="snap-image")
                with Vertical(id="snap-choices"):
                    yield Static(
                        self.hint
                        or "What is it really? Choose the dataset and the correct category.",
                        id="snap-hint",
                        markup=False,
                    )
                    with Horizontal(id="snap-lists"):
                        yield OptionList(
                            *[
                                Option(printable(t.label), id=str(i))
                                for i, t in enumerate(self.targets)
                            ],
                            id="snap-datasets",
                        )
                        yield OptionList(id="snap-categories")
            yield Static(NO_TARGET_HELP if not self.targets else "", id="snap-file", markup=False)
            if self.problems:
                yield Static(
                    "\n".join(printable(f"skipped {p}") for p in self.problems),
                    id="snap-problems",
                    markup=False,
                )
            with Horizontal(id="snap-buttons"):
                yield Button(
                    "Save (enter)",
                    id="snap-save",
                    variant="primary",
                    compact=True,
                    disabled=not self.targets,
                )
                yield Button("Cancel (esc)", id="snap-cancel", compact=True)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#snap-datasets").border_title = "Dataset"
        self.query_one("#snap-categories").border_title = "Category"
        self.query_one("#snap-image", ImageView).set_image(self.image)
        datasets = self.query_one("#snap-datasets", OptionList)
        if self.targets:
            datasets.highlighted = 0
            self._show_categories(0)
            datasets.focus()
        else:
            self.query_one("#snap-cancel", Button).focus()

    @property
    def target(self) -> SnapTarget | None:
        index = self.query_one("#snap-datasets", OptionList).highlighted
        return None if index is None or not self.targets else self.targets[index]

    def _show_categories(self, index: int) -> None:
        categories = self.query_one("#snap-categories", OptionList)
        categories.set_options(
            Option(Text.assemble(printable(c.name), (f"  {len(c.images)}", "dim")), id=c.tag)
            for c in self.targets[index].categories
        )
        categories.highlighted = 0 if self.targets[index].categories else None
        self._describe()

    def _describe(self) -> None:
        choice = self._choice()
        text = (
            NO_TARGET_HELP
            if not self.targets
            else ""
            if choice is None
            else printable(f"saved as {choice.tag}_<UTC time>.jpg in {choice.root}")
        )
        self.query_one("#snap-file", Static).update(text)

    def _choice(self) -> SnapChoice | None:
        target = self.target
        index = self.query_one("#snap-categories", OptionList).highlighted
        if target is None or index is None or index >= len(target.categories):
            return None
        category = target.categories[index]
        return SnapChoice(target.root, category.tag, category.name)

    @on(OptionList.OptionHighlighted, "#snap-datasets")
    def _dataset_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show_categories(event.option_index)

    @on(OptionList.OptionHighlighted, "#snap-categories")
    def _category_highlighted(self) -> None:
        self._describe()

    @on(OptionList.OptionSelected, "#snap-datasets")
    def _dataset_selected(self) -> None:
        self.query_one("#snap-categories", OptionList).focus()

    @on(OptionList.OptionSelected, "#snap-categories")
    def _category_selected(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#snap-save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#snap-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_save(self) -> None:
        choice = self._choice()
        if choice is not None:
            self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)
