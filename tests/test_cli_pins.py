"""`neuralpatch patches DIR --pin FILE / --unpin NAME`, and what `patches` says about why each
file runs or not, and about top-k triggering; real patches in a real folder."""

from __future__ import annotations

import dataclasses
import json
import queue
import signal
import subprocess
import sys
import threading

from neuralpatch.engine.patch_file import save_patch
from neuralpatch.engine.patch_pins import PINS_NAME
from neuralpatch.main import main


def _folder(felix_patch, tmp_path):
    mine = dataclasses.replace(felix_patch, created="2026-01-01T00:00:00+00:00")
    shared = dataclasses.replace(felix_patch, created="2026-06-01T00:00:00+00:00", trigger_top_k=3)
    save_patch(mine, tmp_path / "mine.specialneurons")
    save_patch(shared, tmp_path / "shared.specialneurons")
    return tmp_path


def _listing(capsys, *argv: str) -> dict:
    assert main(["patches", *argv, "--json"]) == 0
    out = capsys.readouterr()
    return json.loads(out.out) | {"stderr": out.err}


def test_pin_and_unpin_from_the_command_line(capsys, felix_patch, tmp_path):
    folder = _folder(felix_patch, tmp_path)
    before = {p["file"]: p for p in _listing(capsys, str(folder))["patches"]}
    shared, mine = (
        before[str(folder / "shared.specialneurons")],
        before[str(folder / "mine.specialneurons")],
    )
    assert shared["status"] == "running" and shared["trigger_top_k"] == 3
    assert "newest of 2 files" in shared["chosen"] and not shared["pinned"]
    assert mine["status"] == "disabled" and mine["trigger_top_k"] == 1 and mine["chosen"] is None
    listing = _listing(capsys, str(folder), "--pin", "mine.specialneurons")
    assert "pinned mine.specialneurons" in listing["stderr"]
    after = {p["file"]: p for p in listing["patches"]}
    mine = after[str(folder / "mine.specialneurons")]
    assert mine["status"] == "running" and mine["pinned"] and "pinned" in mine["chosen"]
    assert "which the user pinned" in after[str(folder / "shared.specialneurons")]["reason"]
    assert listing["pins"] == [{"name": "felix cats", "file": str(folder / "mine.specialneurons")}]
    assert main(["patches", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "  runs      pinned here by the user" in text
    assert "triggers  any of the base's 3 best classes is: " in text
    listing = _listing(capsys, str(folder), "--unpin", "felix cats")
    assert listing["pins"] == [] and json.loads((folder / PINS_NAME).read_text()) == {"pins": {}}


def test_a_pin_outside_the_folder_or_of_nothing_is_a_clear_error(capsys, felix_patch, tmp_path):
    (tmp_path / "patches").mkdir()
    folder = _folder(felix_patch, tmp_path / "patches")
    other = tmp_path / "elsewhere.specialneurons"
    save_patch(felix_patch, other)
    assert main(["patches", str(folder), "--pin", str(other)]) == 2
    assert "--pin must name a file directly in" in capsys.readouterr().err
    assert main(["patches", str(folder), "--unpin", "nobody"]) == 2
    assert "nothing in this folder is pinned as 'nobody'" in capsys.readouterr().err
    assert not (folder / PINS_NAME).exists()


def test_a_stale_pin_is_a_warning(capsys, felix_patch, tmp_path):
    folder = _folder(felix_patch, tmp_path)
    assert main(["patches", str(folder), "--pin", "mine.specialneurons"]) == 0
    capsys.readouterr()
    (folder / "mine.specialneurons").unlink()
    listing = _listing(capsys, str(folder))
    assert any(
        "the pin of 'felix cats' names mine.specialneurons" in w for w in listing["warnings"]
    )


def test_patches_watch_follows_a_pin_made_while_it_runs(felix_patch, tmp_path):
    """The real command in a subprocess; the pin is made by a second command."""
    folder = _folder(felix_patch, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "neuralpatch", "patches", str(folder), "--watch", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        listing = json.loads(lines.get(timeout=60))
        running = [p["file"] for p in listing["patches"] if p["status"] == "running"]
        assert running == [str(folder / "shared.specialneurons")]
        assert main(["patches", str(folder), "--pin", "mine.specialneurons"]) == 0
        events = {json.loads(lines.get(timeout=10))["event"] for _ in range(2)}
        assert events == {"enabled", "disabled"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
