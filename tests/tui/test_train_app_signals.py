"""The training app in a real terminal (a pty) of a real child process: checkpoints while it
trains, and a dropped session (the terminal closes: SIGHUP) or a service stop (SIGTERM)
saves the run before the app exits."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from neuralpatch.engine.snapshot import load_snapshot
from neuralpatch.main import main

WAIT_S = 120


@pytest.fixture(scope="module")
def first_snapshot(sample_data, tmp_path_factory) -> Path:
    """A short headless run to resume from: the app then trains on ^t with no dialog."""
    out = tmp_path_factory.mktemp("first")
    assert main(["train", str(sample_data), "--headless", "--steps", "5", "--out", str(out)]) == 0
    return next(out.glob("*.npsnapshot"))


class Terminal:
    """A pty whose slave is the child's controlling terminal; the output is drained."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.child = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            env=os.environ | {"TERM": "xterm-256color"},
        )
        os.close(slave)
        self.output = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not condition():
            if self.child.poll() is not None or time.monotonic() > deadline:
                self.child.kill()
                raise AssertionError(f"no {what}; output: {bytes(self.output[-2000:])!r}")
            time.sleep(0.05)

    def hang_up(self) -> None:
        os.close(self.master)  # the kernel sends SIGHUP to the session: the SSH case


@pytest.mark.parametrize("how", ["terminal closed", "SIGTERM"])
def test_the_app_checkpoints_and_saves_when_the_session_ends(
    sample_data, first_snapshot, tmp_path, how
):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "neuralpatch", "train", str(sample_data)]
    argv += ["--resume", str(first_snapshot), "--out", str(out), "--checkpoint-every", "0.3"]
    terminal = Terminal(argv, tmp_path)
    try:
        terminal.wait_for(lambda: b"Parameters" in terminal.output, "screen")
        time.sleep(0.5)
        os.write(terminal.master, b"\x14")  # ^t: resumed, so training starts at once
        terminal.wait_for(lambda: list(out.glob("*_checkpoint.npsnapshot")), "checkpoint")
        (checkpoint,) = out.glob("*_checkpoint.npsnapshot")
        assert load_snapshot(checkpoint).step > 5
        if how == "SIGTERM":
            terminal.child.send_signal(signal.SIGTERM)
        else:
            terminal.hang_up()
        terminal.child.wait(timeout=WAIT_S)
    finally:
        terminal.child.kill()
    assert terminal.child.returncode == 0, bytes(terminal.output[-2000:])
    (snapshot,) = (p for p in out.glob("*.npsnapshot") if "_checkpoint" not in p.name)
    assert len(list(out.glob("*.specialneurons"))) == 1  # the checkpoint made way for it
    saved = load_snapshot(snapshot)
    assert saved.step > 5 and saved.hyper["loss_count"] == saved.step
