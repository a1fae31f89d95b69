"""Messages the camera workers post to the camera screen: the only way the engine reaches it.

The live loop can finish 50 passes and thousands of layers a second, so those messages define
`can_replace`: a burst waiting in the queue collapses into the latest one.
"""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.live_loop import LiveResult, SourceStatus
from neuralpatch.engine.patch_system import PatchEvent


class PassCompleted(Message):
    """A frame went through the base network and the patches."""

    def __init__(self, result: LiveResult) -> None:
        super().__init__()
        self.result = result

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PassCompleted)


class LayerReached(Message):
    """The base pass under way finished layer `done` of `total`."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done, self.total = done, total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LayerReached)


class SourceChanged(Message):
    """The frame source opened, was lost, is being retried, or stopped."""

    def __init__(self, status: SourceStatus) -> None:
        super().__init__()
        self.status = status


class LoopFailed(Message):
    """The live loop ended on an error (a base-network or OpenCL failure, not the source)."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


class PatchesChanged(Message):
    """The patch folder changed (`event`), or could not be watched (`error`)."""

    def __init__(
        self, event: PatchEvent | None = None, error: NeuralpatchError | OSError | None = None
    ) -> None:
        super().__init__()
        self.event, self.error = event, error


class SnapSaved(Message):
    """A snapped frame was written into a dataset."""

    def __init__(self, path: Path, category: str) -> None:
        super().__init__()
        self.path, self.category = path, category


class SnapFailed(Message):
    """A snapped frame could not be written; the error names the file."""

    def __init__(self, error: NeuralpatchError) -> None:
        super().__init__()
        self.error = error
