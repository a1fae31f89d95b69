"""The training app shows coverage before training, adds suggested triggers with one key,
stops by itself by default and then shows what `eval --split val` reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pilot_helpers import run_async, wait_for, wait_for_screen
from textual.widgets import Label, Static

from neuralpatch.engine.dataset import MAP_NAME
from neuralpatch.main import main
from neuralpatch.tui.dialogs import ReconfigureDialog
from neuralpatch.tui.train_screen import TrainScreen

REMOVED = ("n02123045", "n02123159", "n02124075", "n02129165", "n02128385")


def low_coverage_copy(sample_data: Path, folder: Path) -> Path:
    shutil.copytree(sample_data, folder)
    rows = (folder / MAP_NAME).read_text().splitlines()
    (folder / MAP_NAME).write_text("\n".join(r for r in rows if r.split()[0] not in REMOVED) + "\n")
    return folder


@run_async
async def test_coverage_suggest_key_and_training_that_stops_by_itself(
    train_app, sample_data, tmp_path, out_dir, capsys
):
    data = low_coverage_copy(sample_data, tmp_path / "cats")
    rows = (data / MAP_NAME).read_text().splitlines()
    app = train_app("--patience", "5", "--name", "cats", data=data)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        text = str(app.screen.query_one("#coverage", Static).render())
        assert "Trigger coverage 49%" in text and "s: add" in text
        await pilot.press("s")  # write the suggested triggers, set up again
        await wait_for_screen(pilot, ReconfigureDialog)
        assert "Trigger coverage 100%" in str(app.screen.query_one("#coverage", Static).render())
        assert (data / MAP_NAME).read_text().splitlines()[: len(rows)] == rows
        await pilot.press("y")
        await wait_for_screen(pilot, TrainScreen)
        screen = app.screen
        await wait_for(
            pilot,
            lambda: screen.phase == "paused" and screen.trainer.stop_reason is not None,
            "training to stop by itself",
        )
        trainer = screen.trainer
        log_text = "\n".join(str(line.text) for line in screen.query_one("#loss-log").lines)
        assert "stopped by itself" in log_text and "did not trigger" in log_text
        status = str(screen.query_one("#status-text", Label).render())
        e2e = trainer.last_report.val_accuracy
        assert f"val end-to-end {e2e:.1%}" in status
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.saved, "the save")
    patch = screen.saved[-1].patch
    capsys.readouterr()
    assert main(["eval", str(patch), str(data), "--split", "val", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["end_to_end_accuracy"] == e2e  # the app's figure is eval's, exactly
    assert report["accuracy"] == trainer.last_report.val_when_triggered
