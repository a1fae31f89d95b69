"""Damaged feature-cache entries are found, recomputed and rewritten, never used."""

from __future__ import annotations

import hashlib
import shutil
import struct
import zlib

import numpy as np
import pytest

from neuralpatch.engine.feature_cache import FeatureCache
from neuralpatch.engine.feature_entry import (
    decode_entry,
    encode_entry,
    entry_path,
    read_entry,
    write_entry,
)


@pytest.fixture(scope="module")
def paths(sample_data):
    return sorted(sample_data.glob("*.jpg"))[:5]


def digest_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_kind_of_damage_is_recomputed(base_network, paths, tmp_path):
    cache = FeatureCache(base_network, tmp_path, workers=0)
    first = cache.features_for(paths)
    assert first.computed == 5 and first.repaired == 0
    entries = [entry_path(tmp_path, digest_of(p)) for p in paths]
    raw = [e.read_bytes() for e in entries]
    dim = base_network.feature_dim

    entries[0].write_bytes(raw[0][: len(raw[0]) // 2])  # torn write
    flipped = bytearray(raw[1])
    flipped[-7] ^= 0x10  # one bit of one value
    entries[1].write_bytes(bytes(flipped))
    # NaN values under a valid checksum: what a broken base pass would have left behind
    nan = np.full(dim, np.nan, "<f4").tobytes()
    crc = zlib.crc32(nan, zlib.crc32(bytes.fromhex(digest_of(paths[2]))))
    entries[2].write_bytes(struct.pack("<4sII", b"NPF1", dim, crc) + nan)
    entries[3].write_bytes(np.random.default_rng(0).bytes(len(raw[3])))  # garbage
    for entry in entries[:4]:
        assert read_entry(tmp_path, entry.stem, dim) == (None, True)

    second = cache.features_for(paths)
    assert second.computed == 4 and second.repaired == 4
    for path in paths:
        np.testing.assert_array_equal(second.features[path], first.features[path])
    assert [e.read_bytes() for e in entries] == raw  # rewritten as they were


def test_an_entry_is_bound_to_its_key(base_network, paths, tmp_path):
    vector = np.linspace(-1, 1, base_network.feature_dim, dtype=np.float32)
    a, b = digest_of(paths[0]), digest_of(paths[1])
    data = encode_entry(a, vector)
    np.testing.assert_array_equal(decode_entry(a, data, vector.size), vector)
    assert decode_entry(b, data, vector.size) is None  # copied under another photo's name
    assert decode_entry(a, data, vector.size + 1) is None  # another base network's size


def test_non_finite_features_are_never_written(tmp_path):
    digest = "ab" * 32
    assert not write_entry(tmp_path, digest, np.array([1.0, np.inf], np.float32))
    assert not entry_path(tmp_path, digest).exists()
    assert write_entry(tmp_path, digest, np.array([1.0, 2.0], np.float32))
    assert read_entry(tmp_path, digest, 2)[0].tolist() == [1.0, 2.0]
    assert not list(tmp_path.rglob("*.tmp"))  # no temp file left behind


def test_a_cleared_cache_folder_is_made_again(tmp_path):
    """Folders are created once per process; a cache cleared meanwhile still gets its entry."""
    digest, vector = "cd" * 32, np.array([3.0, 4.0], np.float32)
    cache = tmp_path / "cache"
    cache.mkdir()
    assert write_entry(cache, digest, vector)
    shutil.rmtree(cache)
    cache.mkdir()
    assert write_entry(cache, digest, vector)
    assert read_entry(cache, digest, 2)[0].tolist() == [3.0, 4.0]
    assert not list(cache.rglob("*.tmp"))
    shutil.rmtree(cache)  # the cache folder itself gone: nothing written, no error
    assert not write_entry(cache, digest, vector)
