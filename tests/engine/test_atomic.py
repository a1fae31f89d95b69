"""Atomic writes: all or nothing, and files others may read (not the temp file's 0600)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from neuralpatch.engine.atomic import STALE_TEMP_S, clean_stale_temps, write_atomic


def test_written_file_has_umask_permissions_and_no_temp_file_remains(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = write_atomic(tmp_path / "patch.specialneurons", b"data")
    assert path.read_bytes() == b"data"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["patch.specialneurons"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = write_atomic(tmp_path / "kept.bin", b"old")
    with pytest.raises(TypeError):  # the write fails after the temp file exists
        write_atomic(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.bin"]


def test_temp_files_of_a_write_killed_mid_way_are_cleaned_up_later(tmp_path):
    """A real child killed with SIGKILL while write_atomic writes 256 MiB."""
    target = tmp_path / "big.npsnapshot"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from neuralpatch.engine.atomic import write_atomic; "
            "write_atomic(sys.argv[1], bytes(256 << 20))",
            str(target),
        ]
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".big.npsnapshot.*.tmp")):
        assert child.poll() is None and time.monotonic() < deadline, "no temp file seen"
        time.sleep(0.005)
    child.kill()
    child.wait()
    (left,) = tmp_path.glob(".big.npsnapshot.*.tmp")
    assert not target.exists()
    others = [tmp_path / ".notes.tmp", tmp_path / "kept.abcdefgh.tmp"]  # not our pattern
    for other in others:
        other.write_text("someone else's")
    young = tmp_path / ".fresh.npsnapshot.abcd1234.tmp"  # a write under way elsewhere
    young.write_bytes(b"")
    assert clean_stale_temps(tmp_path) == []  # all too young yet
    old = time.time() - STALE_TEMP_S - 1
    for path in (left, *others):
        os.utime(path, (old, old))
    assert clean_stale_temps(tmp_path) == [left]
    assert all(p.exists() for p in (*others, young))


def test_a_training_run_cleans_its_output_folder(base_network, sample_data, tmp_path):
    from neuralpatch.engine.training_plan import TrainingOptions, plan_training

    left = tmp_path / ".cats_18edb4.npsnapshot.x1y2z3_q.tmp"
    left.write_bytes(b"half a snapshot")
    old = time.time() - STALE_TEMP_S - 1
    os.utime(left, (old, old))
    plan_training(TrainingOptions(str(sample_data), out=str(tmp_path)), base_network)
    assert not left.exists()


def test_feature_cache_leftovers_are_cleaned_when_training_prepares(base_network, sample_data):
    """Cache entries live in `<2 hex>/` folders: a killed extraction leaves temp files there."""
    from neuralpatch.engine.dataset import load_dataset
    from neuralpatch.engine.feature_cache import default_cache_folder
    from neuralpatch.engine.trainer import Trainer

    folder = default_cache_folder(base_network) / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    left = folder / (".ab" + "0" * 62 + ".feat.k2j4m9q1.tmp")
    kept = folder / "notes.txt"
    left.write_bytes(b"half an entry")
    kept.write_text("not ours")
    old = time.time() - STALE_TEMP_S - 1
    for path in (left, kept):
        os.utime(path, (old, old))
    Trainer(base_network, load_dataset(sample_data, base_network.classes.tag_names())).prepare()
    assert not left.exists() and kept.exists()
    kept.unlink()
