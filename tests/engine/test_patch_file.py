"""The `.specialneurons` plugin file: round trips, the documented byte layout, safe names."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from patch_file_helpers import OUTPUTS, TRIGGERS, make_patch, png_bytes, split_file

from neuralpatch.engine.patch_file import load_patch, safe_name, save_patch, timestamped_name


def test_round_trip_keeps_every_field(patch_path):
    original = make_patch()
    loaded = load_patch(patch_path)
    assert loaded.name == original.name and loaded.description == original.description
    assert loaded.triggers == TRIGGERS and loaded.outputs == OUTPUTS
    assert loaded.weights.dtype == np.float32 and loaded.weights.shape == (3, 1280)
    assert np.array_equal(loaded.weights, original.weights)
    assert np.array_equal(loaded.bias, original.bias)
    assert loaded.icon_png == original.icon_png
    assert loaded.base_fingerprint == original.base_fingerprint
    assert loaded.created == original.created and loaded.feature_dim == 1280
    loaded.weights[0, 0] = 5.0  # the arrays are ordinary writable copies


def test_the_byte_layout_is_the_documented_one(patch_path):
    magic, header, payload = split_file(patch_path)
    assert magic == b"NPATCH\x00\x01"
    assert header["format_version"] == 1 and header["kind"] == "patch"
    assert header["outputs"][1] == {"tag": "n02124623", "name": "wildcat"}
    assert header["feature_dim"] == 1280
    assert header["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert header["payload_nbytes"] == len(payload)
    w = header["weights"]
    assert (w["shape"], w["dtype"], w["nbytes"]) == ([3, 1280], "<f4", 3 * 1280 * 4)
    weights = np.frombuffer(payload, "<f4", 3 * 1280, w["offset"]).reshape(3, 1280)
    assert np.array_equal(weights, make_patch().weights)
    icon = header["icon"]
    assert payload[icon["offset"] : icon["offset"] + icon["nbytes"]] == make_patch().icon_png
    start = patch_path.stat().st_size - len(payload)
    assert all((start + header[k]["offset"]) % 16 == 0 for k in ("weights", "bias", "icon"))


def test_a_patch_without_icon_round_trips_and_save_leaves_no_temp_files(tmp_path):
    path = tmp_path / "plain.specialneurons"
    save_patch(make_patch(icon_png=None, description=""), path)
    save_patch(make_patch(icon_png=None, name="renamed"), path)  # overwrite in place
    loaded = load_patch(path)
    assert loaded.icon_png is None and loaded.name == "renamed"
    assert split_file(path)[1]["icon"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["plain.specialneurons"]


def test_an_rgba_icon_is_fine(tmp_path):
    icon = png_bytes((32, 32), "RGBA")
    path = save_patch(make_patch(icon_png=icon), tmp_path / "a.specialneurons")
    assert load_patch(path).icon_png == icon


def test_float64_weights_are_stored_as_float32(tmp_path):
    weights = np.random.default_rng(1).normal(size=(3, 1280))
    path = save_patch(make_patch(weights=weights), tmp_path / "f.specialneurons")
    assert np.array_equal(load_patch(path).weights, weights.astype(np.float32))


def test_timestamped_names_are_safe_and_sort_by_time():
    first = timestamped_name("Big cats: v2/final", time_ns=1_750_000_000_000_000_000)
    later = timestamped_name("Big cats: v2/final", time_ns=1_750_000_000_001_000_000)
    assert first == "Big_cats_v2_final_18493fba64ef.specialneurons"
    assert first < later and first != later
    assert timestamped_name("x", ".npsnapshot", time_ns=1).endswith("_000000000000.npsnapshot")
    now = timestamped_name("x")
    assert len(now) == len("x_") + 12 + len(".specialneurons")


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "etc_passwd"),
        ("", "patch"),
        ("...", "patch"),
        ("Café crème", "Cafe_creme"),
        ("猫", "patch"),
        ("a" * 100, "a" * 64),
        ("con", "con"),
        ("tabs\tand\nnewlines", "tabs_and_newlines"),
    ],
)
def test_safe_name(name, safe):
    assert safe_name(name) == safe
    assert os.sep not in safe_name(name)
