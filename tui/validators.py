"""Input validators for the parameters pane: a bad value is flagged as typed, never used.

Hyper-parameter bounds come from `engine.hyper_params`, so the pane, the trainer and the
snapshot reader cannot disagree about what is valid.
"""

from __future__ import annotations

from pathlib import Path

from textual.validation import ValidationResult, Validator

from neuralpatch.engine.dataset import MAP_NAME
from neuralpatch.engine.errors import ImageError
from neuralpatch.engine.hyper_params import BOUNDS, label, parse_rate, rate_problem
from neuralpatch.engine.training_files import read_icon


class HyperParam(Validator):
    """A number the trainer accepts for one hyper-parameter field."""

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def validate(self, value: str) -> ValidationResult:
        try:
            number = parse_rate(self.field, value)
        except ValueError:
            kind = "a whole number" if BOUNDS[self.field].integer else "a number"
            return self.failure(f"{label(self.field)} must be {kind}")
        problem = rate_problem(self.field, number)
        return self.failure(problem) if problem else self.success()


class BaseTxt(Validator):
    """Empty (the packaged network) or an existing `.txt` topology file."""

    def validate(self, value: str) -> ValidationResult:
        path = Path(value).expanduser()
        if path.suffix != ".txt":
            return self.failure("the base network is named by its .txt file")
        if not path.is_file():
            return self.failure(f"no such file: {value}")
        return self.success()


class DatasetFolder(Validator):
    """A folder with `map_clsloc.txt` at its root."""

    def validate(self, value: str) -> ValidationResult:
        path = Path(value).expanduser()
        if not path.is_dir():
            return self.failure(f"no such folder: {value}")
        if not (path / MAP_NAME).is_file():
            return self.failure(f"no {MAP_NAME} in {value}")
        return self.success()


class IconPng(Validator):
    """Empty (no icon) or a PNG the patch loader will accept."""

    def validate(self, value: str) -> ValidationResult:
        try:
            read_icon(Path(value).expanduser())
        except ImageError as exc:
            return self.failure(exc.message)
        return self.success()


class OutputFolder(Validator):
    """Empty (beside the base network) or a folder, existing or to be created."""

    def validate(self, value: str) -> ValidationResult:
        path = Path(value).expanduser()
        if path.exists() and not path.is_dir():
            return self.failure(f"not a folder: {value}")
        return self.success()
