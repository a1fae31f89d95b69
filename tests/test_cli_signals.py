"""Work is never lost: signals and broken output sent to a real `neuralpatch train --headless`
child process, on the real sample data (cached features: steps take microseconds)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neuralpatch.engine.patch_file import load_patch
from neuralpatch.engine.snapshot import load_snapshot
from neuralpatch.main import main

WAIT_S = 120


def start_training(sample_data: Path, out: Path, err: Path, *options: str, stdout=None):
    """The child, its stderr in `err`; returns once a training step has run."""
    with open(err, "wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "neuralpatch", "train", str(sample_data), "--headless"]
            + ["--out", str(out), *options],
            stdout=subprocess.PIPE if stdout is None else stdout,
            stderr=stderr,
        )
    deadline = time.monotonic() + WAIT_S
    while b" loss " not in err.read_bytes():  # a step has run
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            raise AssertionError(err.read_text())
        time.sleep(0.05)
    return child


def finish(child: subprocess.Popen) -> bytes:
    try:
        out, _ = child.communicate(timeout=60)
    finally:
        child.kill()  # never leave it training if an assertion failed
    return out or b""


def saved_files(out: Path) -> tuple[Path, Path]:
    (snapshot,) = out.glob("*.npsnapshot")
    (patch,) = out.glob("*.specialneurons")
    return snapshot, patch


def assert_resumable(snapshot: Path, patch: Path) -> None:
    resumed = load_snapshot(snapshot)
    assert resumed.step > 0 and resumed.hyper["loss_count"] == resumed.step
    assert resumed.hyper["drawn"] == resumed.step * resumed.hyper["batch_size"]
    assert load_patch(patch).name == "sample_data"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP, signal.SIGTERM])
def test_a_stop_signal_ends_after_a_whole_step_and_saves(sample_data, tmp_path, sig):
    child = start_training(sample_data, tmp_path / "out", tmp_path / "err")
    child.send_signal(sig)
    out = finish(child)
    assert child.returncode == 0, (tmp_path / "err").read_text()
    assert f"interrupted ({sig.name}): saved".encode() in out
    snapshot, patch = saved_files(tmp_path / "out")
    assert_resumable(snapshot, patch)
    assert str(snapshot).encode() in out
    assert not list((tmp_path / "out").glob("*_checkpoint.*"))  # replaced by the real files


def test_ctrl_c_with_stdout_piped_to_a_dead_tee_still_saves(sample_data, tmp_path):
    """`train ... | tee log` and Ctrl-C: tee dies first, so every print hits a broken pipe."""
    child = start_training(sample_data, tmp_path / "out", tmp_path / "err")
    child.stdout.close()  # the reader (tee) is gone
    child.send_signal(signal.SIGINT)
    child.wait(timeout=60)
    err = (tmp_path / "err").read_text()
    assert child.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert_resumable(*saved_files(tmp_path / "out"))


def test_a_hangup_with_stdout_and_stderr_gone_still_saves(sample_data, tmp_path):
    """A dropped SSH session: the terminal and both output streams go away, then SIGHUP."""
    read_end, write_end = os.pipe()
    child = start_training(sample_data, tmp_path / "out", tmp_path / "err", stdout=write_end)
    os.close(write_end)
    os.close(read_end)
    child.send_signal(signal.SIGHUP)
    child.wait(timeout=60)
    assert child.returncode == 0, (tmp_path / "err").read_text()
    assert_resumable(*saved_files(tmp_path / "out"))


def test_kill_9_loses_only_the_steps_since_the_last_checkpoint(sample_data, tmp_path, capsys):
    out = tmp_path / "out"
    child = start_training(sample_data, out, tmp_path / "err", "--checkpoint-every", "0.5")
    deadline = time.monotonic() + WAIT_S
    while not list(out.glob("*_checkpoint.npsnapshot")):
        assert time.monotonic() < deadline, (tmp_path / "err").read_text()
        time.sleep(0.05)
    time.sleep(0.6)  # let it replace the first checkpoint at least once
    child.kill()
    child.wait(timeout=60)
    (snapshot,) = out.glob("*_checkpoint.npsnapshot")
    (patch,) = out.glob("*_checkpoint.specialneurons")
    checkpoint = load_snapshot(snapshot)
    assert checkpoint.step > 0 and load_patch(patch).name == "sample_data"
    assert not list(out.glob(".*.tmp"))  # atomic: never half a file
    assert (
        main(
            ["train", str(sample_data), "--headless", "--steps", "3"]
            + ["--resume", str(snapshot), "--out", str(tmp_path / "more")]
        )
        == 0
    )
    assert f"step {checkpoint.step + 3:,} " in capsys.readouterr().out
