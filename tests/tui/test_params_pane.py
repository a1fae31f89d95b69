"""The parameters pane tells the truth before training: where files go, what is wrong, why."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import train_options
from pilot_helpers import run_async, wait_for
from textual.widgets import Input, Label

from neuralpatch.engine.training_plan import default_out_dir
from neuralpatch.tui.params_pane import ParamsPane
from neuralpatch.tui.train_app import make_train_app


def test_default_output_folder_is_visible_beside_the_dataset(tmp_path: Path):
    assert default_out_dir(tmp_path / "felix") == tmp_path / "felix-patches"
    assert train_options(tmp_path / "felix").out_dir() == tmp_path / "felix-patches"
    assert ".cache" not in str(default_out_dir(tmp_path / "felix"))


def test_default_output_inside_the_working_folder_is_shown_relative(tmp_path, monkeypatch):
    """Relative, so it fits the field; the start dialog shows the whole path."""
    monkeypatch.chdir(tmp_path)
    assert ParamsPane._out_placeholder("cats") == f"cats-patches{os.sep} (default)"
    assert ParamsPane._out_placeholder(" ") == "default: beside the dataset"


@run_async
async def test_pane_shows_the_full_output_path_and_marks_an_unusable_one(
    base_network, sample_data, tmp_path
):
    data = tmp_path / "cats"
    shutil.copytree(sample_data, data)
    app = make_train_app(train_options(data), base=base_network, palette="256")
    async with app.run_test(size=(80, 24)) as pilot:
        out = app.screen.query_one("#out", Input)
        assert out.placeholder == f"{tmp_path / 'cats-patches'}{os.sep} (default)"
        assert out.is_valid
        blocker = tmp_path / "a-file"
        blocker.write_text("in the way")
        out.value = str(blocker / "patches")
        hint = app.screen.query_one("#hint", Label)
        await wait_for(pilot, lambda: f"not a folder: {blocker}" in str(hint.content))
        assert not out.is_valid
        out.value = ""  # the default again: the folder beside the dataset can be made
        await wait_for(pilot, lambda: out.is_valid)


@run_async
async def test_a_bad_rate_shows_its_whole_message_and_range(train_app):
    app = train_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#batch_size", Input).value = "1.5"
        hint = app.screen.query_one("#hint", Label)
        await wait_for(pilot, lambda: "[1, 4096]" in str(hint.content))
        await pilot.pause()
        assert hint.size.height >= 2  # wrapped at 80 columns, not cut
        assert "batch size must be a whole number in [1, 4096]" in str(hint.content)
