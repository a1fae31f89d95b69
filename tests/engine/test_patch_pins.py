"""Local pins: the user chooses which file of a patch name runs, whatever the files' dates.

Real patches trained on sample_data, real files in a real folder; the pin survives a fresh
`load_dir`, a hot reload of either file, and is picked up by a running watcher.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

from neuralpatch.engine.errors import PatchFormatError, SettingError
from neuralpatch.engine.patch_file import save_patch
from neuralpatch.engine.patch_pins import MAX_PINS_BYTES, PINS_NAME, pin, read_pins, unpin
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.patch_watcher import PatchWatcher

TIMEOUT_S = 5.0


def _running(system: PatchSystem) -> dict[str, str]:
    return {p.name: p.path.name for p in system.patches if p.disabled is None}


def _by_file(system: PatchSystem) -> dict[str, object]:
    return {p.path.name: p for p in system.patches}


@pytest.fixture
def folder(felix_patch, tmp_path) -> Path:
    """The user's own patch and a newer-dated shared update with the same name."""
    mine = dataclasses.replace(felix_patch, created="2026-01-01T00:00:00+00:00")
    theirs = dataclasses.replace(felix_patch, created="2026-06-01T00:00:00+00:00")
    save_patch(mine, tmp_path / "mine.specialneurons")
    save_patch(theirs, tmp_path / "shared.specialneurons")
    return tmp_path


def _system(base_network, folder: Path) -> PatchSystem:
    system = PatchSystem.for_base(base_network)
    system.load_dir(folder)
    return system


def test_a_pin_beats_a_newer_date_and_says_why(base_network, folder):
    system = _system(base_network, folder)
    assert _running(system) == {"felix cats": "shared.specialneurons"}
    assert "newest of 2 files" in _by_file(system)["shared.specialneurons"].chosen
    name, pins_file = pin(folder / "mine.specialneurons")
    assert name == "felix cats" and pins_file == folder / PINS_NAME
    assert json.loads(pins_file.read_text()) == {"pins": {"felix cats": "mine.specialneurons"}}
    assert not [p for p in folder.iterdir() if p.name.startswith(".") and p != pins_file]
    events = system.load_dir(folder)
    assert {(e.kind, e.path.name) for e in events} == {
        ("enabled", "mine.specialneurons"),
        ("disabled", "shared.specialneurons"),
    }
    assert _running(system) == {"felix cats": "mine.specialneurons"}
    files = _by_file(system)
    assert files["mine.specialneurons"].chosen.startswith("pinned here by the user")
    assert "which the user pinned" in files["shared.specialneurons"].disabled
    # A fresh system reading the folder (a restart) keeps the pin.
    assert _running(_system(base_network, folder)) == {"felix cats": "mine.specialneurons"}
    assert unpin(folder, "felix cats") == ["felix cats"]
    system.load_dir(folder)
    assert _running(system) == {"felix cats": "shared.specialneurons"}


def test_the_pin_survives_hot_reloads_of_both_files(base_network, felix_patch, folder):
    pin(folder / "mine.specialneurons")
    system = _system(base_network, folder)
    newer = dataclasses.replace(felix_patch, created="2026-09-01T00:00:00+00:00")
    save_patch(newer, folder / "shared.specialneurons")  # an even newer shared update
    assert [e.kind for e in system.refresh([folder / "shared.specialneurons"])] == ["replaced"]
    assert _running(system) == {"felix cats": "mine.specialneurons"}  # still disabled, so no event
    retrained = dataclasses.replace(felix_patch, description="retrained by me")
    save_patch(retrained, folder / "mine.specialneurons")  # the user saves over the pinned one
    system.refresh([folder / "mine.specialneurons"])
    assert _running(system) == {"felix cats": "mine.specialneurons"}
    assert _by_file(system)["mine.specialneurons"].patch.description == "retrained by me"


def test_a_running_watcher_follows_pin_and_unpin(base_network, folder):
    system = PatchSystem.for_base(base_network)
    with PatchWatcher(system, folder):
        assert _running(system) == {"felix cats": "shared.specialneurons"}
        pin(folder / "mine.specialneurons")
        assert _wait(lambda: _running(system) == {"felix cats": "mine.specialneurons"})
        unpin(folder, "mine.specialneurons")  # by file name works too
        assert _wait(lambda: _running(system) == {"felix cats": "shared.specialneurons"})


def test_a_future_date_never_wins_and_the_reasons_say_so(base_network, felix_patch, tmp_path):
    save_patch(felix_patch, tmp_path / "mine.specialneurons")
    liar = dataclasses.replace(felix_patch, created="2099-01-01T00:00:00+00:00")
    save_patch(liar, tmp_path / "plugin.specialneurons")
    files = _by_file(_system(base_network, tmp_path))
    assert files["mine.specialneurons"].disabled is None
    assert "future created time of plugin.specialneurons was ignored" in (
        files["mine.specialneurons"].chosen
    )
    assert "future date ignored" in files["plugin.specialneurons"].disabled


def test_a_stale_or_broken_pin_pins_nothing_and_is_never_overwritten(base_network, folder):
    pin(folder / "mine.specialneurons")
    (folder / "mine.specialneurons").unlink()
    system = _system(base_network, folder)
    assert _running(system) == {"felix cats": "shared.specialneurons"}
    (folder / PINS_NAME).write_text('{"pins": {"felix cats": "../../etc/passwd"}}')
    pins = read_pins(folder)
    assert pins.by_name == {} and "not a patch file" in pins.problem
    system.load_dir(folder)
    assert _running(system) == {"felix cats": "shared.specialneurons"}
    assert "pins ignored" in system.pins[0].problem
    with pytest.raises(SettingError, match="fix or delete it first"):
        pin(folder / "shared.specialneurons")
    assert "etc/passwd" in (folder / PINS_NAME).read_text()


def test_only_a_valid_patch_can_be_pinned(folder):
    (folder / "broken.specialneurons").write_bytes(b"not a patch")
    with pytest.raises(PatchFormatError):
        pin(folder / "broken.specialneurons")
    with pytest.raises(SettingError, match="nothing in this folder is pinned"):
        unpin(folder, "felix cats")
    assert not (folder / PINS_NAME).exists()


def _wait(condition) -> bool:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_fifo_or_an_oversized_pins_file_is_ignored_without_blocking(tmp_path):
    os.mkfifo(tmp_path / PINS_NAME)
    assert "not a regular file" in read_pins(tmp_path).problem
    (tmp_path / PINS_NAME).unlink()
    (tmp_path / PINS_NAME).write_bytes(b" " * (MAX_PINS_BYTES + 1))
    assert "over 1048576 bytes" in read_pins(tmp_path).problem
