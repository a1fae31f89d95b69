"""Messages the training worker posts to the screen: the only way the engine reaches the UI.

Names are events (what happened). Messages that can arrive many times a second define
`can_replace`, so a burst waiting in the queue collapses into the latest one.
"""

from __future__ import annotations

from typing import Literal

from textual.message import Message

from neuralpatch.engine.trainer import SampleShown, StepReport
from neuralpatch.engine.training_files import SavedFiles
from neuralpatch.engine.training_plan import TrainingPlan
from neuralpatch.engine.trigger_suggestion import TriggerSuggestion

StopReason = Literal["paused", "stop-n-show", "steps-done", "converged", "cancelled"]


class ProgressReported(Message):
    """Progress of a slow set-up stage (weight conversion, kernels, feature extraction).

    A total of 0 means the length is unknown.
    """

    def __init__(self, done: int, total: int, what: str) -> None:
        super().__init__()
        self.done, self.total, self.what = done, total, what

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressReported)


class TrainerBuilt(Message):
    """The base network and dataset loaded, features extracted, and a Trainer is ready."""

    def __init__(self, plan: TrainingPlan, suggestion: TriggerSuggestion | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.suggestion = suggestion  # triggers that would raise coverage, if any


class RatesApplied(Message):
    """The trainer took new rates (asked for from the pane) from step `step` on."""

    def __init__(self, changed: dict[str, object], step: int) -> None:
        super().__init__()
        self.changed, self.step = changed, step


class FeaturesExtracted(Message):
    """Every photo has its features; `failed` names photos that could not be decoded."""

    def __init__(self, failed: dict) -> None:
        super().__init__()
        self.failed = failed


class LossReported(Message):
    """The latest step's report (loss, rolling loss, accuracy, speed)."""

    def __init__(self, report: StepReport) -> None:
        super().__init__()
        self.report = report

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LossReported)


class SampleFed(Message):
    """An image just fed to training, with the patch's answer for it."""

    def __init__(self, sample: SampleShown) -> None:
        super().__init__()
        self.sample = sample

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SampleFed)


class TrainingStopped(Message):
    """The worker returned: paused, stopped to show an inference, or ran its steps."""

    def __init__(self, reason: StopReason, sample: SampleShown | None, run: int) -> None:
        super().__init__()
        self.reason, self.sample, self.run = reason, sample, run


class TrainingFailed(Message):
    """Setting up or training raised; the error names the file when there is one."""

    def __init__(self, error: Exception, stage: str) -> None:
        super().__init__()
        self.error, self.stage = error, stage


class SnapshotSaved(Message):
    """The full snapshot and the `.specialneurons` file were written."""

    def __init__(self, files: SavedFiles, step: int) -> None:
        super().__init__()
        self.files, self.step = files, step


class SaveFailed(Message):
    """Writing the snapshot or the patch failed (bad icon, full disk, no permission)."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
