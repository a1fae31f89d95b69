"""The teach screen driven with its keys: label, rates, scope, pause, new category, edit, save."""

from __future__ import annotations

from pilot_helpers import recorded_notifications, run_async, wait_for, wait_for_screen

from neuralpatch.commands.camera import camera_config
from neuralpatch.engine.patch_file import load_patch
from neuralpatch.engine.teach_config import TeachConfig
from neuralpatch.main import build_parser
from neuralpatch.tui.camera_app import make_camera_app
from neuralpatch.tui.category_dialog import CategoryDialog
from neuralpatch.tui.dialogs import QuitDialog
from neuralpatch.tui.teach_app import make_teach_app
from neuralpatch.tui.teach_edit_dialog import TeachEditDialog
from neuralpatch.tui.teach_screen import TeachScreen


def _teach_app(base_network, tmp_path, teach_dataset):
    """The teach app on the test dataset, saving into tmp_path/out and tmp_path/patches."""
    root, source = teach_dataset
    patches = tmp_path / "patches"
    config = TeachConfig(
        base_network, root, str(source), str(patches), out=str(tmp_path / "out"), interval=0.5
    )
    return make_teach_app(config, palette="256"), patches


@run_async
async def test_keys_drive_the_teach_loop(base_network, tmp_path, teach_dataset):
    root, _ = teach_dataset
    app, patches = _teach_app(base_network, tmp_path, teach_dataset)
    async with app.run_test(size=(140, 44)) as pilot:
        screen = app.teach_screen
        await wait_for(pilot, lambda: screen.current is not None, "the first answered frame")
        session = screen.session
        before = len(list(root.glob("n02121808_*.jpg")))
        await pilot.press("1")
        await wait_for(pilot, lambda: len(session.rolling) == 1, "the first label")
        assert len(list(root.glob("n02121808_*.jpg"))) == before + 1
        await pilot.press("b")
        await wait_for(pilot, lambda: len(session.rolling) == 2, "the background label")
        background = session.outputs[-1]
        assert len(list(root.glob(f"{background.tag}_*.jpg"))) == 1
        lr, decay = session.trainer.published.rates.lr, session.trainer.published.rates.decay
        await pilot.press("p", "up", "up", "left", "t")  # paused first: an idle app tests faster
        await wait_for(pilot, lambda: session.trainer.published.new_only, "the messages")
        published = session.trainer.published
        assert published.rates.lr == 4 * lr and published.rates.decay == decay / 2
        assert published.paused
        assert "lr " in str(screen.query_one("#teach-rates").render())

        await pilot.press("n")
        await wait_for_screen(pilot, CategoryDialog)
        await pilot.press(*"mug", "enter")
        await wait_for(pilot, lambda: len(session.outputs) == 5, "the new category")
        assert session.outputs[3].name == "mug" and "mug" in (root / "map_clsloc.txt").read_text()
        await pilot.press("4")  # the new category's key: it had no photo, now it has one
        await wait_for(pilot, lambda: len(session.rolling) == 3, "a label of the new category")
        assert len(list(root.glob(f"{session.outputs[3].tag}_*.jpg"))) == 1

        await pilot.press("e")
        await wait_for_screen(pilot, TeachEditDialog)
        newest = session.records[0].path
        await pilot.press("d")
        assert not newest.exists() and session.trainer.published.counts[3] == 0
        await pilot.press("escape")

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(screen.saved) == 4, "the save")
        assert load_patch(screen.saved[1]).background == 4
        assert len(list(patches.glob("*.specialneurons"))) == 1  # the hot-reloaded copy
        await pilot.press("p")  # training again: unsaved steps
        await wait_for(pilot, lambda: session.unsaved, "training after the save")
        await pilot.press("q")
        await wait_for_screen(pilot, QuitDialog)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.return_code is not None, "the app to quit")


@run_async
async def test_saving_into_the_patch_folder_is_one_notice_not_three(
    base_network, tmp_path, teach_dataset
):
    """The watcher reloads the copies a save writes (and removes the last save's): that is
    the save itself, so only "Saved" shows; news about anyone else's file still does."""
    app, patches = _teach_app(base_network, tmp_path, teach_dataset)
    async with app.run_test(size=(140, 44)) as pilot:
        screen = app.teach_screen
        await wait_for(pilot, lambda: screen.current is not None, "the first answered frame")
        await pilot.press("p")
        seen = recorded_notifications(screen)
        for saves in (1, 2):
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda saves=saves: len(screen.saved) == 4 * saves, "a save")
            await wait_for(
                pilot,
                lambda: [p.path for p in screen.system.patches] == [screen.saved[-1]],
                "the folder to run the newest copy",
            )
        await pilot.pause(0.5)  # the watcher's last events
        messages = [m for m, _ in seen]
        assert len([m for m in messages if m.endswith(".specialneurons")]) == 2  # "Saved"
        assert not [m for m in messages if m.endswith((" replaced", " removed"))], messages
        assert screen.wrote_itself(screen.saved[-1])
        assert not screen.wrote_itself(patches / "someone-else_0123456789ab.specialneurons")
        assert not screen.wrote_itself(tmp_path / "out" / screen.saved[-1].name)


@run_async
async def test_the_camera_screen_turns_into_teach_mode(base_network, tmp_path, teach_dataset):
    root, source = teach_dataset
    args = build_parser().parse_args(
        ["camera", "--source", str(source), "--dataset", str(root), "--interval", "0.5"]
    )
    app = make_camera_app(camera_config(args, base_network), palette="256")
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_for(pilot, lambda: app.camera_screen.current is not None, "a camera frame")
        await pilot.press("t")
        await wait_for_screen(pilot, TeachScreen)
        screen = app.screen
        await wait_for(pilot, lambda: screen.current is not None, "a teach frame")
        assert screen.session.root == root.resolve()
        assert app.camera_screen.loop_finished.is_set()  # one loop on the base network
        await pilot.press("b")
        await wait_for(pilot, lambda: len(screen.session.rolling) == 1, "a label")
        await pilot.press("q")
        await wait_for_screen(pilot, QuitDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.return_code is not None, "save and quit")
    assert len(list(tmp_path.glob("*.specialneurons"))) == 1  # beside the dataset
