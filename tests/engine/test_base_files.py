"""The base-network file pair: conversion, the topology grammar, and refusing bad files."""

from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.classes import read_base_class_map
from neuralpatch.engine.convert import convert_packaged_weights
from neuralpatch.engine.errors import BaseNetworkError
from neuralpatch.engine.reference import same_padding
from neuralpatch.engine.topology import load_topology_files, parse_topology
from neuralpatch.engine.torch_pickle import read_state_dict


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    return convert_packaged_weights(tmp_path_factory.mktemp("base"))


def copy_pair(txt: Path, dest: Path) -> Path:
    for name in (txt.name, txt.with_suffix(".data").name, "map_clsloc.txt"):
        shutil.copy(txt.parent / name, dest / name)
    return dest / txt.name


def test_conversion_writes_the_pair_and_class_map(converted: Path):
    net = load_topology_files(converted)
    topo = net.topology
    assert topo.feature_dim == 1280 and topo.num_classes == 1000
    assert 4.5e6 < topo.parameter_count() < 4.8e6
    assert 380e6 < topo.macs_per_image() < 390e6  # 0.77 GFLOP per image
    assert sum(layer.add is not None for layer in topo.layers) == 9  # residual blocks
    classes = read_base_class_map(converted.parent / "map_clsloc.txt", 1000)
    assert classes.tags[0] == "n01440764" and classes.names[967] == "espresso"


def test_conversion_progress_is_reported(tmp_path: Path):
    seen: list[tuple[int, int]] = []
    convert_packaged_weights(tmp_path, lambda done, total, what: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] and len(seen) > 10


def test_topology_text_round_trips(converted: Path):
    topo = load_topology_files(converted).topology
    again = parse_topology(topo.to_text())
    assert again.to_text() == topo.to_text() == converted.read_text()
    assert [layer.line for layer in again.layers][:2] == [4, 5]


def test_tf_same_padding_puts_the_extra_pixel_after():
    assert same_padding(224, 3, 2) == (0, 1)
    assert same_padding(56, 5, 2) == (1, 2)
    assert same_padding(14, 5, 1) == (2, 2)


@pytest.mark.parametrize(
    "edit, message, line",
    [
        (lambda t: t.replace("dwconv name=b0.dw", "dwconf name=b0.dw"), "unknown layer kind", 5),
        (lambda t: t.replace("in=32 out=16", "in=31 out=16"), "previous layer gives 32", 6),
        (
            lambda t: t.replace(
                "k=3 stride=2 pad=same act=relu6 weight=0",
                "k=3 stride=two pad=same act=relu6 weight=0",
            ),
            "not a non-negative",
            4,
        ),
        (lambda t: t.replace("add=b1.project", "add=nowhere"), "not an earlier layer", 12),
        (lambda t: t.replace("act=relu6", "act=gelu", 1), "act=gelu", 4),
        (lambda t: t.replace("in=32 out=16", "in=\u00b3\u00b2 out=16"), "not a non-negative", 6),
        (lambda t: t.replace("height=224", "height=0"), "at least 1", 3),
    ],
)
def test_bad_topology_lines_are_named(converted: Path, tmp_path: Path, edit, message, line):
    txt = copy_pair(converted, tmp_path)
    txt.write_text(edit(txt.read_text()))
    with pytest.raises(BaseNetworkError, match=message) as info:
        load_topology_files(txt)
    assert info.value.line == line and info.value.path == txt


def test_data_of_the_wrong_size_is_refused(converted: Path, tmp_path: Path):
    txt = copy_pair(converted, tmp_path)
    data = txt.with_suffix(".data")
    data.write_bytes(data.read_bytes()[:-4])
    with pytest.raises(BaseNetworkError, match="needs"):
        load_topology_files(txt)


def test_missing_data_file_is_named(converted: Path, tmp_path: Path):
    txt = copy_pair(converted, tmp_path)
    txt.with_suffix(".data").unlink()
    with pytest.raises(BaseNetworkError, match="beside the topology") as info:
        BaseNetwork.load(txt)
    assert info.value.path == txt.with_suffix(".data")


def test_malformed_class_map_names_the_line(converted: Path, tmp_path: Path):
    txt = copy_pair(converted, tmp_path)
    map_path = tmp_path / "map_clsloc.txt"
    lines = map_path.read_text().splitlines()
    lines[6] = "n01514668 7"
    map_path.write_text("\n".join(lines))
    with pytest.raises(BaseNetworkError, match="3 columns") as info:
        BaseNetwork.load(txt)
    assert info.value.line == 7


def test_hostile_pickle_is_refused_without_running_it(tmp_path: Path):
    class Boom:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    bad = tmp_path / "bad.pth"
    with open(bad, "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f)
        pickle.dump(1001, f)
        pickle.dump({}, f)
        pickle.dump(Boom(), f)
    with pytest.raises(BaseNetworkError, match="refused global"):
        read_state_dict(bad)
    assert not (tmp_path / "pwned").exists()


def test_truncated_weights_are_refused(tmp_path: Path):
    from neuralpatch.engine.convert import packaged_weights_path

    cut = tmp_path / "cut.pth"
    cut.write_bytes(packaged_weights_path().read_bytes()[:1_000_000])
    with pytest.raises(BaseNetworkError, match="truncated|cannot read"):
        read_state_dict(cut)


def test_numpy_reference_matches_the_published_behaviour(reference_network, photos):
    """The preprocessing and padding choices give the expected classes on real photos."""
    out = reference_network.run([photos["chelsea"], photos["coffee"]])
    cat = reference_network.top_k(out.probabilities[0], 3)
    assert {p.index for p in cat} <= {281, 282, 285, 287} and cat[0].index in (281, 282, 285)
    assert reference_network.top_k(out.probabilities[1], 1)[0].name == "espresso"
    assert np.allclose(out.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert out.features.shape == (2, 1280) and out.feature_map.shape == (2, 7, 7, 1280)


# -- checksums: a changed converted base is noticed ---------------------------------------------


def test_conversion_writes_a_sha256sum_file(converted: Path):
    sums = converted.with_suffix(".sha256").read_text().splitlines()
    names = [line.split("  ")[1] for line in sums]
    assert names == [converted.with_suffix(".data").name, converted.name]
    digest = hashlib.sha256(converted.with_suffix(".data").read_bytes()).hexdigest()
    assert sums[0].split()[0] == digest


@pytest.mark.parametrize("suffix", [".data", ".txt"])
def test_a_bit_flipped_cached_base_is_reconverted(converted, tmp_path, monkeypatch, suffix):
    monkeypatch.setenv("NEURALPATCH_CACHE_DIR", str(tmp_path))
    (tmp_path / "base").mkdir()
    cached = copy_pair(converted, tmp_path / "base")
    shutil.copy(converted.with_suffix(".sha256"), cached.with_suffix(".sha256"))
    good = BaseNetwork.load(backend="numpy")
    victim = cached.with_suffix(suffix)
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x10  # one bit: still a valid size (and for .txt, maybe valid text)
    victim.write_bytes(bytes(raw))
    healed = BaseNetwork.load(backend="numpy")
    assert healed.fingerprint == good.fingerprint
    assert victim.read_bytes() == converted.with_suffix(suffix).read_bytes()


def test_a_user_pair_that_fails_its_checksum_is_refused(converted, tmp_path):
    txt = copy_pair(converted, tmp_path)
    shutil.copy(converted.with_suffix(".sha256"), txt.with_suffix(".sha256"))
    data = txt.with_suffix(".data")
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0x01
    data.write_bytes(bytes(raw))
    with pytest.raises(BaseNetworkError, match="does not match its checksum") as info:
        BaseNetwork.load(txt, backend="numpy")
    assert info.value.path == data


# -- float16 storage ------------------------------------------------------------------------------


def test_float16_storage_halves_the_file_and_keeps_top1(
    converted, tmp_path, base_network, photos, sample_data
):
    from PIL import Image

    half = convert_packaged_weights(tmp_path, weights="float16")
    assert "weights=float16" in half.read_text().splitlines()[1]
    full_size = converted.with_suffix(".data").stat().st_size
    assert half.with_suffix(".data").stat().st_size * 2 == full_size
    small = BaseNetwork.load(half)
    assert small.topology.weights == "float16" and small.fingerprint != base_network.fingerprint
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(sample_data.glob("*.jpg"))]
    images += list(photos.values())
    top_full = base_network.run(images).probabilities.argmax(axis=1)
    top_half = small.run(images).probabilities.argmax(axis=1)
    assert (top_full == top_half).mean() >= 0.99


def test_an_unknown_weight_storage_is_named(converted, tmp_path):
    txt = copy_pair(converted, tmp_path)
    txt.write_text(txt.read_text().replace("name=efficientnet-lite0", "name=x weights=int4", 1))
    with pytest.raises(BaseNetworkError, match="weights=int4") as info:
        load_topology_files(txt)
    assert info.value.line == 2
