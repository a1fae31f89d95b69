"""Hostile or broken `.specialneurons` files are refused, naming the file, before any use."""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from patch_file_helpers import forge, make_patch, png_bytes, refused

from neuralpatch.engine.errors import ImageError, PatchFormatError
from neuralpatch.engine.patch_file import (
    MAX_ICON_BYTES,
    MAX_PATCH_BYTES,
    PatchOutput,
    load_patch,
    save_patch,
)
from neuralpatch.engine.training_files import read_icon


def test_truncation_anywhere_is_refused(patch_path):
    data = patch_path.read_bytes()
    header_end = 12 + struct.unpack_from("<I", data, 8)[0]
    cuts = {0, 1, 7, 8, 11, 12, 13, header_end - 1, header_end, header_end + 1, len(data) - 1}
    cuts |= set(range(0, len(data), 997))
    for cut in sorted(cuts):
        patch_path.write_bytes(data[:cut])
        with pytest.raises(PatchFormatError):
            load_patch(patch_path)
    patch_path.write_bytes(data[: header_end + 100])
    refused(patch_path, "truncated")


def test_appended_bytes_are_refused(patch_path):
    patch_path.write_bytes(patch_path.read_bytes() + b"\0" * 4)
    refused(patch_path, "payload is")


@pytest.mark.parametrize("where", [0, 3 * 1280 * 4 + 4, -1])
def test_a_flipped_payload_byte_fails_the_sha256(patch_path, where):
    data = bytearray(patch_path.read_bytes())
    payload_start = 12 + struct.unpack_from("<I", data, 8)[0]
    at = payload_start + where if where >= 0 else len(data) + where
    data[at] ^= 0x10
    patch_path.write_bytes(bytes(data))
    refused(patch_path, "sha256 mismatch")


def test_a_pickle_is_refused_without_being_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Hostile:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    blob = pickle.dumps({"weights": Hostile()})
    probe = tmp_path / "probe"
    pickle.loads(blob.replace(str(marker).encode(), str(probe).encode()))
    assert probe.exists()  # the payload really does run code when unpickled
    path = tmp_path / "evil.specialneurons"
    path.write_bytes(blob)
    refused(path, "pickle")
    assert not marker.exists()


def test_a_torch_zip_is_refused(tmp_path):
    path = tmp_path / "model.specialneurons"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    refused(path, "refused")


def test_a_snapshot_magic_or_a_newer_container_is_named(patch_path):
    data = patch_path.read_bytes()
    patch_path.write_bytes(b"NPSNAP\x00\x01" + data[8:])
    refused(patch_path, "snapshot")
    patch_path.write_bytes(b"NPATCH\x00\x02" + data[8:])
    refused(patch_path, "unsupported container version 2")
    patch_path.write_bytes(b"GIF89a\x00\x00" + data[8:])
    refused(patch_path, "wrong magic")


@pytest.mark.parametrize(
    ("length", "words"),
    [
        (0xFFFFFFFF, "over the 1048576 byte limit"),
        ((1 << 20) + 1, "over the 1048576 byte limit"),
        (900_000, "truncated header"),
        (0, "not valid JSON"),
    ],
)
def test_absurd_header_lengths_are_refused(patch_path, length, words):
    data = bytearray(patch_path.read_bytes())
    struct.pack_into("<I", data, 8, length)
    patch_path.write_bytes(bytes(data))
    refused(patch_path, words)


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2, 3]", "not an object"),
        (b'{"format_version": NaN}', "NaN is not allowed"),
        (b'{"format_version": 1, "format_version": 1}', "duplicate key"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'{"kind": "patch"}', "missing field 'format_version'"),
    ],
)
def test_hostile_header_text_is_refused(tmp_path, header, words):
    path = tmp_path / "bad.specialneurons"
    path.write_bytes(b"NPATCH\x00\x01" + struct.pack("<I", len(header)) + header)
    refused(path, words)


def _set(key: str, value: Any) -> Callable[[dict[str, Any], bytearray], None]:
    def edit(header: dict[str, Any], payload: bytearray) -> None:
        target, *rest = key.split(".")
        obj = header
        while rest:
            obj, target, rest = obj[target], rest[0], rest[1:]
        obj[target] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_set("format_version", 2), "unknown format_version 2"),
        (_set("format_version", True), "must be int, not bool"),
        (_set("kind", "snapshot"), "expected 'patch'"),
        (_set("name", 7), "'name' must be str"),
        (_set("name", ""), "'name' is empty"),
        (_set("created", "yesterday"), "not an ISO 8601 time"),
        (_set("triggers", []), "triggers is empty"),
        (_set("triggers", ["n02123045", "cat"]), "triggers[1] = 'cat'"),
        (_set("triggers", ["n02123045", "n2123045"]), "twice"),
        (_set("outputs", []), "outputs is empty"),
        (
            _set(
                "outputs",
                [
                    {"tag": "n1", "name": "a"},
                    {"tag": "n1", "name": "b"},
                    {"tag": "n3", "name": "c"},
                ],
            ),
            "outputs lists n1 twice",
        ),
        (
            _set("outputs", [{"tag": "n1", "name": "a"}, {"tag": "n2", "name": "b"}]),
            "weights has shape [3, 1280], expected [2, 1280]",
        ),
        (_set("outputs", ["n1", "n2", "n3"]), "'outputs[0]' must be dict"),
        (_set("feature_dim", 1000), "expected [3, 1000]"),
        (_set("feature_dim", "1280"), "'feature_dim' must be int"),
        (_set("weights.dtype", ">f4"), "little-endian float32"),
        (_set("weights.offset", -4), "negative"),
        (_set("weights.offset", 10**9), "beyond its end"),
        (_set("icon.nbytes", 10**6), "beyond its end"),
        (_set("bias.offset", 8), "overlap"),
        (_set("bias.nbytes", 16), "bias has 16 bytes"),
        (_set("bias", None), "'bias' must not be null"),
        (_set("base_fingerprint", None), "'base_fingerprint' must be str"),
    ],
)
def test_inconsistent_headers_are_refused_even_with_a_valid_hash(patch_path, edit, words):
    refused(forge(patch_path, edit), words)


def test_nan_or_infinite_weights_are_refused(patch_path):
    def poison(header: dict[str, Any], payload: bytearray) -> None:
        struct.pack_into("<f", payload, header["weights"]["offset"] + 40, float("nan"))

    refused(forge(patch_path, poison), "weights contains NaN")

    def infinite(header: dict[str, Any], payload: bytearray) -> None:
        struct.pack_into("<f", payload, header["bias"]["offset"], float("inf"))

    path = save_patch(make_patch(), patch_path)
    refused(forge(path, infinite), "bias contains NaN or infinity")


def test_a_huge_file_is_refused_before_it_is_read(patch_path):
    with open(patch_path, "r+b") as f:
        f.truncate(MAX_PATCH_BYTES + 1)  # sparse: costs no disk
    refused(patch_path, "byte limit")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.specialneurons"
    os.mkfifo(fifo)
    refused(fifo, "not a regular file")  # opening it for reading would wait for a writer
    with pytest.raises(ImageError, match="not a regular file"):
        read_icon(fifo)


def test_an_icon_file_is_read_only_up_to_the_limit(tmp_path):
    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.truncate(50 * MAX_ICON_BYTES)  # sparse
    with pytest.raises(ImageError, match="bytes"):
        read_icon(big)


def _swap_icon(icon: bytes) -> Callable[[dict[str, Any], bytearray], None]:
    def edit(header: dict[str, Any], payload: bytearray) -> None:
        header["icon"] = {"offset": len(payload), "nbytes": len(icon)}
        payload.extend(icon)

    return edit


def _corrupt_png() -> bytes:
    data = bytearray(png_bytes())
    data[len(data) // 2] ^= 0xFF  # inside IDAT: the chunk CRC no longer matches
    return bytes(data)


@pytest.mark.parametrize(
    ("icon", "words"),
    [
        (b"\xff\xd8\xff\xe0 a jpeg header", "not a PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not a valid PNG"),
        ("corrupt", "not a valid PNG"),
        ("large", "over the 512×512 limit"),
    ],
)
def test_bad_icons_are_refused_on_save_and_on_load(tmp_path, patch_path, icon, words):
    icon = {"corrupt": _corrupt_png, "large": lambda: png_bytes((600, 300))}.get(
        icon, lambda: icon
    )()
    target = tmp_path / "new.specialneurons"
    with pytest.raises(PatchFormatError, match=words):
        save_patch(make_patch(icon_png=icon), target)
    assert not target.exists()
    refused(forge(patch_path, _swap_icon(icon)), words)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"weights": np.full((3, 1280), np.nan, np.float32)}, "NaN"),
        ({"bias": np.zeros(4, np.float32)}, "bias has shape [4], expected [3]"),
        ({"triggers": []}, "triggers is empty"),
        (
            {"outputs": [PatchOutput("n1", "a"), PatchOutput("dog", "b"), PatchOutput("n3", "c")]},
            "outputs[1] = 'dog'",
        ),
        ({"weights": np.zeros(1280, np.float32)}, "must be K×D"),
        ({"name": "x" * 201}, "longer than 200"),
    ],
)
def test_save_refuses_what_load_would_refuse(tmp_path, changes, words):
    target = tmp_path / "bad.specialneurons"
    with pytest.raises(PatchFormatError) as caught:
        save_patch(make_patch(**changes), target)
    assert words in str(caught.value) and caught.value.path == target
    assert list(tmp_path.iterdir()) == []
