"""Hostile or odd patch and snapshot files are refused clearly and cost nothing: real patches.

Lone surrogates in a header, weights whose logits overflow, tags written with fewer digits, a
plugin dated in the future, and a large snapshot that must load without copying its payload
twice.
"""

from __future__ import annotations

import json
import os
import struct
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.errors import PatchFormatError
from neuralpatch.engine.patch_file import PatchFile, PatchOutput, load_patch, save_patch
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.snap_to_dataset import dataset_of_patch
from neuralpatch.engine.snapshot import Snapshot, load_snapshot, save_snapshot
from neuralpatch.main import main

DOMESTIC = "n02121808"
CATS = ["n02123045", "n02123159", "n02123394", "n02123597", "n02124075"]


@pytest.fixture(scope="module")
def features(base_network, photos) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = base_network.run([photos["chelsea"], photos["coffee"]])
    return {
        "chelsea": (out.probabilities[0], out.features[0]),
        "coffee": (out.probabilities[1], out.features[1]),
    }


def cat_patch(base_network, name: str = "cats", scale: float = 0.01, **changes) -> PatchFile:
    rng = np.random.default_rng(0)
    patch = PatchFile(
        name=name,
        triggers=CATS,
        outputs=[PatchOutput(DOMESTIC, "domestic"), PatchOutput("n02127808", "big")],
        weights=(rng.standard_normal((2, base_network.feature_dim)) * scale).astype(np.float32),
        bias=np.zeros(2, np.float32),
        base_fingerprint=base_network.fingerprint,
    )
    return replace(patch, **changes)


def rewrite_header(path: Path, change) -> None:
    """Edit a real file's JSON header in place (`\\uXXXX` escapes kept as written)."""
    data = path.read_bytes()
    (size,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12 : 12 + size])
    text = change(json.dumps(header)).encode()
    path.write_bytes(data[:8] + struct.pack("<I", len(text)) + text + data[12 + size :])


# -- 13.7: lone surrogates ---------------------------------------------------------------
def test_a_lone_surrogate_in_a_name_is_refused_by_the_loader(base_network, tmp_path, capsys):
    path = save_patch(cat_patch(base_network, "SURROGATE"), tmp_path / "s.specialneurons")
    rewrite_header(path, lambda t: t.replace("SURROGATE", "cat\\ud800"))
    with pytest.raises(PatchFormatError, match="name.*lone surrogate"):
        load_patch(path)
    assert main(["patches", str(tmp_path)]) == 2  # listed as rejected, not a traceback
    out = capsys.readouterr().out
    assert "lone surrogate" in out and "0 patches" in out


def test_a_lone_surrogate_in_an_output_name_or_key_is_refused(base_network, tmp_path):
    path = save_patch(cat_patch(base_network), tmp_path / "o.specialneurons")
    rewrite_header(path, lambda t: t.replace('"domestic"', '"dom\\udfffestic"'))
    with pytest.raises(PatchFormatError, match=r"outputs\[0\]\.name"):
        load_patch(path)
    path = save_patch(cat_patch(base_network), tmp_path / "k.specialneurons")
    rewrite_header(path, lambda t: t.replace('"description"', '"\\ud83d": 1, "description"'))
    with pytest.raises(PatchFormatError, match="key"):
        load_patch(path)


# -- 13.8: weights whose logits overflow -------------------------------------------------
def test_huge_weights_are_refused_on_load_and_by_add(base_network, tmp_path):
    huge = cat_patch(base_network, scale=1e36)
    assert np.isfinite(huge.weights).all()
    with pytest.raises(PatchFormatError, match="too large"):
        save_patch(huge, tmp_path / "huge.specialneurons")  # the writer refuses it too
    system = PatchSystem.for_base(base_network)
    events = system.add("huge.specialneurons", huge)
    assert [e.kind for e in events] == ["rejected"] and "too large" in events[0].reason
    assert system.patches == ()
    bad_tag = cat_patch(base_network, triggers=["../x"])
    assert system.add("tag.specialneurons", bad_tag)[0].kind == "rejected"


def test_large_but_legal_weights_give_finite_probabilities(base_network, features):
    system = PatchSystem.for_base(base_network)
    big = cat_patch(base_network, scale=1e20)  # logits near 1e21: exp() would overflow
    other = cat_patch(base_network, "others", scale=1e20, triggers=CATS[:2])
    assert [
        e.kind for e in system.add_all({"a.specialneurons": big, "b.specialneurons": other})
    ] == ["loaded", "loaded"]
    result = system.classify(*features["chelsea"])
    assert result.patches, "chelsea must trigger the cat patches"
    for _, node in result.walk():
        assert np.isfinite(node.probabilities).all()
        assert node.probabilities.sum() == pytest.approx(1.0)


# -- issue 12: one tag rule ----------------------------------------------------------------
def test_tags_compare_by_number_everywhere(base_network, dataset_copy, features):
    assert base_network.classes.index_of("n2123045") == base_network.classes.index_of(CATS[0])
    map_path = dataset_copy / "map_clsloc.txt"
    text = map_path.read_text().replace(DOMESTIC, "n2121808").replace(CATS[0], "n2123045")
    map_path.write_text(text)
    ds = load_dataset(dataset_copy, base_network.classes.tag_names())
    by_tag = {c.tag: c for c in ds.categories}
    assert len(by_tag["n2121808"].images) == 14  # the photos are named n02121808_*.jpg
    assert by_tag["n2123045"].base_name == base_network.classes.name_of_tag(CATS[0])
    system = PatchSystem.for_base(base_network)
    short = cat_patch(base_network, triggers=[f"n{int(t[1:])}" for t in CATS])
    system.add("short.specialneurons", short)
    assert system.classify(*features["chelsea"]).fired() == ["cats"]
    dup = cat_patch(base_network, triggers=["n02123045", "n2123045"])
    assert "twice" in system.add("dup.specialneurons", dup)[0].reason


# -- 13.13: a created time in the future ----------------------------------------------------
def test_a_future_created_time_cannot_supersede_the_users_patch(base_network, tmp_path):
    own = save_patch(cat_patch(base_network), tmp_path / "mine.specialneurons")
    future = (datetime.now(UTC) + timedelta(days=365 * 70)).isoformat(timespec="seconds")
    plugin = save_patch(cat_patch(base_network, created=future), tmp_path / "zz.specialneurons")
    forged = (datetime.now(UTC) + timedelta(hours=12)).isoformat(timespec="seconds")
    backdated = save_patch(cat_patch(base_network, created=forged), tmp_path / "zy.specialneurons")
    os.utime(backdated, (0, datetime.now(UTC).timestamp() - 2 * 86400))  # written 2 days ago
    system = PatchSystem.for_base(base_network)
    system.load_dir(tmp_path)
    running = [p.path for p in system.patches if p.disabled is None]
    assert running == [own]
    reasons = {p.path: p.disabled for p in system.patches}
    assert "lies in the future" in reasons[plugin] and "superseded by mine" in reasons[plugin]
    assert "later than the file was written here" in reasons[backdated]
    newer = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
    update = save_patch(cat_patch(base_network, created=newer), tmp_path / "v2.specialneurons")
    system.load_dir(tmp_path)
    assert [p.path for p in system.patches if p.disabled is None] == [update]


# -- 13.14: large snapshots -------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_snapshot(tmp_path_factory, base_network) -> Path:
    """A legal 128 MiB snapshot: 4096 outputs × 4096 features, weights and velocities."""
    k, d = 4096, 4096
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((k, d), dtype=np.float32) * np.float32(0.01)
    patch = PatchFile(
        name="big",
        triggers=[DOMESTIC],
        outputs=[PatchOutput(f"n{90000000 + i}", f"o{i}") for i in range(k)],
        weights=weights,
        bias=np.zeros(k, np.float32),
        base_fingerprint=base_network.fingerprint,
    )
    folder = tmp_path_factory.mktemp("big")
    snapshot = Snapshot(
        patch=patch,
        velocity_weights=weights * np.float32(0.5),
        velocity_bias=np.zeros(k, np.float32),
        hyper={"batch_size": 16, "lr": 0.01, "momentum": 0.9, "decay": 0.0, "augment": False},
        step=3,
        rng_state=np.random.PCG64(0).state,
        dataset_summary={"root": str(folder)},
    )
    return save_snapshot(snapshot, folder / "big.npsnapshot")


def peak_bytes(call) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_snapshot_loads_with_at_most_one_copy(big_snapshot):
    size = big_snapshot.stat().st_size
    snapshot, peak = peak_bytes(lambda: load_snapshot(big_snapshot))
    assert snapshot.velocity_weights[5, 7] == pytest.approx(snapshot.patch.weights[5, 7] * 0.5)
    snapshot.patch.weights[0, 0] = 1.0  # a loaded array is writable
    assert peak < 1.2 * size, f"peak {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"


def test_the_camera_reads_a_snapshots_dataset_from_its_header(big_snapshot):
    patch_path = big_snapshot.with_suffix(".specialneurons")
    patch_path.write_bytes(b"")  # only the name matters: the snapshot sits beside it
    root, peak = peak_bytes(lambda: dataset_of_patch(patch_path))
    assert root == big_snapshot.parent
    assert peak < 4 << 20  # the header (at most 1 MiB), never the 128 MiB of arrays
