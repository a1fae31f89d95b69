"""The training screen says why ^t waits during set-up, and its toasts never cover a dialog."""

from __future__ import annotations

from pathlib import Path

import pytest
from pilot_helpers import run_async, wait_for, wait_for_screen

from neuralpatch.tui.dialogs import InferenceDialog, ReconfigureDialog
from neuralpatch.tui.train_screen import TrainScreen


def toasts(screen) -> list[str]:
    return [str(toast.render()) for toast in screen.query("Toast")]


@run_async
async def test_ctrl_t_during_feature_extraction_says_why_it_waits(
    train_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NEURALPATCH_CACHE_DIR", str(tmp_path / "cache"))  # extraction takes time
    app = train_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.train_screen
        # ^t twice, through the key's own path (run_action honours check_action), with no
        # idle wait between: the second lands while the set-up thread is still at work.
        assert await app.run_action("train", screen)
        assert screen.phase == "setting-up"
        assert screen.check_action("train", ()) is True  # not a greyed-out key that does nothing
        assert await app.run_action("train", screen)
        await pilot.pause()
        # Shown, or held back if the set-up's dialog opened first (a busy host's timing).
        said = [n.message for n in [*app._notifications, *screen.held_notices]]
        assert any("features first" in m and "y there starts training" in m for m in said)
        await wait_for_screen(pilot, ReconfigureDialog)  # set-up went on regardless


@run_async
async def test_saved_toast_waits_until_the_dialog_closes(train_app):
    app = train_app("--name", "cats")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        await pilot.press("y")
        screen = app.train_screen
        await wait_for(pilot, lambda: screen.trainer.state.step > 20, "training steps")
        await pilot.press("ctrl+s")  # a Saved toast on the training screen...
        await wait_for(pilot, lambda: any("Saved" in t for t in toasts(screen)), "the toast")
        await pilot.press("ctrl+n")  # ...then stop-N-show opens while it still shows
        await wait_for_screen(pilot, InferenceDialog)
        await pilot.pause(0.3)
        assert not toasts(app.screen)  # taken off the dialog
        await pilot.press("y")  # saving from the dialog: the dialog says where, no toast
        await wait_for(pilot, lambda: app.screen.saved is not None, "the save")
        await pilot.pause(0.3)
        assert not toasts(app.screen) and len(screen.held_notices) == 2
        await pilot.press("ctrl+n", "n")
        await wait_for_screen(pilot, TrainScreen)
        await wait_for(pilot, lambda: len(toasts(screen)) == 2, "both Saved toasts back")
        assert not screen.held_notices
