"""Quitting the training app driven with Pilot: it asks while training, saves and stops, asks
once however often ^q is pressed, and exits at once when nothing was trained."""

from __future__ import annotations

from pathlib import Path

from pilot_helpers import run_async, screen_of, start_training, steps, wait_for, wait_for_screen

from neuralpatch.engine.patch_file import load_patch
from neuralpatch.tui.dialogs import QuitDialog


@run_async
async def test_quit_while_training_asks_saves_and_stops(train_app, out_dir: Path):
    app = train_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_training(pilot, app)
        worker = screen_of(app)._train_worker
        await pilot.press("ctrl+q")
        await wait_for_screen(pilot, QuitDialog)
        assert worker.is_finished  # paused before asking
        stopped_at = steps(app)
        await pilot.press("escape")  # cancel: training goes on
        await wait_for(pilot, lambda: steps(app) > stopped_at, "training to resume")

        await pilot.press("ctrl+q")
        await wait_for_screen(pilot, QuitDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.return_value == 0, "the app to exit")
    assert not screen_of(app)._train_worker.is_running
    patches = list(out_dir.glob("*.specialneurons"))
    assert len(patches) == 1 and len(list(out_dir.glob("*.npsnapshot"))) == 1
    assert load_patch(patches[0]).name == "sample_data"


@run_async
async def test_quit_twice_asks_once_and_save_waits_for_trained_features(train_app):
    app = train_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert screen_of(app).check_action("save", ()) is None  # nothing trained yet
        await start_training(pilot, app)
        assert screen_of(app).check_action("save", ()) is True
        await pilot.press("ctrl+q", "ctrl+q")
        await wait_for_screen(pilot, QuitDialog)
        await pilot.pause(0.2)
        assert [type(s) for s in app.screen_stack].count(QuitDialog) == 1
        stopped_at = steps(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: steps(app) > stopped_at, "training to resume")
        assert not screen_of(app).quitting


@run_async
async def test_quit_before_training_exits_at_once(train_app):
    app = train_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_value == 0, "the app to exit")
