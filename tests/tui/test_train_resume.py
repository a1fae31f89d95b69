"""A resumed run in the training app tells the truth: the status goes on from the snapshot's
step and training time, the loss plot keeps the history, x ticks never repeat, and a run
resumed in the app skips the output-layer dialog and keeps its rates."""

from __future__ import annotations

from pathlib import Path

import pytest
from pilot_helpers import run_async, screen_of, steps, wait_for, wait_for_screen
from textual.widgets import Input, Label

from neuralpatch.engine.loss_history import LossHistory
from neuralpatch.engine.snapshot import load_snapshot
from neuralpatch.main import main
from neuralpatch.tui.dialogs import ReconfigureDialog
from neuralpatch.tui.loss_log import LossPlot, StepAxis
from neuralpatch.tui.train_app import TrainApp

FIRST_STEPS = 400


@pytest.fixture(scope="module")
def first_snapshot(sample_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("first")
    argv = ["train", str(sample_data), "--headless", "--steps", str(FIRST_STEPS)]
    assert main([*argv, "--out", str(out)]) == 0
    return next(out.glob("*.npsnapshot"))


def status_text(app: TrainApp) -> str:
    return str(app.screen.query_one("#status-text", Label).render())


@run_async
async def test_a_resumed_run_continues_step_time_and_plot(train_app, first_snapshot):
    saved = load_snapshot(first_snapshot)
    app = train_app("--resume", str(first_snapshot), "--steps", "5")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("ctrl+t")
        screen = app.train_screen
        await wait_for(pilot, lambda: screen.trainer is not None, "the resumed trainer")
        await wait_for(pilot, lambda: screen.phase == "paused", "the 5 steps")
        await pilot.pause()
        report = screen.status.report
        assert report.step == FIRST_STEPS + 5
        assert report.elapsed_s > saved.hyper["elapsed_s"] > 0
        assert f"step {FIRST_STEPS + 5:,}" in status_text(app)
        plot = screen.query_one(LossPlot)
        history, losses = LossHistory.from_saved(saved.loss_history, saved.hyper).curve()
        assert history[-1] == FIRST_STEPS
        assert plot.steps[: len(history)] == history  # the snapshot's curve first
        assert plot.losses[: len(history)] == losses
        assert plot.steps[-1] == FIRST_STEPS + 5 and plot.steps == sorted(set(plot.steps))
        assert len(plot.steps) > 100  # the history, not just the 5 new steps


def test_the_status_shows_the_resumed_step_before_the_first_new_one(
    base_network, sample_data, first_snapshot, tmp_path
):
    """Between set-up and the first new step the status line still tells where the run is."""
    from conftest import train_options

    from neuralpatch.engine.training_plan import plan_training
    from neuralpatch.tui.status_bar import format_report

    options = train_options(sample_data, "--resume", str(first_snapshot), "--out", str(tmp_path))
    trainer = plan_training(options, base_network).trainer
    text = format_report(trainer.current_report(), "ready")
    assert f"step {FIRST_STEPS}" in text and "step 0 " not in text
    assert trainer.current_report().elapsed_s == load_snapshot(first_snapshot).hyper["elapsed_s"]


@pytest.mark.parametrize(
    ("low", "high"), [(104_943, 104_990), (0, 1_500), (1_000, 1_010), (999_000, 1_001_000)]
)
def test_step_tick_labels_never_repeat(low, high):
    axis = StepAxis()
    ticks = axis.get_ticks(low, high)
    labels = axis.get_labels_for_ticks(ticks)
    assert len(ticks) >= 2 and len(set(labels)) == len(labels), labels


@run_async
async def test_resume_skips_the_dialog_and_keeps_the_rates(train_app, out_dir: Path):
    app = train_app("--lr", "0.02", "--steps", "30")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: screen_of(app).phase == "paused", "the 30 steps")
        assert steps(app) == 30
        status = str(app.screen.query_one("#status-text", Label).content)
        assert "· step 30 ·" in status  # the last step, not the last throttled report
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: list(out_dir.glob("*.npsnapshot")), "the snapshot")
    snapshot = next(out_dir.glob("*.npsnapshot"))

    resumed = train_app("--resume", str(snapshot), "--steps", "5")
    async with resumed.run_test(size=(80, 24)) as pilot:
        assert resumed.screen.query_one("#lr", Input).value == "0.02"
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen_of(resumed).phase == "paused", "the 5 steps")
        assert steps(resumed) == 35
        assert screen_of(resumed).trainer.params.lr == 0.02


@run_async
async def test_status_shows_the_last_step_when_training_stops_by_itself(train_app):
    app = train_app("--patience", "3")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: screen_of(app).phase == "paused", "the early stop")
        status = str(app.screen.query_one("#status-text", Label).content)
        assert f"· step {steps(app):,} ·" in status  # not the last throttled report
