"""What the camera and teach screens share: a live loop on a worker thread, the watched patch
folder and its panel, the heat-map overlay (`h` toggles, `c` cycles) and the market (`m`).

`LiveScreen` owns the stop event the loop and the watcher obey and waits for the pass under
way when the screen goes, so the base network is idle once the app has left.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from textual.binding import Binding

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.heatmap import Head
from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.patch_watcher import PatchWatcher
from neuralpatch.engine.safe_text import printable
from neuralpatch.tui.camera_messages import PatchesChanged
from neuralpatch.tui.camera_patches import PatchPanel
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.heatmap_overlay import HeatmapOverlay
from neuralpatch.tui.held_notices import HeldNotices
from neuralpatch.tui.image_view import ImageView, Overlay

HEAT_BINDINGS = [
    Binding("h", "heatmap", "Heat-map"),
    Binding("c", "cycle_heatmap", "Next map"),
]
MARKET_BINDING = Binding("m", "market", "Market")
STOP_WAIT_S = 5.0


class LiveScreen(HeldNotices):
    """Base of the live screens; subclasses say which view shows the frame (`VIEW`) and what
    the heat-map may explain on it (`heat_subject`)."""

    VIEW = ""  # the selector of the ImageView showing the live frame

    def __init__(
        self,
        base: BaseNetwork,
        patches: str | None,
        palette: Palette | None,
        min_probability: float = 0.0,
    ) -> None:
        super().__init__()
        self.patches, self.palette = patches, palette
        self.system = PatchSystem.for_base(base, min_probability)
        self.stop = threading.Event()
        self.loop_finished = threading.Event()
        self.watcher: PatchWatcher | None = None
        self.heat = HeatmapOverlay(base)

    def shutdown(self) -> None:
        """Stop the loop and the watcher (the loop ends after the pass under way)."""
        self.stop.set()
        if self.watcher is not None:
            self.watcher.stop()

    async def on_unmount(self) -> None:
        self.shutdown()
        # Wait for the pass under way: the base network must be idle once the app is gone.
        await asyncio.to_thread(self.loop_finished.wait, STOP_WAIT_S)
        self.loop_stopped()

    def watch_patch_folder(self, create: bool = False) -> None:
        """Load and watch --patches (from a worker thread): changes arrive as
        `PatchesChanged`; `create` makes a missing folder (teach mode saves into it)."""
        if not self.patches:
            return
        watcher = PatchWatcher(self.system, self.patches)
        watcher.add_listener(lambda event: self.post_message(PatchesChanged(event)))
        self.watcher = watcher
        try:
            if create:
                Path(self.patches).expanduser().mkdir(parents=True, exist_ok=True)
            watcher.start()
        except (NeuralpatchError, OSError) as exc:  # OSError: e.g. out of inotify watches
            self.watcher = None
            self.post_message(PatchesChanged(error=exc))
            return
        if self.stop.is_set():  # the screen closed while the folder loaded
            watcher.stop()

    def wrote_itself(self, path: Path) -> bool:
        """Whether this screen wrote (or removed) `path` in the patch folder itself, so its
        reload is no news (teach mode's saves); the panel still follows it."""
        return False

    def loop_stopped(self) -> None:
        """Called once the loop has ended as the screen goes (teach closes its trainer)."""

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
        elif (
            event is not None
            and event.kind in ("replaced", "removed")
            and not self.wrote_itself(event.path)
        ):
            self.notify(printable(f"{event.name or event.path.name} {event.kind}"), timeout=3)
        self.query_one(PatchPanel).refresh_from(self.system)

    # -- heat-map ------------------------------------------------------------------------
    def heat_subject(self) -> tuple[LiveResult | None, Head | None]:
        """The frame on screen and, in teach mode, the taught patch's head on it."""
        return None, None

    def frame_overlays(self, live: LiveResult | None) -> list[Overlay]:
        """The badges drawn over the frame besides the heat-map's own."""
        return []

    def action_heatmap(self) -> None:
        self.heat.toggle()
        self.show_heat()

    def action_cycle_heatmap(self) -> None:
        live, taught = self.heat_subject()
        if self.heat.cycle(live, taught) is None:
            self.notify("No patch ran on this frame: the map is the base network's.", timeout=3)
        self.heat.enabled = True
        self.show_heat()

    def show_heat(self) -> None:
        """Redraw the overlay for the frame on screen (off: just the frame's badges)."""
        live, taught = self.heat_subject()
        view = self.query_one(self.VIEW, ImageView)
        layer = self.heat.layer_for(live, taught)
        view.set_layer(layer)
        width = _frame_columns(view, live) if live is not None else None
        view.set_overlays(self.frame_overlays(live) + self.heat.overlays(layer, width))

    # -- market --------------------------------------------------------------------------
    def action_market(self) -> None:
        """Browse a catalogue; an install lands in the watched folder and reloads live."""
        from neuralpatch.tui.market_screen import MarketScreen

        self.app.push_screen(MarketScreen(self.patches, self.system, self.palette))


def _frame_columns(view: ImageView, live: LiveResult) -> int:
    """About how many cells wide the frame is drawn (half-blocks: two pixel rows a cell;
    one row is the caption)."""
    size = view.content_size
    height, width = live.image.shape[:2]
    return max(1, min(size.width, int(2 * (size.height - 1) * width / max(height, 1))))
