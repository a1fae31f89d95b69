"""The camera screen's flows that leave the live view: snapping a frame into a dataset (`s`)
and switching to teach mode for a loaded patch's dataset (`t`).

The snap flow is an async worker, so the screen keeps handling messages while the dialog
waits for an answer; the photo is saved in a thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import work

from neuralpatch.engine.camera_config import CameraConfig
from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.snap_to_dataset import SnapError, SnapTarget, find_targets, save_snap
from neuralpatch.engine.teach_config import teach_config_for
from neuralpatch.tui.camera_messages import SnapFailed, SnapSaved
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.live_screen import STOP_WAIT_S, LiveScreen
from neuralpatch.tui.snap_dialog import NO_TARGET_HELP, SnapChoice, SnapDialog
from neuralpatch.tui.teach_screen import TeachScreen


class CameraFlows(LiveScreen):
    """The snap and teach flows; `CameraScreen` adds the live view they start from."""

    config: CameraConfig
    current: LiveResult | None
    frozen: bool  # a dialog is asking about the frame on screen: it stays as it was
    snapped: list[Path]

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
        self.frozen = True
        view = self.query_one(self.VIEW, ImageView)
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

    @work(thread=True, group="camera-snap-save")
    def _save_snap(self, live: LiveResult, choice: SnapChoice) -> None:
        try:
            path = save_snap(live.image, choice.root, choice.tag)
        except SnapError as exc:
            self.post_message(SnapFailed(exc))
            return
        self.post_message(SnapSaved(path, choice.name))

    def on_snap_saved(self, message: SnapSaved) -> None:
        self.snapped.append(message.path)
        self.notify(
            printable(f"{message.path.name} in {message.path.parent}"),
            title=printable(f"Snapped as {message.category}"),
            timeout=6,
        )

    def on_snap_failed(self, message: SnapFailed) -> None:
        self.notify(printable(message.error), title="Snap not saved", severity="error", timeout=15)

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
