"""Teach mode from the training screen: ^l asks for a source, saves the training, opens the
teach screen on the same dataset from those weights, and q comes back to training."""

from __future__ import annotations

import shutil

from pilot_helpers import run_async, wait_for, wait_for_screen
from textual.widgets import Input

from neuralpatch.engine.snapshot import load_snapshot
from neuralpatch.tui.dialogs import QuitDialog, ReconfigureDialog
from neuralpatch.tui.train_screen import TrainScreen
from neuralpatch.tui.train_teach import TeachSourceDialog, TrainingTeachScreen


@run_async
async def test_teach_key_opens_teach_mode_on_the_trained_weights(
    train_app, sample_data, tmp_path, out_dir
):
    data, stream = tmp_path / "cats", tmp_path / "stream"
    shutil.copytree(sample_data, data)
    stream.mkdir()
    for photo in sorted(sample_data.glob("n*.jpg"))[::10]:
        shutil.copy(photo, stream)
    app = train_app("--name", "cats", data=data)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.train_screen
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.trainer.state.step > 20, "training steps")
        await pilot.press("ctrl+l")
        await wait_for_screen(pilot, TeachSourceDialog)
        assert "the current weights" in str(app.screen.query_one("#teach-source-text").render())
        app.screen.query_one(Input).value = str(stream)
        await pilot.press("enter")
        await wait_for_screen(pilot, TrainingTeachScreen)
        teach = app.screen
        step = screen.trainer.state.step  # paused, and saved before teach mode opened
        assert screen.phase == "paused" and screen.saved and not screen.unsaved_steps
        assert teach.config.resume == str(screen.saved[-1].snapshot)
        assert teach.config.dataset == str(data) and teach.config.out == str(out_dir)
        await wait_for(pilot, lambda: teach.current is not None, "the first answered frame")
        assert load_snapshot(teach.config.resume).step == step
        assert teach.session.trainer.step >= step  # it goes on from the trained weights
        before = len(list(data.glob("n02121808_*.jpg")))
        await pilot.press("1")  # label a frame: saved into the dataset being trained
        await wait_for(pilot, lambda: len(teach.session.rolling) == 1, "the label")
        assert len(list(data.glob("n02121808_*.jpg"))) == before + 1
        await pilot.press("ctrl+q")  # leaves teach mode first (asking about its labels)
        await wait_for_screen(pilot, QuitDialog)
        await pilot.press("n")  # leave teach mode without saving it
        await wait_for_screen(pilot, TrainScreen)
        assert app.is_running and screen.phase == "paused"
        assert screen.trainer.state.step == step
