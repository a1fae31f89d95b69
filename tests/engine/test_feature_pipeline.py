"""The pipelined extraction against the serial path, on real photos and the real base pass."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from neuralpatch.engine.feature_pipeline import base_passes, extract, photo_files
from neuralpatch.engine.image_io import decode_image


@pytest.fixture(scope="module")
def folder(sample_data, tmp_path_factory) -> Path:
    """Ten real photos (both orientations) and two broken JPEGs between them."""
    root = tmp_path_factory.mktemp("photos")
    photos = sorted(sample_data.glob("*.jpg"))
    for path in photos[::4][:10]:
        shutil.copy(path, root / path.name)
    (root / "n02121808_500.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "n02124623_500.jpg").write_bytes(photos[0].read_bytes()[:3000])  # truncated
    return root


@pytest.fixture(scope="module")
def serial(base_network, folder) -> dict[Path, tuple[np.ndarray, np.ndarray]]:
    """The plain way: decode, `BaseNetwork.run`, one batch; (probabilities, features)."""
    good = [p for p in photo_files([folder]) if "_500" not in p.name]
    out = base_network.run([decode_image(p) for p in good])
    return {p: (out.probabilities[i], out.features[i]) for i, p in enumerate(good)}


@pytest.mark.parametrize("workers", [0, 2])
def test_pipeline_gives_the_serial_features_and_names_corrupt_photos(
    base_network, folder, serial, tmp_path, workers
):
    paths = photo_files([folder])
    progress = []
    got = list(
        extract(
            base_network,
            paths,
            cache_folder=tmp_path,
            workers=workers,
            on_progress=lambda *a: progress.append(a),
        )
    )
    assert [g.path for g in got] == paths  # in the order given
    failed = {g.path.name: g.error for g in got if g.error is not None}
    assert sorted(failed) == ["n02121808_500.jpg", "n02124623_500.jpg"]
    assert all("cannot decode" in reason for reason in failed.values())
    for item in got:
        if item.error is None:
            assert item.computed == 1
            np.testing.assert_allclose(item.features, serial[item.path][1], rtol=1e-6, atol=1e-6)
    assert progress[-1][:2] == (len(paths), len(paths)) and "left" in progress[-1][2]
    again = list(extract(base_network, paths, cache_folder=tmp_path, workers=workers))
    assert sum(g.computed for g in again) == 0  # every good photo is now in the cache
    for first, second in zip(got, again, strict=True):
        if first.error is None:
            np.testing.assert_array_equal(first.features, second.features)


def test_base_passes_yield_probabilities_in_order(base_network, folder, serial):
    paths = photo_files([folder])[::-1]
    got = list(base_passes(base_network, paths, workers=0))
    assert [g.path for g in got] == paths
    for item in got:
        if item.error is None:
            probs, features = serial[item.path]
            np.testing.assert_allclose(item.probabilities, probs, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(item.features, features, rtol=1e-6, atol=1e-6)
    assert sum(g.error is not None for g in got) == 2


def test_a_stop_event_ends_extraction_early(base_network, sample_data, tmp_path):
    stop = threading.Event()
    paths = sorted(sample_data.glob("*.jpg"))
    got = list(
        extract(
            base_network,
            paths,
            cache_folder=tmp_path,
            workers=0,
            stop=stop,
            on_progress=lambda done, total, text: stop.set(),
        )
    )
    assert 0 < len(got) < len(paths)


def test_photo_files_lists_regular_photos_only(tmp_path, sample_data):
    shutil.copy(next(sample_data.glob("*.jpg")), tmp_path / "a.jpg")
    (tmp_path / "sub").mkdir()
    shutil.copy(next(sample_data.glob("*.jpg")), tmp_path / "sub" / "b.JPEG")
    (tmp_path / ".hidden.jpg").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a photo")
    os.mkfifo(tmp_path / "fifo.jpg")  # reading it would block for ever
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    assert photo_files([tmp_path]) == [tmp_path / "a.jpg", tmp_path / "sub" / "b.JPEG"]
