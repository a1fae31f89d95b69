"""The training app driven with Pilot through real training runs on sample_data (OpenCL).

Features of sample_data are cached after the first run, so steps take microseconds;
augmentation (a base pass per step) is only switched on for a moment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pilot_helpers import run_async, wait_for, wait_for_screen
from textual.widgets import Checkbox, Input, Label, ProgressBar, Static

from neuralpatch.engine.patch_file import load_patch
from neuralpatch.engine.snapshot import load_snapshot
from neuralpatch.engine.trainer import StepReport
from neuralpatch.tui.dialogs import InferenceDialog, QuitDialog, ReconfigureDialog
from neuralpatch.tui.messages import LossReported, ProgressReported, SampleFed
from neuralpatch.tui.quiet_output import quiet_output
from neuralpatch.tui.status_bar import StatusBar
from neuralpatch.tui.train_app import TrainApp
from neuralpatch.tui.train_screen import TrainScreen

OUTPUTS = ["domestic_cat", "wildcat_small_non_domestic", "big_cat"]


def screen_of(app: TrainApp) -> TrainScreen:
    return app.train_screen


def steps(app: TrainApp) -> int:
    trainer = screen_of(app).trainer
    return trainer.state.step if trainer else 0


async def start_training(pilot, app: TrainApp) -> None:
    """^t, then Yes in the output-layer dialog, then wait for real steps."""
    await pilot.press("ctrl+t")
    await wait_for_screen(pilot, ReconfigureDialog)
    await pilot.press("y")
    await wait_for(pilot, lambda: steps(app) > 20, "training steps")


def fill(app: TrainApp, selector: str, text: str) -> Input:
    """Focus a field and put text in it as typing would (validators run on the change).

    Not key by key: while training runs the CPU is never idle, and Pilot waits up to two
    seconds for idleness after every key.
    """
    field = app.screen.query_one(selector, Input)
    field.focus()
    field.value = text
    return field


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


@run_async
async def test_resume_skips_the_dialog_and_keeps_the_rates(train_app, out_dir: Path):
    app = train_app("--lr", "0.02", "--steps", "30")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: screen_of(app).phase == "paused", "the 30 steps")
        assert steps(app) == 30
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
async def test_bad_dataset_is_reported_and_the_app_carries_on(train_app, tmp_path: Path):
    data = tmp_path / "broken"
    data.mkdir()
    (data / "map_clsloc.txt").write_text("n02121808 1 domestic_cat\nthis is not a row\n")
    app = train_app(data=data)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app._notifications, "an error notification")
        await wait_for(pilot, lambda: screen_of(app).phase == "idle", "the idle state")
        (notification,) = list(app._notifications)
        assert notification.severity == "error" and "map_clsloc.txt" in notification.message
        assert not app.screen.query_one("#data", Input).disabled  # the user can fix it


@run_async
async def test_invalid_fields_block_training(train_app, tmp_path: Path):
    app = train_app(data=tmp_path / "missing")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.query_one("#data", Input).has_class("-invalid")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert screen_of(app).phase == "idle"
        (notification,) = list(app._notifications)
        assert "no such folder" in notification.message


@run_async
async def test_save_errors_name_the_file_and_keep_earlier_saves(
    train_app, out_dir: Path, tmp_path: Path
):
    not_png = tmp_path / "icon.png"
    not_png.write_bytes(b"not a png")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    app = train_app("--steps", "10")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: screen_of(app).phase == "paused", "the 10 steps")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: list(out_dir.glob("*.specialneurons")), "a first save")
        first = sorted(out_dir.iterdir())

        fill(app, "#icon", str(not_png))
        await pilot.pause()
        assert app.screen.query_one("#icon", Input).has_class("-invalid")
        app.clear_notifications()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app._notifications, "the refusal")
        assert "Icon PNG" in list(app._notifications)[0].message

        fill(app, "#icon", "")
        fill(app, "#out", str(blocker / "sub"))  # no folder can be made there
        app.clear_notifications()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app._notifications, "the save error")
        (notification,) = list(app._notifications)
        assert notification.severity == "error" and str(blocker) in notification.message
        assert sorted(out_dir.iterdir()) == first
        assert all(load_patch(p) for p in first if p.suffix == ".specialneurons")


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


def test_library_output_goes_to_the_log_file_not_the_terminal(tmp_path: Path):
    """Native writes to fd 2 (PoCL, OpenCV) and Python warnings land in the log file while
    Python's stderr, which Textual draws with, still reaches the terminal."""
    import logging
    import os
    import sys
    import warnings

    log = tmp_path / "train.log"
    master, slave = os.openpty()
    saved = os.dup(2)
    os.dup2(slave, 2)
    try:
        with quiet_output(log):
            os.write(2, b"native noise\n")
            warnings.warn("compiler chatter", UserWarning, stacklevel=1)
            logging.getLogger("neuralpatch.test").warning("a logged warning")
            sys.__stderr__.write("drawn by textual\n")
            sys.__stderr__.flush()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(slave)
    terminal = os.read(master, 4096).decode()
    os.close(master)
    assert "drawn by textual" in terminal and "native noise" not in terminal
    text = log.read_text()
    assert "native noise" in text and "compiler chatter" in text and "a logged warning" in text


@run_async
async def test_hostile_category_names_never_reach_the_terminal_raw(
    train_app, sample_data, tmp_path
):
    import shutil

    evil = "\x1b]0;pwned\x07\x9b2J"
    data = tmp_path / f"felix{evil}"
    shutil.copytree(sample_data, data)
    rows = (data / "map_clsloc.txt").read_text().splitlines()
    (data / "map_clsloc.txt").write_text("".join(f"{row}{evil}\n" for row in rows))
    app = train_app(data=data)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        await pilot.pause(0.2)
        dialog = "".join(strip.text for strip in app.screen._compositor.render_strips())
        await pilot.press("y")
        await wait_for(pilot, lambda: steps(app) > 5, "training steps")
        await pilot.pause(0.2)
        main = "".join(strip.text for strip in app.screen._compositor.render_strips())
    for text in (dialog, main):
        assert [c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F] == []
    assert "domestic_cat\\x1b]0;pwned" in dialog
    assert "felix\\x1b]0;pwned" in main  # the patch name field, defaulted from the folder
