"""Atomic writes: all or nothing, and files others may read (not the temp file's 0600)."""

from __future__ import annotations

import os
import stat

import pytest

from neuralpatch.engine.atomic import write_atomic


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
