"""The suite never waits for ../shared: without it the video tests fail at once, saying why."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_video_tests_fail_fast_naming_the_missing_file(tmp_path):
    tests = tmp_path / "repo" / "tests"  # a checkout with no ../shared beside it
    tests.mkdir(parents=True)
    shutil.copy(TESTS / "conftest.py", tests)
    (tests / "test_plays_tree.py").write_text(
        "from neuralpatch.engine.frame_source import make_source\n\n"
        "def test_plays(tree_video):\n"
        "    make_source(str(tree_video))\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr  # an error, not a pass or a hang
    missing = tmp_path / "shared" / "video" / "tree.avi"
    assert f"{missing} is missing" in run.stdout
    assert "1 error" in run.stdout
