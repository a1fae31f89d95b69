"""Hostile or odd dataset files are refused clearly and cost nothing: real maps and photos.

FIFOs and /dev/zero where a map or a photo should be, a map index of thousands of digits,
unsupported image types, path tricks in a snap tag, and one map parser for base and datasets.
"""

from __future__ import annotations

import os
import threading

import pytest

from neuralpatch.engine.classes import imagenet_classes
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.errors import DatasetError, ImageError
from neuralpatch.engine.image_io import read_photo_bytes
from neuralpatch.engine.snap_to_dataset import SnapError, save_snap

DOMESTIC = "n02121808"


# -- 13.9: maps and photos read with guards ------------------------------------------------
def finishes(call, timeout: float = 20.0):
    """Run `call` in a thread; fail (not hang) when it blocks, as a FIFO read would."""
    outcome: list = []

    def target() -> None:
        try:
            outcome.append(("ok", call()))
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(("raised", exc))

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    assert outcome, "blocked: the call never returned"
    return outcome[0]


def test_a_map_that_is_a_fifo_or_dev_zero_is_a_dataset_error(base_network, dataset_copy):
    tags = base_network.classes.tag_names()
    (dataset_copy / "map_clsloc.txt").unlink()
    os.mkfifo(dataset_copy / "map_clsloc.txt")
    kind, exc = finishes(lambda: load_dataset(dataset_copy, tags))
    assert kind == "raised" and isinstance(exc, DatasetError) and "not a regular file" in str(exc)
    (dataset_copy / "map_clsloc.txt").unlink()
    (dataset_copy / "map_clsloc.txt").symlink_to("/dev/zero")
    kind, exc = finishes(lambda: load_dataset(dataset_copy, tags))
    assert kind == "raised" and isinstance(exc, DatasetError) and "map_clsloc.txt" in str(exc)


def test_an_index_of_thousands_of_digits_names_file_and_line(base_network, dataset_copy):
    map_path = dataset_copy / "map_clsloc.txt"
    map_path.write_text(map_path.read_text() + f"n09999999 {'9' * 5000} huge\n")
    with pytest.raises(DatasetError) as caught:
        load_dataset(dataset_copy, base_network.classes.tag_names())
    assert caught.value.path == map_path and caught.value.line == 17
    assert "at most 18 digits" in caught.value.message


def test_photos_that_are_fifos_or_devices_are_skipped_and_named(base_network, dataset_copy):
    os.mkfifo(dataset_copy / f"{DOMESTIC}_fifo.jpg")
    (dataset_copy / f"{DOMESTIC}_zero.jpg").symlink_to("/dev/zero")
    kind, ds = finishes(lambda: load_dataset(dataset_copy, base_network.classes.tag_names()))
    assert kind == "ok"
    problems = "\n".join(ds.problems)
    assert f"{DOMESTIC}_fifo.jpg: not a regular file" in problems
    assert f"{DOMESTIC}_zero.jpg: not a regular file" in problems
    images = {p.name for c in ds.outputs for p in c.images}
    assert f"{DOMESTIC}_fifo.jpg" not in images and len(images) == 41
    kind, exc = finishes(lambda: read_photo_bytes(dataset_copy / f"{DOMESTIC}_fifo.jpg"))
    assert kind == "raised" and isinstance(exc, ImageError)


def test_unsupported_image_types_are_counted_and_named(base_network, dataset_copy, photos):
    from PIL import Image

    Image.fromarray(photos["chelsea"]).save(dataset_copy / f"{DOMESTIC}_anim.gif")
    Image.fromarray(photos["chelsea"]).save(dataset_copy / f"{DOMESTIC}_scan.tif")
    (dataset_copy / f"{DOMESTIC}_phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    ds = load_dataset(dataset_copy, base_network.classes.tag_names())
    problems = "\n".join(ds.problems)
    for suffix in (".gif", ".tif", ".heic"):
        assert f"1 {suffix} file skipped" in problems
    assert f"{DOMESTIC}_phone.heic" in problems


# -- 13.12: snap tags ----------------------------------------------------------------------
@pytest.mark.parametrize("tag", ["../x", "n0/../../x", "n1\x00", "n" + "1" * 80, "", "x1"])
def test_save_snap_refuses_a_tag_that_is_not_a_tag(dataset_copy, photos, tag):
    before = set(dataset_copy.parent.rglob("*"))
    with pytest.raises(SnapError, match="is not a tag"):
        save_snap(photos["chelsea"], dataset_copy, tag)
    assert set(dataset_copy.parent.rglob("*")) == before


def test_map_parsing_is_shared_by_the_base_and_datasets(tmp_path):
    from neuralpatch.engine.classes import read_base_class_map
    from neuralpatch.engine.errors import BaseNetworkError

    classes = imagenet_classes()
    rows = [
        f"{t} {i} {n}" for i, (t, n) in enumerate(zip(classes.tags, classes.names, strict=True), 1)
    ]
    rows[5] = rows[5].replace(classes.tags[5], "n" + classes.tags[5][2:])  # n0… → n…: same tag
    path = tmp_path / "map_clsloc.txt"
    path.write_text("\n".join(rows) + f"\nn{int(classes.tags[0][1:])} 1001 again\n")
    with pytest.raises(BaseNetworkError) as caught:
        read_base_class_map(path, 1000)
    assert caught.value.line == 1001 and "duplicate tag" in caught.value.message
