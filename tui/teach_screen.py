"""The teach screen: the live frame, the patch being taught answering it, and one-key labels.

Set-up, the live loop, labels and saves run in thread workers and reach the screen only as
the messages in `teach_messages`; rates, scope and pause go to the training thread as
messages through the session. The frame loop never waits for training: it reads the
weights the training thread last published.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.patch_watcher import PatchWatcher
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.teach_config import TeachConfig
from neuralpatch.engine.teach_session import TeachAnswer, TeachSession
from neuralpatch.tui.camera_patches import PatchPanel, cascade_lines, identified_line
from neuralpatch.tui.category_dialog import CategoryDialog
from neuralpatch.tui.dialogs import QuitDialog
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.teach_edit_dialog import TeachEditDialog
from neuralpatch.tui.teach_messages import (
    FrameAnswered,
    Labelled,
    SaveFinished,
    SessionReady,
    SetupProgress,
    TeachFailed,
)
from neuralpatch.tui.teach_panels import (
    MAX_KEYED,
    answer_line,
    output_lines,
    rates_line,
    status_line,
)
from neuralpatch.tui.teach_worker import run_loop, start_session, watch_patches

STATUS_INTERVAL_S = 0.5
STOP_WAIT_S = 5.0


class TeachScreen(Screen[None]):
    BINDINGS = [
        *[Binding(str(n), f"label({n - 1})", show=False) for n in range(1, MAX_KEYED + 1)],
        Binding("b", "label(-1)", "Background"),
        Binding("n", "new_category", "New category"),
        Binding("up", "scale('lr', 2.0)", "lr×2", show=False),
        Binding("down", "scale('lr', 0.5)", "lr÷2", show=False),
        Binding("right", "scale('decay', 2.0)", "decay×2", show=False),
        Binding("left", "scale('decay', 0.5)", "decay÷2", show=False),
        Binding("t", "toggle_scope", "All/new"),
        Binding("p", "pause", "Pause"),
        Binding("e", "edit", "Edit"),
        Binding("ctrl+s", "save", "Save"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, config: TeachConfig, palette: Palette | None = None) -> None:
        super().__init__()
        self.config, self.palette = config, palette
        self.system = PatchSystem.for_base(config.base)
        self.session: TeachSession | None = None
        self.stop = threading.Event()
        self.loop_finished = threading.Event()
        self.watcher: PatchWatcher | None = None
        self.current: tuple[LiveResult, TeachAnswer] | None = None
        self.saved: list[Path] = []
        self._new_only = self._paused = False

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="teach-main"):
            with Vertical(id="teach-live"):
                yield ImageView("loading the dataset…", palette=self.palette, id="teach-view")
                yield Label("", id="teach-base", markup=False)
                yield Label("", id="teach-answer", markup=False)
                yield Label("", id="teach-rates", markup=False)
            with VerticalScroll(id="teach-side"):
                yield Static("", id="teach-outputs")
                yield PatchPanel(self.config.patches, id="teach-patches")
                yield Static("", id="teach-cascade")
        yield Label("", id="teach-status", markup=False)
        yield Label("", id="teach-saves", markup=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#teach-view").border_title = "Live"
        self.query_one("#teach-outputs").border_title = "Taught patch (key, photos, answer)"
        self.query_one("#teach-cascade").border_title = "Patch folder"
        self.query_one(PatchPanel).refresh_from(self.system)
        self._setup()
        self.set_interval(STATUS_INTERVAL_S, self._show_status)

    def shutdown(self) -> None:
        self.stop.set()
        if self.watcher is not None:
            self.watcher.stop()

    async def on_unmount(self) -> None:
        self.shutdown()
        await asyncio.to_thread(self.loop_finished.wait, STOP_WAIT_S)
        if self.session is not None:
            self.session.close()

    # -- workers -------------------------------------------------------------------------
    @work(thread=True, group="teach-setup")
    def _setup(self) -> None:
        try:
            session = start_session(self.config, self.post_message, self.stop)
            if session is None:
                return
            if self.config.patches:
                self.watcher = watch_patches(
                    self.system,
                    self.config.patches,
                    lambda: self.call_from_thread(self._patches_changed),
                    self.post_message,
                )
            run_loop(self.config, session, self.system, self.post_message, self.stop)
        finally:
            self.loop_finished.set()

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
    def _save(self, then_quit: bool = False) -> None:
        assert self.session is not None
        try:
            saved = self.session.save()
        except (NeuralpatchError, OSError) as exc:
            self.post_message(TeachFailed("save", exc))
            return
        self.post_message(SaveFinished(saved, then_quit))

    # -- keys ----------------------------------------------------------------------------
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
            self.notify(str(exc), title="No new category", severity="error")
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
                self._save(then_quit=True)
                return
        self.app.exit(0)

    # -- messages ------------------------------------------------------------------------
    def on_setup_progress(self, message: SetupProgress) -> None:
        view = self.query_one("#teach-view", ImageView)
        view.placeholder = f"features of the dataset's photos: {message.done}/{message.total}"
        view.set_image(None)

    def on_session_ready(self, message: SessionReady) -> None:
        self.session = message.session
        view = self.query_one("#teach-view", ImageView)
        view.placeholder = f"opening {self.config.source}…"
        view.set_image(None)
        self._show_status()

    def on_frame_answered(self, message: FrameAnswered) -> None:
        if not self.is_current:
            return  # under a dialog: keep the screen still
        live, answer = message.live, message.answer
        self.current = (live, answer)
        self.query_one("#teach-view", ImageView).set_image(
            live.image, f"{live.frame.label} · frame {live.frame.number}"
        )
        self.query_one("#teach-base", Label).update(
            printable(f"base: {identified_line(live.result)}")
        )
        self.query_one("#teach-answer", Label).update(printable(answer_line(answer)))
        self.query_one("#teach-cascade", Static).update(cascade_lines(live.result))
        self._show_outputs(answer)

    def _show_outputs(self, answer: TeachAnswer | None) -> None:
        if self.session is not None:
            published = self.session.trainer.published
            self.query_one("#teach-outputs", Static).update(
                output_lines(self.session.outputs, published, answer)
            )

    def _show_status(self) -> None:
        session = self.session
        if session is None:
            return
        published = session.trainer.published
        self.query_one("#teach-rates", Label).update(rates_line(published))
        self.query_one("#teach-status", Label).update(
            printable(status_line(session.outputs, published, session.rolling_rate()))
        )
        where = session.last_saved.patch if session.last_saved else session.out_dir
        self.query_one("#teach-saves", Label).update(
            printable(f"^s saves into {where}" + ("  (unsaved)" if session.unsaved else ""))
        )
        if self.current is None:
            self._show_outputs(None)

    def _patches_changed(self) -> None:
        self.query_one(PatchPanel).refresh_from(self.system)

    def on_labelled(self, message: Labelled) -> None:
        self._show_status()
        self._show_outputs(self.current[1] if self.current else None)
        right = message.record.right
        said = "" if right is None else (" · it was right" if right else " · it was wrong")
        self.notify(printable(f"{message.name}: {message.record.path.name}{said}"), timeout=3)

    def on_save_finished(self, message: SaveFinished) -> None:
        saved = message.saved
        self.saved += [saved.snapshot, saved.patch, *saved.copies]
        self.notify(printable(f"{saved.patch}"), title="Saved", timeout=6)
        self._show_status()
        if message.then_quit:
            self.app.exit(0)

    def on_teach_failed(self, message: TeachFailed) -> None:
        self.notify(str(message.error), title=f"{message.what} failed", severity="error")
        if message.what in ("set-up", "live loop"):
            self.query_one("#teach-view", ImageView).placeholder = str(message.error)
            self.query_one("#teach-view", ImageView).set_image(None)
