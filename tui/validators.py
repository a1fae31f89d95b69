"""Input validators for the parameters pane: a bad value is flagged as typed, never used.

Hyper-parameter bounds come from `engine.hyper_params`, so the pane, the trainer and the
snapshot reader cannot disagree about what is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.validation import ValidationResult, Validator

from neuralpatch.engine.dataset import MAP_NAME
from neuralpatch.engine.errors import ImageError
from neuralpatch.engine.hyper_params import parse_rate, rate_problem
from neuralpatch.engine.training_files import read_icon
from neuralpatch.engine.training_plan import output_folder_problem


class HyperParam(Validator):
    """A number the trainer accepts for one hyper-parameter field."""

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def validate(self, value: str) -> ValidationResult:
        try:
            number = parse_rate(self.field, value)
        except ValueError:
            number = None  # not a number at all: the same message, with the valid range
        problem = rate_problem(self.field, number)
        return self.failure(problem) if problem else self.success()


class Patience(Validator):
    """Validation checks without improvement before training stops by itself (0: never)."""

    def validate(self, value: str) -> ValidationResult:
        try:
            number = int(value)
        except ValueError:
            return self.failure("patience must be a whole number (0: train until paused)")
        if not 0 <= number <= 1_000_000:
            return self.failure("patience must be from 0 to 1,000,000")
        return self.success()


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
    """Empty (the default folder beside the dataset) or a folder we can write or create.

    `default` says where the empty value leads, so an unusable default is red too.
    """

    def __init__(self, default: Callable[[], Path]) -> None:
        super().__init__()
        self.default = default

    def validate(self, value: str) -> ValidationResult:
        path = Path(value).expanduser() if value.strip() else self.default()
        problem = output_folder_problem(path)
        return self.success() if problem is None else self.failure(problem)
