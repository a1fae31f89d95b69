"""Messages the teach workers post to the teach screen: the only way the engine reaches it.

Frames arrive many times a second, so `FrameAnswered` defines `can_replace`.
"""

from __future__ import annotations

from textual.message import Message

from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.teach_answer import LabelRecord, TeachAnswer
from neuralpatch.engine.teach_files import TeachSaved
from neuralpatch.engine.teach_session import TeachSession


class SessionReady(Message):
    """The dataset is loaded and its features are in: the loop and training can start."""

    def __init__(self, session: TeachSession) -> None:
        super().__init__()
        self.session = session


class SetupProgress(Message):
    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done, self.total = done, total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SetupProgress)


class FrameAnswered(Message):
    """A frame went through the base network, the patch folder and the taught patch."""

    def __init__(self, live: LiveResult, answer: TeachAnswer) -> None:
        super().__init__()
        self.live, self.answer = live, answer

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FrameAnswered)


class Labelled(Message):
    def __init__(self, record: LabelRecord, name: str) -> None:
        super().__init__()
        self.record, self.name = record, name


class SaveFinished(Message):
    """A save finished (the snapshot, the plugin and the copies in the patch folder);
    `then` is what the user asked to follow it: "quit", "publish" or nothing."""

    def __init__(self, saved: TeachSaved, then: str | None = None) -> None:
        super().__init__()
        self.saved, self.then = saved, then


class TeachFailed(Message):
    """Set-up, the loop, a label or a save failed; `what` says which."""

    def __init__(self, what: str, error: Exception) -> None:
        super().__init__()
        self.what, self.error = what, error
