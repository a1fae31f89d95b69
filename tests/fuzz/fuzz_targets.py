"""What the fuzz suite feeds and what it expects: seeds, mutations, and one target per reader.

Each target takes bytes and returns "ok" (the input was accepted and its text prints
safely) or "refused" (the reader's own error type: PatchFormatError, DatasetError,
ImageError). Anything else it raises is a bug. Shared by the hypothesis tests (a few hundred
examples in CI) and by `campaign.py` (hundreds of thousands, counting the bugs).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import random
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from neuralpatch.engine.class_map import parse_map
from neuralpatch.engine.container import PATCH_MAGIC, SNAPSHOT_MAGIC, parse_container
from neuralpatch.engine.errors import DatasetError, ImageError, PatchFormatError
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.patch_events import is_patch_file
from neuralpatch.engine.patch_file import (
    MAX_PATCH_BYTES,
    PATCH_BLOBS,
    PatchFile,
    PatchOutput,
    patch_bytes,
    read_patch_fields,
)
from neuralpatch.engine.patch_pins import parse_pins
from neuralpatch.engine.safe_text import json_text, printable
from neuralpatch.engine.snapshot import (
    MAX_SNAPSHOT_BYTES,
    SNAPSHOT_BLOBS,
    Snapshot,
    pack_snapshot,
    read_snapshot_fields,
)

HERE = Path("fuzz.bin")  # only names the input in error messages


def _icon() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (4, 3), (200, 30, 40, 255)).save(out, format="PNG")
    return out.getvalue()


def _patch() -> PatchFile:
    rng = np.random.default_rng(0)
    return PatchFile(
        name="felix cats",
        description="domestic / small wild / big",
        triggers=["n02123045", "n02123159"],
        outputs=[PatchOutput("n02121808", "domestic"), PatchOutput("n02124623", "wild")],
        weights=rng.standard_normal((2, 8)).astype(np.float32),
        bias=np.array([0.5, -0.5], np.float32),
        base_fingerprint="3f2a9c0d11e4b7a8",
        icon_png=_icon(),
        created="2025-06-01T12:00:00+00:00",
    )


def patch_seed() -> bytes:
    return patch_bytes(_patch(), HERE)


def snapshot_seed() -> bytes:
    patch = _patch()
    snapshot = Snapshot(
        patch=patch,
        velocity_weights=patch.weights * np.float32(0.1),
        velocity_bias=np.zeros(2, np.float32),
        hyper={"batch_size": 16, "lr": 0.01, "momentum": 0.9, "decay": 0.0, "augment": False},
        step=7,
        rng_state=np.random.PCG64(0).state,
        loss_history=np.linspace(2.0, 0.5, 5, dtype=np.float32),
        dataset_summary={"root": "/data/felix", "problem_count": 0},
    )
    return pack_snapshot(snapshot, HERE)


def map_seed() -> bytes:
    return b"n02121808 1 domestic_cat\nn02124623 2 wildcat\n# a comment\n\nn2123045 3 tabby\n"


def image_seeds() -> list[bytes]:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    seeds = []
    for fmt, mode in (("PNG", "RGB"), ("JPEG", "RGB"), ("PNG", "RGBA"), ("PNG", "I;16")):
        img = Image.fromarray(rgb)
        if mode == "RGBA":
            img = img.convert("RGBA")
        elif mode == "I;16":
            img = Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257)
        out = io.BytesIO()
        img.save(out, format=fmt)
        seeds.append(out.getvalue())
    return seeds


# -- mutations: byte edits, and edits of the JSON header that keep the layout readable ----
JSON_VALUES: list[object] = [
    None, True, 0, -1, 1 << 70, 1e308, -0.0, "", "\ud800", "\x1b]0;x\x07", "n1", "n" + "9" * 70,
    [], [1], {}, {"offset": 0, "nbytes": 1 << 40}, {"shape": [2, -1], "dtype": "<f4"}, "x" * 300,
    [{"tag": "n1", "name": ""}], "2999-01-01T00:00:00+00:00", "yesterday", 1e36,
]  # fmt: skip


def mutate(seed: bytes, rng: random.Random, steps: int) -> bytes:
    """`steps` random byte-level edits: flips, overwrites, cuts, insertions, duplications."""
    data = bytearray(seed)
    for _ in range(steps):
        op = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[at % len(data)] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[at % len(data)] = rng.choice((0, 0xFF, 0x7F, 0x80, ord('"'), ord("\\")))
        elif op == 2:
            del data[at:]
        elif op == 3:
            data[at:at] = rng.randbytes(rng.randrange(1, 16))
        elif op == 4:
            end = min(len(data), at + rng.randrange(1, 64))
            data[at:at] = data[at:end]
        else:
            del data[at : at + rng.randrange(1, 32)]
    return bytes(data)


def mutate_header(seed: bytes, rng: random.Random, steps: int) -> bytes:
    """Replace or delete header fields (nested ones too), keeping prefix and payload valid.

    Gets past the JSON parser into the field checks, where a byte flip rarely reaches.
    """
    (size,) = struct.unpack_from("<I", seed, 8)
    header = json.loads(seed[12 : 12 + size])
    for _ in range(steps):
        target, key = _pick(header, rng)
        if rng.random() < 0.2 and isinstance(target, dict):
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(rng.choice(JSON_VALUES))  # never shared: no cycles
    text = json.dumps(header).encode()  # ensure_ascii: a lone surrogate becomes \ud800
    return seed[:8] + struct.pack("<I", len(text)) + text + seed[12 + size :]


FLOAT_PATTERNS = [
    struct.pack("<f", v) for v in (float("nan"), float("inf"), 3e38, -3e38, 1e36, 1e-45, 0.0)
]


def mutate_payload(seed: bytes, rng: random.Random, steps: int) -> bytes:
    """Edit payload bytes (floats set to NaN, infinity, huge values) and re-sign the payload.

    The header's sha256 and length are updated, so the edits reach the array and icon
    checks instead of stopping at the hash.
    """
    (size,) = struct.unpack_from("<I", seed, 8)
    header = json.loads(seed[12 : 12 + size])
    payload = bytearray(seed[12 + size :])
    for _ in range(steps):
        at = rng.randrange(max(1, len(payload) - 4))
        if rng.random() < 0.6:
            payload[at & ~3 : (at & ~3) + 4] = rng.choice(FLOAT_PATTERNS)
        else:
            payload[at] ^= 1 << rng.randrange(8)
    header["payload_nbytes"] = len(payload)
    header["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    text = json.dumps(header).encode()
    return seed[:8] + struct.pack("<I", len(text)) + text + bytes(payload)


def _pick(node: dict, rng: random.Random) -> tuple[dict | list, object]:
    target: dict | list = node
    key: object = rng.choice(list(node))
    while rng.random() < 0.5:
        inner = target[key]  # type: ignore[index]
        if isinstance(inner, dict) and inner:
            target, key = inner, rng.choice(list(inner))
        elif isinstance(inner, list) and inner:
            target, key = inner, rng.randrange(len(inner))
        else:
            break
    return target, key


# -- targets --------------------------------------------------------------------------------
def _shown(*texts: object) -> None:
    """Accepted text must print and encode safely, and JSON must stay strict."""
    for text in texts:
        printable(text).encode("utf-8")
    json.loads(json_text([str(t) for t in texts]))


def load_patch_bytes(data: bytes) -> str:
    try:
        c = parse_container(
            data,
            HERE,
            magic=PATCH_MAGIC,
            kind="patch",
            blob_names=PATCH_BLOBS,
            max_file_bytes=MAX_PATCH_BYTES,
        )
        patch = read_patch_fields(c)
    except PatchFormatError as exc:
        _shown(exc)
        return "refused"
    _shown(patch.name, patch.description, *(o.name for o in patch.outputs))
    assert np.isfinite(patch.weights).all() and np.isfinite(patch.bias).all()
    return "ok"


def load_snapshot_bytes(data: bytes) -> str:
    try:
        c = parse_container(
            data,
            HERE,
            magic=SNAPSHOT_MAGIC,
            kind="snapshot",
            blob_names=SNAPSHOT_BLOBS,
            max_file_bytes=MAX_SNAPSHOT_BYTES,
        )
        snapshot = read_snapshot_fields(c)
    except PatchFormatError as exc:
        _shown(exc)
        return "refused"
    _shown(snapshot.patch.name, json_text(snapshot.dataset_summary))
    snapshot.generator().random()  # the saved random stream really continues
    return "ok"


def parse_map_bytes(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "refused"  # read_map_text's own refusal; the parser sees text only
    try:
        rows = parse_map(text, HERE, DatasetError)
    except DatasetError as exc:
        _shown(exc)
        return "refused"
    _shown(*(r.name for r in rows))
    return "ok"


def parse_pins_bytes(data: bytes) -> str:
    try:
        pins = parse_pins(data, HERE)
    except PatchFormatError as exc:
        _shown(exc)
        return "refused"
    _shown(*pins, *pins.values())
    assert all(is_patch_file(file) and Path(file).name == file for file in pins.values())
    return "ok"


def pins_seed() -> bytes:
    return b'{"pins": {"felix cats": "felix_cats_0188a0b1c2d3.specialneurons"}}'


def decode_image_bytes(data: bytes) -> str:
    try:
        rgb = decode_image(HERE, data)
    except ImageError as exc:
        _shown(exc)
        return "refused"
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    return "ok"


Target = Callable[[bytes], str]
TARGETS: dict[str, tuple[Target, Callable[[], list[bytes]], bool]] = {
    # name: (target, seeds, whether header mutations apply)
    "patch": (load_patch_bytes, lambda: [patch_seed()], True),
    "snapshot": (load_snapshot_bytes, lambda: [snapshot_seed()], True),
    "map": (parse_map_bytes, lambda: [map_seed()], False),
    "image": (decode_image_bytes, image_seeds, False),
    "pins": (parse_pins_bytes, lambda: [pins_seed()], False),
}
