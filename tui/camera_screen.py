"""The live testing screen: the frame, the cascade, the layer progress bar, speed, patches.

The live loop and the patch watcher run in thread workers and reach the screen only through
the messages in `camera_messages`. The snap flow is an async worker, so the screen keeps
handling messages while the dialog waits for an answer; the photo is saved in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, ProgressBar, Static

from neuralpatch.engine.camera_config import CameraConfig
from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.frame_source import make_source
from neuralpatch.engine.live_loop import LiveLoop, LiveResult, SourceStatus
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.patch_watcher import PatchWatcher
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.snap import SnapError, SnapTarget, find_targets, save_snap
from neuralpatch.engine.teach_config import teach_config_for
from neuralpatch.tui.camera_messages import (
    LayerReached,
    LoopFailed,
    PassCompleted,
    PatchesChanged,
    SnapFailed,
    SnapSaved,
    SourceChanged,
)
from neuralpatch.tui.camera_patches import PatchPanel, cascade_lines, identified_line
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.heatmap_overlay import HeatmapOverlay
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.live_text import frame_title, overlays_for, stats_line
from neuralpatch.tui.snap_dialog import NO_TARGET_HELP, SnapChoice, SnapDialog
from neuralpatch.tui.teach_screen import TeachScreen

log = logging.getLogger(__name__)
LAYER_MESSAGE_INTERVAL_S = 1 / 30  # the bar cannot show more; thousands a second would flood
# Drawing a frame costs the UI thread more than a pass costs the loop on a small machine, so
# frames are shown at most this often; the loop itself runs (and counts fps) at full speed.
FRAME_MESSAGE_INTERVAL_S = 1 / 15
STOP_WAIT_S = 5.0


class CameraScreen(Screen[None]):
    # Plain keys live here, not on the app, so typing in a dialog never quits.
    BINDINGS = [
        Binding("s", "snap", "Snap to dataset"),
        Binding("m", "market", "Market"),
        Binding("t", "teach", "Teach"),
        Binding("h", "heatmap", "Heat-map"),
        Binding("c", "cycle_heatmap", "Next map"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, config: CameraConfig, palette: Palette | None = None) -> None:
        super().__init__()
        self.config, self.palette = config, palette
        self.system = PatchSystem.for_base(config.base, config.min_probability)
        self.stop = threading.Event()
        self.loop_finished = threading.Event()
        self.watcher: PatchWatcher | None = None
        self.current: LiveResult | None = None
        self.frozen = False
        self.snapped: list[Path] = []
        self.status: SourceStatus | None = None
        self.dropped = 0
        self.heat = HeatmapOverlay(config.base)
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

    def shutdown(self) -> None:
        """Stop the loop and the watcher (the loop ends after the pass under way)."""
        self.stop.set()
        if self.watcher is not None:
            self.watcher.stop()

    async def on_unmount(self) -> None:
        self.shutdown()
        # Wait for the pass under way: the base network must be idle once the app is gone.
        await asyncio.to_thread(self.loop_finished.wait, STOP_WAIT_S)

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
        except Exception as exc:  # a bug or an OpenCL failure must not take the app down
            log.exception("the live loop failed")
            self.post_message(LoopFailed(exc))
        finally:
            self.loop_finished.set()

    @work(thread=True, group="camera-patches")
    def _watch_patches(self) -> None:
        if not self.config.patches:
            return
        watcher = PatchWatcher(self.system, self.config.patches)
        watcher.add_listener(lambda event: self.post_message(PatchesChanged(event)))
        self.watcher = watcher
        try:
            watcher.start()
        except (NeuralpatchError, OSError) as exc:  # OSError: e.g. out of inotify watches
            self.watcher = None
            self.post_message(PatchesChanged(error=exc))
            return
        if self.stop.is_set():  # the app closed while the folder loaded
            watcher.stop()

    @work(thread=True, group="camera-snap-save")
    def _save_snap(self, live: LiveResult, choice: SnapChoice) -> None:
        try:
            path = save_snap(live.image, choice.root, choice.tag)
        except SnapError as exc:
            self.post_message(SnapFailed(exc))
            return
        self.post_message(SnapSaved(path, choice.name))

    def action_market(self) -> None:
        """Browse a catalogue; an install lands in the watched folder and reloads live."""
        from neuralpatch.tui.market_screen import MarketScreen

        self.app.push_screen(MarketScreen(self.config.patches, self.system, self.palette))

    # -- heat-map ------------------------------------------------------------------------
    def action_heatmap(self) -> None:
        self.heat.toggle()
        self._show_heat(self.current)

    def action_cycle_heatmap(self) -> None:
        if self.heat.cycle(self.current) is None:
            self.notify("No patch ran on this frame: the map is the base network's.", timeout=3)
        self.heat.enabled = True
        self._show_heat(self.current)

    def _show_heat(self, live: LiveResult | None) -> None:
        view = self.query_one("#camera-view", ImageView)
        layer = self.heat.layer_for(live)
        view.set_layer(layer)
        view.set_overlays((overlays_for(live) if live else []) + self.heat.overlays(layer))

    # -- snap flow -----------------------------------------------------------------------
    def action_snap(self) -> None:
        if self.frozen:
            return
        if self.current is None:
            self.notify("No frame to snap yet.", severity="warning")
            return
        self._snap_flow(self.current)

    def snap_targets(self) -> tuple[list[SnapTarget], list[str]]:
        """Datasets on offer: --dataset folders and the loaded patches' training folders."""
        patch_files = [(p.name, p.path) for p in self.system.patches]
        return find_targets(self.config.datasets, patch_files, self.config.base.classes.tag_names())

    @work(exclusive=True, group="camera-snap")
    async def _snap_flow(self, live: LiveResult) -> None:
        self.frozen = True  # the frame stays as it was while the dialog asks
        view = self.query_one("#camera-view", ImageView)
        view.border_title = "Frozen (snap)"
        best = live.result.top[0]
        said = [f"{r.name}: {r.answer_name} {r.probability:.0%}" for _, r in live.result.walk()]
        hint = (
            f"Base network: {best.name} {best.probability:.0%}; "
            f"{'; '.join(said) if said else 'no patch triggered'}. "
            "What is it really? Choose the dataset and the correct category."
        )
        hint = printable(hint)
        try:
            targets, problems = await asyncio.to_thread(self.snap_targets)
            choice = await self.app.push_screen_wait(
                SnapDialog(live.image, targets, problems, self.palette, hint)
            )
        finally:
            self.frozen = False
            view.border_title = "Live"
        if choice is not None:
            self._save_snap(live, choice)

    @work(exclusive=True, group="camera-snap")
    async def action_teach(self) -> None:
        """Turn the live tester into teach mode for a loaded patch's dataset."""
        targets, _ = await asyncio.to_thread(self.snap_targets)
        config = teach_config_for(self.config, self.system, targets)
        if config is None:
            self.notify(NO_TARGET_HELP, title="Nothing to teach", severity="warning", timeout=10)
            return
        self.shutdown()  # one loop at a time on the base network
        await asyncio.to_thread(self.loop_finished.wait, STOP_WAIT_S)
        # From the app, not this worker: switching removes this screen and cancels its workers.
        self.app.call_later(self.app.switch_screen, TeachScreen(config, self.palette))

    # -- messages from the workers -------------------------------------------------------
    def on_pass_completed(self, message: PassCompleted) -> None:
        if self.frozen:
            return
        live = message.result
        self.current = live
        view = self.query_one("#camera-view", ImageView)
        view.set_image(live.image, frame_title(live))
        self._show_heat(live)
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
            text = f"● {status.source} · {self.dropped} frames dropped"
        else:
            text = f"{status.source}: {status.state} {status.message}".strip()
        label.update(printable(text))

    def on_loop_failed(self, message: LoopFailed) -> None:
        error = printable(message.error)
        self.notify(error, title="The live loop stopped", severity="error", timeout=30)
        self.query_one("#camera-status", Label).update(f"stopped: {error}")

    def on_patches_changed(self, message: PatchesChanged) -> None:
        if message.error is not None:
            error = printable(message.error)
            self.notify(error, title="Patch folder", severity="error", timeout=15)
            self.query_one(PatchPanel).show_error(str(message.error))
            return
        event = message.event
        if event is not None and event.kind == "rejected":
            self.notify(
                printable(f"{event.path.name}: {event.reason}"),
                title="Patch rejected",
                severity="warning",
                timeout=10,
            )
        elif event is not None and event.kind in ("replaced", "removed"):
            self.notify(printable(f"{event.name or event.path.name} {event.kind}"), timeout=3)
        self.query_one(PatchPanel).refresh_from(self.system)

    def on_snap_saved(self, message: SnapSaved) -> None:
        self.snapped.append(message.path)
        self.notify(
            printable(f"{message.path.name} in {message.path.parent}"),
            title=printable(f"Snapped as {message.category}"),
            timeout=6,
        )

    def on_snap_failed(self, message: SnapFailed) -> None:
        self.notify(printable(message.error), title="Snap not saved", severity="error", timeout=15)
