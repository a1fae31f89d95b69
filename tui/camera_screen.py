"""The live testing screen: the frame, the cascade, the layer progress bar, speed, patches.

The live loop and the patch watcher run in thread workers and reach the screen only through
the messages in `camera_messages`. The snap and teach flows live in `camera_flows`; the
heat-map, the market and stopping the loop in `live_screen`, shared with the teach screen.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Label, ProgressBar, Static

from neuralpatch.engine.camera_config import CameraConfig
from neuralpatch.engine.frame import FrameSourceError
from neuralpatch.engine.frame_source import make_source
from neuralpatch.engine.heatmap import Head
from neuralpatch.engine.live_loop import LiveLoop, LiveResult, SourceStatus
from neuralpatch.engine.safe_text import printable
from neuralpatch.tui.camera_flows import CameraFlows
from neuralpatch.tui.camera_messages import (
    LayerReached,
    LoopFailed,
    PassCompleted,
    SourceChanged,
)
from neuralpatch.tui.camera_patches import PatchPanel, cascade_lines, identified_line
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.image_view import ImageView, Overlay
from neuralpatch.tui.live_screen import HEAT_BINDINGS, MARKET_BINDING
from neuralpatch.tui.live_text import frame_title, overlays_for, stats_line

log = logging.getLogger(__name__)
LAYER_MESSAGE_INTERVAL_S = 1 / 30  # the bar cannot show more; thousands a second would flood
# Drawing a frame costs the UI thread more than a pass costs the loop on a small machine, so
# frames are shown at most this often; the loop itself runs (and counts fps) at full speed.
FRAME_MESSAGE_INTERVAL_S = 1 / 15


class CameraScreen(CameraFlows):
    # Plain keys live here, not on the app, so typing in a dialog never quits.
    BINDINGS = [
        Binding("s", "snap", "Snap to dataset"),
        MARKET_BINDING,
        Binding("t", "teach", "Teach"),
        *HEAT_BINDINGS,
        Binding("q", "app.quit", "Quit"),
    ]
    VIEW = "#camera-view"

    def __init__(self, config: CameraConfig, palette: Palette | None = None) -> None:
        super().__init__(config.base, config.patches, palette, config.min_probability)
        self.config = config
        self.current: LiveResult | None = None
        self.frozen = False
        self.snapped: list[Path] = []
        self.status: SourceStatus | None = None
        self.dropped = 0
        self._shown: dict[str, str] = {}  # selector -> text last drawn there

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="camera-main"):
            with Vertical(id="camera-live"):
                yield ImageView("starting…", palette=self.palette, id="camera-view")
                yield Label("", id="camera-identified", markup=False)
                yield ProgressBar(
                    total=self.config.base.layer_count, show_eta=False, id="camera-progress"
                )
                yield Label("", id="camera-stats", markup=False)
                yield Label("", id="camera-status", markup=False)
            with VerticalScroll(id="camera-side"):
                yield PatchPanel(self.config.patches, id="camera-patches")
                yield Static("waiting for the first frame…", id="camera-cascade")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#camera-view").border_title = "Live"
        self.query_one("#camera-cascade").border_title = "Last pass"
        self.query_one(PatchPanel).refresh_from(self.system)
        self._watch_patches()
        self._run_loop()

    # -- workers -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="camera-loop")
    def _run_loop(self) -> None:
        config = self.config
        last_layer = last_frame = 0.0

        def on_layer(done: int, total: int) -> None:
            nonlocal last_layer
            now = time.monotonic()
            if done == total or now - last_layer >= LAYER_MESSAGE_INTERVAL_S:
                last_layer = now
                self.post_message(LayerReached(done, total))

        def on_result(result: LiveResult) -> None:
            nonlocal last_frame
            now = time.monotonic()
            if now - last_frame >= FRAME_MESSAGE_INTERVAL_S:
                last_frame = now
                self.post_message(PassCompleted(result))

        try:
            source = make_source(config.source, realtime=config.realtime, interval=config.interval)
            loop = LiveLoop(
                config.base,
                source,
                self.system,
                top_k=config.top_k,
                min_confidence=config.min_confidence,
            )
            loop.run(
                self.stop,
                on_layer=on_layer,
                on_result=on_result,
                on_status=lambda s: self.post_message(SourceChanged(s)),
            )
        except FrameSourceError as exc:  # e.g. no such video: said once, not retried
            self.post_message(LoopFailed(exc))
        except Exception as exc:  # a bug or an OpenCL failure must not take the app down
            log.exception("the live loop failed")
            self.post_message(LoopFailed(exc))
        finally:
            self.loop_finished.set()

    @work(thread=True, group="camera-patches")
    def _watch_patches(self) -> None:
        self.watch_patch_folder()

    def heat_subject(self) -> tuple[LiveResult | None, Head | None]:
        return self.current, None

    def frame_overlays(self, live: LiveResult | None) -> list[Overlay]:
        return overlays_for(live) if live is not None else []

    # -- messages from the workers -------------------------------------------------------
    def on_pass_completed(self, message: PassCompleted) -> None:
        if self.frozen:
            return
        live = message.result
        self.current = live
        view = self.query_one("#camera-view", ImageView)
        view.set_image(live.image, frame_title(live))
        self.show_heat()
        self._update_if_changed("#camera-identified", identified_line(live.result))
        self.query_one("#camera-stats", Label).update(stats_line(live))
        if live.dropped != self.dropped:
            self.dropped = live.dropped
            self._show_status()
        self._update_if_changed("#camera-cascade", cascade_lines(live.result))
        self.query_one(ProgressBar).update(progress=self.config.base.layer_count)

    def _update_if_changed(self, selector: str, content: str | Text) -> None:
        """Redraw a text widget only when what it says changed (a steady scene repaints
        nothing there, however many patches fire)."""
        plain = content.plain if isinstance(content, Text) else content
        if self._shown.get(selector) != plain:
            self._shown[selector] = plain
            self.query_one(selector, Static).update(content)

    def on_layer_reached(self, message: LayerReached) -> None:
        if self.frozen:
            return  # under a dialog every repaint re-tints the whole screen: keep it still
        self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_source_changed(self, message: SourceChanged) -> None:
        status = self.status = message.status
        if status.state == "lost":
            self.current = None
            view = self.query_one("#camera-view", ImageView)
            view.placeholder = printable(status.message)
            view.set_overlays([])
            view.set_image(None, f"retrying in {status.retry_in:.1f} s (attempt {status.attempt})")
        self._show_status()

    def _show_status(self) -> None:
        status = self.status
        if status is None:
            return
        label = self.query_one("#camera-status", Label)
        label.set_class(status.state in ("lost", "failed"), "-error")
        if status.state == "lost":
            text = f"{status.message} — retrying in {status.retry_in:.1f} s"
        elif status.state == "opening":
            text = f"opening {status.source}…"
        elif status.state == "live":
            text = f"● {status.source} · {self.dropped:,} frames dropped"
        else:
            text = f"{status.source}: {status.state} {status.message}".strip()
        label.update(printable(text))

    def on_loop_failed(self, message: LoopFailed) -> None:
        error = printable(message.error)
        self.notify(error, title="The live loop stopped", severity="error", timeout=30)
        status = self.query_one("#camera-status", Label)
        status.set_class(True, "-error")
        status.update(f"stopped: {error}")
        view = self.query_one(self.VIEW, ImageView)
        view.placeholder = error
        view.set_overlays([])
        view.set_image(None, "stopped")
