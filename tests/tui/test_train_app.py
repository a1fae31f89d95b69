"""The training app driven with Pilot through real training runs on sample_data (OpenCL).

Features of sample_data are cached after the first run, so steps take microseconds;
augmentation (a base pass per step) is only switched on for a moment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pilot_helpers import (
    OUTPUTS,
    fill,
    run_async,
    screen_of,
    start_training,
    steps,
    wait_for,
    wait_for_screen,
)
from textual.widgets import Checkbox, Input, Label, ProgressBar, Static

from neuralpatch.engine.patch_file import load_patch
from neuralpatch.engine.snapshot import load_snapshot
from neuralpatch.engine.trainer import StepReport
from neuralpatch.tui.dialogs import InferenceDialog, ReconfigureDialog
from neuralpatch.tui.messages import LossReported, ProgressReported, SampleFed
from neuralpatch.tui.status_bar import StatusBar
from neuralpatch.tui.train_screen import TrainScreen


@run_async
async def test_no_goes_back_and_yes_trains(train_app, out_dir):
    app = train_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        dialog = app.screen
        assert [c.name for c in dialog.outputs] == OUTPUTS
        assert dialog.base_outputs == 1000 and len(dialog.triggers) == 13
        said = " ".join(str(s.content) for s in dialog.query(Static))
        assert f"Files go to {out_dir}{os.sep}" in said  # the whole path, before training
        await pilot.press("n")
        await wait_for_screen(pilot, TrainScreen)
        assert screen_of(app).phase == "idle" and screen_of(app).trainer is None
        assert not app.screen.query_one("#data", Input).disabled

        await start_training(pilot, app)
        status = app.screen.query_one("#status-text", Label)
        await wait_for(
            pilot,
            lambda: "img/s" in str(status.render()) and "step 0 " not in str(status.render()),
            "a status line",
        )
        text = str(status.render())
        assert text.startswith("training · step ") and "loss 0." in text and "val " in text
        feed = app.screen.query_one("#feed")
        await wait_for(pilot, lambda: feed.image is not None, "an image in the feed")
        assert any(f"→ {name}" in feed.caption for name in OUTPUTS)
        plot = app.screen.query_one("#loss-plot")
        await wait_for(pilot, lambda: len(plot.steps) > 1, "points in the loss plot")

        await pilot.press("ctrl+t")  # pause
        await wait_for(pilot, lambda: screen_of(app).phase == "paused", "the pause")
        paused_at = steps(app)
        await pilot.pause(0.2)
        assert steps(app) == paused_at
        builds = feed.build_count
        for _ in range(3):  # the same image again: nothing is redrawn
            app.screen.post_message(SampleFed(screen_of(app).last_sample))
        await pilot.pause()
        assert feed.build_count == builds
        await pilot.click("#train")  # the button resumes too
        await wait_for(pilot, lambda: steps(app) > paused_at, "training to resume")


@run_async
async def test_rates_and_augmentation_apply_while_running(train_app):
    app = train_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_training(pilot, app)
        trainer = screen_of(app).trainer
        fill(app, "#lr", "0.05")
        await pilot.pause()
        assert trainer.params.lr == 0.01  # typed, not yet confirmed
        await pilot.press("enter")
        await wait_for(pilot, lambda: trainer.params.lr == 0.05, "the new learning rate")

        field = fill(app, "#momentum", "1.5")  # out of range: flagged, never applied
        await pilot.pause()
        assert field.has_class("-invalid")
        assert "momentum" in str(app.screen.query_one("#hint", Label).render())
        await pilot.press("enter")
        assert trainer.params.momentum == 0.9
        fill(app, "#momentum", "0.8")
        await pilot.press("tab")  # leaving the field confirms it too
        await wait_for(pilot, lambda: trainer.params.momentum == 0.8, "the new momentum")

        before = steps(app)
        await pilot.press("ctrl+r")
        assert app.screen.query_one("#augment", Checkbox).value
        await wait_for(pilot, lambda: trainer.params.augment, "augmentation to apply")
        await wait_for(pilot, lambda: steps(app) >= before + 1, "an augmented step")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not trainer.params.augment, "augmentation to stop")


@run_async
async def test_stop_n_show_saves_then_steps_one_at_a_time(train_app, out_dir: Path):
    app = train_app("--name", "cats", "--description", "domestic or wild")
    async with app.run_test(size=(80, 24)) as pilot:
        await start_training(pilot, app)
        await pilot.press("ctrl+n")
        await wait_for_screen(pilot, InferenceDialog)
        dialog = app.screen
        shown_at = steps(app)
        assert dialog.query_one("#keep-stopping", Checkbox).value
        await pilot.pause(0.1)
        assert steps(app) == shown_at  # training waits for the answer

        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, InferenceDialog) and app.screen.saved is not None,
            "the saved paths",
        )
        saved = app.screen.saved
        assert str(saved.snapshot) in str(app.screen.query_one("#save-result").render())
        patch = load_patch(saved.patch)
        assert patch.name == "cats" and patch.description == "domestic or wild"
        assert [o.name for o in patch.outputs] == OUTPUTS
        snapshot = load_snapshot(saved.snapshot)
        assert snapshot.step == shown_at
        assert saved.snapshot.parent == out_dir
        assert app.train_screen.saved == [saved]  # printed when the app exits

        await pilot.press("n")  # next inference: exactly one more step
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, InferenceDialog)
                and app.screen is not dialog
                and app.screen.saved is None
            ),
            "the next inference",
        )
        assert steps(app) == shown_at + 1

        await pilot.press("ctrl+n", "n")  # uncheck stop-N-show in the dialog, then No
        await wait_for_screen(pilot, TrainScreen)
        assert not app.screen.query_one("#stop_n_show", Checkbox).value
        await wait_for(pilot, lambda: steps(app) > shown_at + 20, "training to resume")


@run_async
async def test_a_rate_typed_before_starting_stays_in_step_with_the_pane(train_app):
    app = train_app()
    async with app.run_test(size=(80, 24)) as pilot:
        fill(app, "#lr", "0.05")  # typed, not confirmed: ^t trains with what the pane shows
        await start_training(pilot, app)
        trainer = screen_of(app).trainer
        assert trainer.params.lr == 0.05
        fill(app, "#lr", "0.01")
        await pilot.press("enter")  # back to the old value: must still reach the trainer
        await wait_for(pilot, lambda: trainer.params.lr == 0.01, "the confirmed rate")


@run_async
async def test_feature_extraction_shows_progress(
    train_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NEURALPATCH_CACHE_DIR", str(tmp_path / "cache"))  # features uncached
    shown: list[tuple[int, int, str, bool]] = []
    original = StatusBar.show_progress

    def record(bar: StatusBar, done: int, total: int, what: str) -> None:
        original(bar, done, total, what)
        shown.append((done, total, what, bar.query_one(ProgressBar).display))

    monkeypatch.setattr(StatusBar, "show_progress", record)
    app = train_app("--steps", "1")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        await pilot.press("y")
        await wait_for(
            pilot, lambda: screen_of(app).phase == "paused", "feature extraction and one step"
        )
        assert not app.screen.query_one(ProgressBar).display  # hidden once training runs
    extraction = [entry for entry in shown if entry[2].startswith("extracting features")]
    assert extraction and all(total == 41 and visible for _, total, _, visible in extraction)
    assert extraction[-1][0] == 41


def test_high_rate_messages_collapse_into_the_latest():
    report = StepReport(1, 0.1, 1.0, 1.0, 100.0, 0.1, None)
    assert LossReported(report).can_replace(LossReported(report))
    assert not LossReported(report).can_replace(ProgressReported(1, 2, "x"))
    assert ProgressReported(1, 2, "x").can_replace(ProgressReported(2, 2, "x"))
