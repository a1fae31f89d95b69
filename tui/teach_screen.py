"""The teach screen: the live frame, the patch being taught answering it, and one-key labels.

Set-up and the live loop run in a thread worker (`teach_worker`) and reach the screen only
as the messages in `teach_messages`; the keys and their workers live in `teach_flows`; the
heat-map, the market and stopping the loop in `live_screen`, shared with the camera screen.
The frame loop never waits for training: it reads the weights the training thread last
published.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Label, Static

from neuralpatch.engine.heatmap import Head
from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.teach_answer import TeachAnswer
from neuralpatch.engine.teach_config import TeachConfig
from neuralpatch.engine.teach_files import is_session_copy
from neuralpatch.engine.teach_session import TeachSession
from neuralpatch.tui.camera_patches import PatchPanel, cascade_lines, identified_line
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.heatmap_overlay import taught_head
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.live_screen import HEAT_BINDINGS, MARKET_BINDING
from neuralpatch.tui.teach_flows import TeachFlows
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
from neuralpatch.tui.teach_worker import open_source, run_loop, start_session

STATUS_INTERVAL_S = 0.5
NARROW_BELOW = 100
TAUGHT = "{} (taught)"  # the taught patch's name in the heat-map badge: its saved copy in
# the patch folder may run under the plain name at the same time


class TeachScreen(TeachFlows):
    # In the order a user needs them: an 80-column footer shows the first seven.
    BINDINGS = [
        *[Binding(str(n), f"label({n - 1})", show=False) for n in range(1, MAX_KEYED + 1)],
        Binding("q", "quit", "Quit"),
        Binding("ctrl+s", "save", "Save"),
        Binding("b", "label(-1)", "Background"),
        Binding("n", "new_category", "New category"),
        Binding("e", "edit", "Edit"),
        *HEAT_BINDINGS,
        MARKET_BINDING,
        Binding("u", "publish", "Publish"),
        Binding("t", "toggle_scope", "All/new"),
        Binding("p", "pause", "Pause"),
        Binding("up", "scale('lr', 2.0)", "lr×2", show=False),
        Binding("down", "scale('lr', 0.5)", "lr÷2", show=False),
        Binding("right", "scale('decay', 2.0)", "decay×2", show=False),
        Binding("left", "scale('decay', 0.5)", "decay÷2", show=False),
    ]
    VIEW = "#teach-view"
    # Below 100 columns the side panel narrows (`-narrow` in the .tcss) so the frame keeps
    # half the width; its output names are cut shorter to fit.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_BELOW, "-wide")]

    def __init__(self, config: TeachConfig, palette: Palette | None = None) -> None:
        super().__init__(config.base, config.patches, palette)
        self.config = config
        self.session: TeachSession | None = None
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
            with VerticalScroll(id="teach-side"):
                yield Static("", id="teach-outputs")
                yield Label("", id="teach-rates", markup=False)
                yield PatchPanel(self.config.patches, id="teach-patches")
                yield Static("", id="teach-cascade")
        yield Label("", id="teach-status", markup=False)
        yield Label("", id="teach-saves", markup=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#teach-view").border_title = "Live"
        self.query_one("#teach-outputs").border_title = "Taught patch (key, photos, answer)"
        self.query_one("#teach-cascade").border_title = "Last pass"
        self.query_one(PatchPanel).refresh_from(self.system)
        self._setup()
        self.set_interval(STATUS_INTERVAL_S, self._show_status)

    def loop_stopped(self) -> None:
        if self.session is not None:
            self.session.close()

    @work(thread=True, group="teach-setup")
    def _setup(self) -> None:
        try:
            source = open_source(self.config, self.post_message)
            if source is None:
                return
            session = start_session(self.config, self.post_message, self.stop)
            if session is None:
                return
            self.watch_patch_folder(create=True)
            run_loop(self.config, source, session, self.system, self.post_message, self.stop)
        finally:
            self.loop_finished.set()

    # -- heat-map ------------------------------------------------------------------------
    def heat_subject(self) -> tuple[LiveResult | None, Head | None]:
        if self.current is None or self.session is None:
            return None, None
        live, answer = self.current
        if not answer.triggered:  # it gives no answer here: show what did answer
            return live, None
        head = taught_head(
            TAUGHT.format(self.session.name),
            answer.outputs,
            self.session.trainer.published,
            answer.index,
        )
        return live, head

    # -- messages ------------------------------------------------------------------------
    def on_setup_progress(self, message: SetupProgress) -> None:
        view = self.query_one(self.VIEW, ImageView)
        view.placeholder = f"features of the dataset's photos: {message.done:,}/{message.total:,}"
        view.set_image(None)

    def on_session_ready(self, message: SessionReady) -> None:
        self.session = message.session
        view = self.query_one(self.VIEW, ImageView)
        view.placeholder = printable(f"opening {self.config.source}…")
        view.set_image(None)
        self._show_status()

    def on_frame_answered(self, message: FrameAnswered) -> None:
        if not self.is_current:
            return  # under a dialog: keep the screen still
        live, answer = message.live, message.answer
        self.current = (live, answer)
        self.query_one(self.VIEW, ImageView).set_image(
            live.image, printable(f"{live.frame.label} · frame {live.frame.number:,}")
        )
        self.show_heat()
        self.query_one("#teach-base", Label).update(
            printable(f"base: {identified_line(live.result)}")
        )
        self.query_one("#teach-answer", Label).update(printable(answer_line(answer)))
        self.query_one("#teach-cascade", Static).update(cascade_lines(live.result))
        self._show_outputs(answer)

    def _show_outputs(self, answer: TeachAnswer | None) -> None:
        if self.session is not None:
            published = self.session.trainer.published
            width = 12 if self.has_class("-narrow") else 22
            self.query_one("#teach-outputs", Static).update(
                output_lines(self.session.outputs, published, answer, width)
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

    def on_labelled(self, message: Labelled) -> None:
        self._show_status()
        self._show_outputs(self.current[1] if self.current else None)
        right = message.record.right
        said = "" if right is None else (" · it was right" if right else " · it was wrong")
        self.notify(printable(f"{message.name}: {message.record.path.name}{said}"), timeout=3)

    def wrote_itself(self, path: Path) -> bool:
        session = self.session
        return session is not None and is_session_copy(path, session.name, session.patches_dir)

    def on_save_finished(self, message: SaveFinished) -> None:
        saved = message.saved
        self.saved += [saved.snapshot, saved.patch, *saved.copies]
        self.notify(printable(f"{saved.patch}"), title="Saved", timeout=6)
        self._show_status()
        if message.then == "quit":
            self.app.exit(0)
        elif message.then == "publish":
            self.publish_saved(saved.patch)

    def on_teach_failed(self, message: TeachFailed) -> None:
        error = printable(message.error)
        self.notify(error, title=f"{message.what} failed", severity="error")
        if message.what in ("set-up", "live loop", "source"):
            view = self.query_one(self.VIEW, ImageView)
            view.placeholder = error
            view.set_overlays([])
            view.set_image(None, "stopped")
