"""Bad input in the training app driven with Pilot: a broken dataset, invalid fields and failed
saves are reported naming the file and the app carries on; library output and hostile category
names never reach the terminal raw."""

from __future__ import annotations

import os
from pathlib import Path

from pilot_helpers import fill, run_async, screen_of, steps, wait_for, wait_for_screen
from textual.widgets import Input

from neuralpatch.engine.patch_file import load_patch
from neuralpatch.tui.dialogs import ReconfigureDialog
from neuralpatch.tui.quiet_output import quiet_output


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


def test_library_output_goes_to_the_log_file_not_the_terminal(tmp_path: Path):
    """Native writes to fd 2 (PoCL, OpenCV) and Python warnings land in the log file while
    Python's stderr, which Textual draws with, still reaches the terminal."""
    import logging
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
