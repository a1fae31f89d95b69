"""The parameters pane: base network, data, hyper-parameters, patch info, output folder."""

from __future__ import annotations

import os

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label

from neuralpatch.engine.hyper_params import RATES, HyperParams, parse_rate
from neuralpatch.engine.training_plan import TrainingOptions, default_out_dir
from neuralpatch.tui.validators import (
    BaseTxt,
    DatasetFolder,
    HyperParam,
    IconPng,
    OutputFolder,
    Patience,
)

LABELS = {
    "base": "Base net",
    "data": "Data",
    "batch_size": "Batch",
    "lr": "LR",
    "momentum": "Momentum",
    "decay": "Decay",
    "name": "Name",
    "description": "Descr.",
    "icon": "Icon PNG",
    "out": "Output",
    "patience": "Patience",
}


class ParamsPane(Vertical):
    """Every field the original tool had, validated as typed.

    Posts `RateChanged` when a hyper-parameter field holds a new valid value, so a running
    training can take it at its next step.
    """

    class RateChanged(Message):
        def __init__(self, field: str, value: int | float) -> None:
            super().__init__()
            self.field, self.value = field, value

    def __init__(self, options: TrainingOptions, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._options = options
        self._applied: dict[str, int | float] = {}  # rates as the trainer last got them

    def compose(self) -> ComposeResult:
        opts, params = self._options, self._options.params
        yield from self._row(("base", opts.base, "packaged EfficientNet-Lite0", BaseTxt()))
        yield from self._row(("data", opts.data, "dataset folder", DatasetFolder()))
        for first, second in (("batch_size", "lr"), ("momentum", "decay")):
            yield from self._row(
                *((key, str(getattr(params, key)), "", HyperParam(key)) for key in (first, second))
            )
        yield from self._row(("name", opts.name, "default: the folder's name", None))
        yield from self._row(("description", opts.description, "what it tells", None))
        yield from self._row(
            ("patience", str(opts.patience), "epochs without gain; 0: until paused", Patience())
        )
        yield from self._row(("icon", opts.icon, "optional trigger icon", IconPng()))
        out = OutputFolder(lambda: default_out_dir(self.value("data")))
        yield from self._row(("out", opts.out, self._out_placeholder(opts.data), out))
        with Horizontal(id="toggles"):
            yield Checkbox("rand-tilt-shift", params.augment, id="augment", compact=True)
            yield Checkbox("stop-N-show", id="stop_n_show", compact=True)
        with Horizontal(id="controls"):
            yield Button("Train", id="train", variant="primary", compact=True)
            yield Label("", id="hint", markup=False)

    def _row(self, *fields: tuple) -> ComposeResult:
        with Horizontal(classes="field-row"):
            for n, (key, initial, placeholder, validator) in enumerate(fields):
                yield Label(LABELS[key], classes="field-label" + (" second" if n else ""))
                yield Input(
                    initial,
                    placeholder=placeholder,
                    id=key,
                    compact=True,
                    validators=validator,
                    valid_empty=key not in ("data", "out", "patience", *RATES),
                )

    def on_mount(self) -> None:
        self.border_title = "Parameters"
        for field in self.query(Input):
            field.validate(field.value)
            if field.id in RATES and field.is_valid:
                self._applied[field.id] = parse_rate(field.id, field.value)
        self._show_first_problem()

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id == "data":  # the default output folder follows the dataset
            out = self.query_one("#out", Input)
            out.placeholder = self._out_placeholder(event.value)
            out.validate(out.value)
        self._show_first_problem()

    @staticmethod
    def _out_placeholder(data: str) -> str:
        """Where files go when the field is left empty: relative to the working folder when
        inside it, so it fits the field (the start dialog shows the whole path)."""
        if not data.strip():
            return "default: beside the dataset"
        out = default_out_dir(data.strip())
        relative = os.path.relpath(out)
        return f"{out if relative.startswith('..') else relative}{os.sep} (default)"

    @on(Input.Submitted)
    @on(Input.Blurred)
    def _field_left(self, event: Input.Submitted | Input.Blurred) -> None:
        """A rate applies when confirmed (Enter, or leaving the field), not per keystroke:
        typing 128 must not train a step at batch size 1 and another at 12."""
        key = event.input.id or ""
        if key not in RATES or not event.input.is_valid:
            return
        value = parse_rate(key, event.value)
        if value != self._applied.get(key):
            self._applied[key] = value
            self.post_message(self.RateChanged(key, value))

    def problems(self) -> list[str]:
        """One line per invalid field, naming it."""
        found = []
        for field in self.query(Input):
            result = field.validate(field.value)
            if result is not None and not result.is_valid:
                found.append(f"{LABELS[field.id or '']}: {'; '.join(result.failure_descriptions)}")
        return found

    def _show_first_problem(self) -> None:
        problems = self.problems()
        hint = self.query_one("#hint", Label)
        hint.update(problems[0] if problems else "rates apply on Enter")
        hint.set_class(bool(problems), "error")

    def value(self, key: str) -> str:
        return self.query_one(f"#{key}", Input).value.strip()

    def form(self) -> TrainingOptions | None:
        """The run options with the pane's current values, or None while a field is invalid."""
        if self.problems():
            return None
        params = HyperParams(
            **{key: parse_rate(key, self.value(key)) for key in RATES},
            augment=self.query_one("#augment", Checkbox).value,
        )
        return self._options.replace(
            params=params,
            patience=int(self.value("patience")),
            **{
                key: self.value(key)
                for key in ("base", "data", "name", "description", "icon", "out")
            },
        )

    def adopt(self, params: HyperParams) -> dict[str, float | int]:
        """Take the rates a new trainer holds as applied; returns the valid pane values that
        differ from them (confirmed while the trainer was being built), to apply now."""
        differing = {}
        for key in RATES:
            field = self.query_one(f"#{key}", Input)
            self._applied[key] = getattr(params, key)
            if field.is_valid:
                value = parse_rate(key, field.value)
                if value != self._applied[key]:
                    differing[key] = self._applied[key] = value
        return differing

    def lock_network_fields(self, locked: bool = True) -> None:
        """Base network and data cannot change under a built trainer."""
        for key in ("base", "data"):
            self.query_one(f"#{key}", Input).disabled = locked

    def fill_if_empty(self, key: str, text: str) -> None:
        field = self.query_one(f"#{key}", Input)
        if not field.value:
            field.value = text
