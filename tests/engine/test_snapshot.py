"""The `.npsnapshot` training snapshot: exact resume, export of its patch, hostile files."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuralpatch.engine.classes import imagenet_classes
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.errors import PatchFormatError
from neuralpatch.engine.patch_file import (
    PatchFile,
    PatchOutput,
    load_patch,
    save_patch,
    timestamped_name,
)
from neuralpatch.engine.snapshot import SNAPSHOT_SUFFIX, Snapshot, load_snapshot, save_snapshot

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
HYPER = {"batch_size": 16, "lr": 0.01, "momentum": 0.9, "decay": 5e-4, "augment": True}


@cache
def imagenet_tags() -> dict[str, str]:
    """The packaged base network's mapping, as the CLI passes it: synset -> display name."""
    return imagenet_classes().tag_names()


def make_snapshot(steps: int = 25, **changes: Any) -> Snapshot:
    """A snapshot as a trainer would leave it after `steps` SGD steps on the sample set."""
    dataset = load_dataset(SAMPLE, imagenet_tags())
    rng = np.random.default_rng(1234)
    k = len(dataset.outputs)
    weights = rng.normal(0, 0.01, (k, 1280)).astype(np.float32)
    velocity = np.zeros_like(weights)
    losses = []
    for _ in range(steps):
        grad = rng.normal(0, 0.1, weights.shape).astype(np.float32)
        velocity = 0.9 * velocity - 0.01 * grad
        weights += velocity
        losses.append(float(np.abs(grad).mean()))
    patch = PatchFile(
        name="felix cats",
        triggers=dataset.triggers,
        outputs=[PatchOutput(c.tag, c.name) for c in dataset.outputs],
        weights=weights,
        bias=np.array([0.01, 0.0, -0.01], np.float32),
        base_fingerprint="3f2a9c0d11e4b7a8",
    )
    fields: dict[str, Any] = dict(
        patch=patch,
        velocity_weights=velocity,
        velocity_bias=np.full(k, 1e-3, np.float32),
        hyper=dict(HYPER),
        step=steps,
        rng_state=rng.bit_generator.state,
        loss_history=np.array(losses, np.float32),
        dataset_summary=dataset.to_summary(),
    )
    fields.update(changes)
    return Snapshot(**fields)


@pytest.fixture
def snap_path(tmp_path) -> Path:
    return save_snapshot(make_snapshot(), tmp_path / f"cats{SNAPSHOT_SUFFIX}")


def forge(path: Path, edit: Callable[[dict[str, Any], bytearray], None]) -> Path:
    """Rewrite a valid file after `edit`, keeping its payload hash valid."""
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 8)
    header, payload = json.loads(data[12 : 12 + length]), bytearray(data[12 + length :])
    edit(header, payload)
    header["payload_nbytes"] = len(payload)
    header["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    text = json.dumps(header).encode().replace(b'"OVERFLOW"', b"1e999")  # parses as inf
    path.write_bytes(data[:8] + struct.pack("<I", len(text)) + text + payload)
    return path


def refused(path: Path, words: str) -> None:
    with pytest.raises(PatchFormatError) as caught:
        load_snapshot(path)
    assert words in str(caught.value), str(caught.value)
    assert caught.value.path == path


def test_round_trip_keeps_every_field(snap_path):
    original = make_snapshot()
    loaded = load_snapshot(snap_path)
    assert snap_path.read_bytes()[:8] == b"NPSNAP\x00\x01"
    assert np.array_equal(loaded.patch.weights, original.patch.weights)
    assert np.array_equal(loaded.patch.bias, original.patch.bias)
    assert loaded.patch.triggers == original.patch.triggers
    assert loaded.patch.outputs == original.patch.outputs
    assert np.array_equal(loaded.velocity_weights, original.velocity_weights)
    assert np.array_equal(loaded.velocity_bias, original.velocity_bias)
    assert np.array_equal(loaded.loss_history, original.loss_history)
    assert loaded.loss_history.shape == (25,)
    assert loaded.hyper == HYPER and isinstance(loaded.hyper["augment"], bool)
    assert loaded.step == 25
    assert loaded.rng_state == original.rng_state
    assert loaded.dataset_summary == original.dataset_summary
    assert loaded.dataset_summary["outputs"][2]["images"] == 14


def test_resuming_continues_the_same_random_stream(snap_path):
    expected = make_snapshot().generator().normal(size=100)
    resumed = load_snapshot(snap_path).generator().normal(size=100)
    assert np.array_equal(resumed, expected)
    rng = np.random.default_rng(1234)
    assert not np.array_equal(rng.normal(size=100), expected)


def test_a_fresh_snapshot_with_no_history_round_trips(tmp_path):
    path = save_snapshot(make_snapshot(steps=0), tmp_path / "fresh.npsnapshot")
    loaded = load_snapshot(path)
    assert loaded.step == 0 and loaded.loss_history.shape == (0,)
    assert not loaded.velocity_weights.any()


def test_extra_hyper_parameters_are_kept_and_int_rates_become_floats(tmp_path):
    hyper = dict(HYPER, lr=1, val_fraction=0.2, note="first try")
    path = save_snapshot(make_snapshot(hyper=hyper), tmp_path / "h.npsnapshot")
    loaded = load_snapshot(path).hyper
    assert loaded["lr"] == 1.0 and isinstance(loaded["lr"], float)
    assert loaded["val_fraction"] == 0.2 and loaded["note"] == "first try"


def test_the_patch_inside_exports_as_a_plugin(tmp_path, snap_path):
    patch = load_snapshot(snap_path).patch
    out = save_patch(patch, tmp_path / timestamped_name(patch.name))
    assert out.name.startswith("felix_cats_") and out.suffix == ".specialneurons"
    assert np.array_equal(load_patch(out).weights, make_snapshot().patch.weights)


def test_a_patch_and_a_snapshot_are_not_interchangeable(tmp_path, snap_path):
    with pytest.raises(PatchFormatError, match="snapshot file"):
        load_patch(snap_path)
    patch_path = save_patch(make_snapshot().patch, tmp_path / "p.specialneurons")
    refused(patch_path, "patch file")


def test_truncation_anywhere_is_refused(snap_path):
    data = snap_path.read_bytes()
    for cut in sorted({0, 8, 12, len(data) - 1, *range(0, len(data), 1499)}):
        snap_path.write_bytes(data[:cut])
        with pytest.raises(PatchFormatError):
            load_snapshot(snap_path)


def test_a_flipped_byte_in_the_loss_history_fails_the_sha256(snap_path):
    data = bytearray(snap_path.read_bytes())
    data[-3] ^= 0x01
    snap_path.write_bytes(bytes(data))
    refused(snap_path, "sha256 mismatch")


def _set(key: str, value: Any) -> Callable[[dict[str, Any], bytearray], None]:
    def edit(header: dict[str, Any], payload: bytearray) -> None:
        *parents, last = key.split(".")
        obj = header
        for part in parents:
            obj = obj[part]
        obj[last] = value

    return edit


def _drop(key: str) -> Callable[[dict[str, Any], bytearray], None]:
    def edit(header: dict[str, Any], payload: bytearray) -> None:
        *parents, last = key.split(".")
        obj = header
        for part in parents:
            obj = obj[part]
        del obj[last]

    return edit


def _nan_velocity(header: dict[str, Any], payload: bytearray) -> None:
    struct.pack_into("<f", payload, header["velocity_weights"]["offset"], float("nan"))


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_set("kind", "patch"), "expected 'snapshot'"),
        (_set("velocity_weights.shape", [3, 1000]), "velocity_weights has shape"),
        (_set("velocity_bias", None), "'velocity_bias' must not be null"),
        (_nan_velocity, "velocity_weights contains NaN"),
        (_set("loss_history.shape", [5, 5]), "one-dimensional"),
        (_set("loss_history.shape", [-1]), "outside"),
        (_set("loss_history.offset", 0), "overlap"),
        (_drop("hyper_parameters.lr"), "missing field 'hyper_parameters.lr'"),
        (_set("hyper_parameters.lr", "fast"), "hyper_parameters.lr' must be int or float"),
        (_set("hyper_parameters.momentum", 2.0), "outside [0, 0.999]"),
        (_set("hyper_parameters.batch_size", 0), "hyper_parameters.batch_size = 0 is outside"),
        (_set("hyper_parameters.augment", 1), "'hyper_parameters.augment' must be bool"),
        (_set("hyper_parameters.decay", "OVERFLOW"), "not finite"),
        (
            _set("hyper_parameters.lr", 10**400),
            "hyper_parameters.lr = 10000000000000000... is outside",
        ),
        (_set("hyper_parameters.seed", -1), "'hyper_parameters.seed' = -1"),
        (_set("hyper_parameters.seed", "x"), "'hyper_parameters.seed' must be int"),
        (_set("hyper_parameters.drawn", None), "'hyper_parameters.drawn' must be int"),
        (_set("hyper_parameters.val_fraction", 1.5), "val_fraction = 1.5 is outside [0, 1)"),
        (_set("step", -1), "'step' = -1"),
        (_set("step", 2.5), "'step' must be int"),
        (_set("rng_state.bit_generator", "MT19937"), "must be 'PCG64'"),
        (_set("rng_state.state.inc", 1 << 130), "128-bit"),
        (_set("rng_state.state.state", -5), "128-bit"),
        (_set("rng_state.has_uint32", 7), "has_uint32"),
        (_drop("rng_state.state"), "missing field 'rng_state.state'"),
        (_set("dataset_summary", [1, 2]), "'dataset_summary' must be dict"),
        (_set("triggers", []), "triggers is empty"),
    ],
)
def test_inconsistent_headers_are_refused_even_with_a_valid_hash(snap_path, edit, words):
    refused(forge(snap_path, edit), words)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"hyper": dict(HYPER, lr=float("nan"))}, "cannot write snapshot"),
        ({"velocity_bias": np.zeros(5, np.float32)}, "velocity_bias has shape [5]"),
        ({"loss_history": np.array([1.0, np.inf], np.float32)}, "loss_history contains NaN"),
        ({"rng_state": {"bit_generator": "PCG64"}}, "missing field 'rng_state.state'"),
        ({"dataset_summary": {"root": Path("/x")}}, "cannot write snapshot"),
    ],
)
def test_save_refuses_what_load_would_refuse(tmp_path, changes, words):
    target = tmp_path / "bad.npsnapshot"
    with pytest.raises(PatchFormatError, match=words.replace("[", r"\[")):
        save_snapshot(make_snapshot(steps=2, **changes), target)
    assert list(tmp_path.iterdir()) == []
