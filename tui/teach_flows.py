"""The teach screen's keys: labels, rates, scope, pause, new categories, edit, save, publish
and quit, and the thread workers that label and save.

The label and save workers run in threads and answer with `teach_messages`; rates, scope
and pause go to the training thread as messages through the session.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from textual import work

from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.teach_answer import TeachAnswer
from neuralpatch.engine.teach_config import TeachConfig
from neuralpatch.engine.teach_session import TeachSession
from neuralpatch.tui.category_dialog import CategoryDialog
from neuralpatch.tui.dialogs import QuitDialog
from neuralpatch.tui.live_screen import LiveScreen
from neuralpatch.tui.teach_edit_dialog import TeachEditDialog
from neuralpatch.tui.teach_messages import Labelled, SaveFinished, TeachFailed
from neuralpatch.tui.teach_panels import MAX_KEYED


class TeachFlows(LiveScreen):
    """What the teach keys do; `TeachScreen` adds the live view and the panels."""

    config: TeachConfig
    session: TeachSession | None
    current: tuple[LiveResult, TeachAnswer] | None
    saved: list[Path]
    _new_only: bool
    _paused: bool

    @work(thread=True, group="teach-label")
    def _label(self, live: LiveResult, answer: TeachAnswer, output: int) -> None:
        assert self.session is not None
        try:
            record = self.session.label(live.image, np.asarray(live.features), answer, output)
        except (NeuralpatchError, OSError) as exc:
            self.post_message(TeachFailed("label", exc))
            return
        self.post_message(Labelled(record, self.session.outputs[output].name))

    @work(thread=True, exclusive=True, group="teach-save")
    def _save(self, then: str | None = None) -> None:
        """Save; `then` is what follows a finished save ("quit" or "publish")."""
        assert self.session is not None
        try:
            saved = self.session.save()
        except (NeuralpatchError, OSError) as exc:
            self.post_message(TeachFailed("save", exc))
            return
        self.post_message(SaveFinished(saved, then))

    def action_label(self, output: int) -> None:
        session = self.session
        if session is None or self.current is None:
            self.notify("No frame to label yet.", severity="warning")
            return
        if output < 0:
            output = len(session.outputs) - 1
        elif output >= len(session.outputs) - 1:
            self.notify(f"No category on key {output + 1} (n adds one).", severity="warning")
            return
        live, answer = self.current
        self._label(live, answer, output)

    def action_scale(self, name: str, factor: float) -> None:
        if self.session is not None:
            self.session.scale(name, factor)

    def action_toggle_scope(self) -> None:
        if self.session is not None:
            self._new_only = not self._new_only
            self.session.set_new_only(self._new_only)

    def action_pause(self) -> None:
        if self.session is not None:
            self._paused = not self._paused
            self.session.set_paused(self._paused)

    def action_save(self) -> None:
        if self.session is not None:
            self._save()

    def action_publish(self) -> None:
        """Publish the taught patch to a catalogue: saved first if anything changed since."""
        session = self.session
        if session is None:
            self.notify("Nothing to publish until the dataset is loaded.", severity="warning")
        elif session.unsaved or session.last_saved is None:
            self._save(then="publish")
        else:
            self.publish_saved(session.last_saved.patch)

    def publish_saved(self, patch: Path) -> None:
        from neuralpatch.tui.publish_dialog import PublishDialog

        def published(result) -> None:
            if result is not None:
                state = "published" if result.new else "already listed"
                self.notify(printable(f"{result.entry.spec} {state}"), title="Market")

        self.app.push_screen(PublishDialog(patch), published)

    @work(exclusive=True, group="teach-dialog")
    async def action_new_category(self) -> None:
        if self.session is None:
            return
        name = await self.app.push_screen_wait(CategoryDialog())
        if name is None:
            return
        try:
            k = await asyncio.to_thread(self.session.add_category, name)
        except NeuralpatchError as exc:
            self.notify(printable(exc), title="No new category", severity="error")
            return
        output = self.session.outputs[k]
        key = f"key {k + 1}" if k < MAX_KEYED else "no key (edit mode relabels)"
        self.notify(printable(f"{output.name} ({output.tag}): {key}"), title="New category")

    @work(exclusive=True, group="teach-dialog")
    async def action_edit(self) -> None:
        if self.session is not None:
            await self.app.push_screen_wait(TeachEditDialog(self.session, self.palette))

    @work(exclusive=True, group="teach-dialog")
    async def action_quit(self) -> None:
        if self.session is not None and self.session.unsaved:
            answer = await self.app.push_screen_wait(QuitDialog(self.session.trainer.step))
            if answer is None:
                return
            if answer == "save":
                self._save(then="quit")
                return
        self.app.exit(0)
