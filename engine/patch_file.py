"""The `.specialneurons` plugin file: one trained patch (fc 1280→K + softmax) as pure data.

A JSON header (triggers, outputs, provenance) plus raw float32 weights and an optional PNG
icon, inside the container of `container.py`. Everything is validated on load and on save,
so a patch shared by someone else can only ever be refused, never run code or crash a reader.
"""

from __future__ import annotations

import io
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.class_map import MAX_TAG_LEN, is_tag, tag_key
from neuralpatch.engine.container import PATCH_MAGIC, Container, pack_verified, read_container
from neuralpatch.engine.errors import PatchFormatError

PATCH_SUFFIX = ".specialneurons"
MAX_PATCH_BYTES = 64 << 20
MAX_OUTPUTS = 4096
MAX_TRIGGERS = 100_000
MAX_FEATURE_DIM = 1 << 16
MAX_NAME_LEN = 200
MAX_DESCRIPTION_LEN = 10_000
MAX_ICON_BYTES = 2 << 20
MAX_ICON_SIDE = 512
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# |bias_k| + sum_d |weights_kd| per output neuron. A logit is then at most this times the
# largest |feature|, and float32 overflows at 3.4e38: features up to 3e8 can never overflow
# (the base network's pooled ReLU6 features lie in [0, 6]). Trained patches are near 1e3.
MAX_ROW_L1 = 1e30
PATCH_BLOBS = ("weights", "bias", "icon")
# A patch may trigger on any of the base network's k best classes (docs/patch-system.md);
# past 10 the base's guesses are near noise, and a patch would wake on most photos.
MAX_TRIGGER_TOP_K = 10


def now_iso() -> str:
    """The current UTC time as ISO 8601, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class PatchOutput:
    """One output neuron: the tag it answers and its display name."""

    tag: str
    name: str


@dataclass
class PatchFile:
    """A patch: row k of `weights` (K×D float32) and `bias[k]` make output neuron k."""

    name: str
    triggers: list[str]
    outputs: list[PatchOutput]
    weights: np.ndarray
    bias: np.ndarray
    base_fingerprint: str
    description: str = ""
    icon_png: bytes | None = None
    created: str = field(default_factory=now_iso)
    # The patch abstains (answers "none") when its top output's probability is below this.
    min_confidence: float = 0.0
    # The output that means "none of these" (teach mode's background): answering it abstains.
    background: int | None = None
    # It triggers when one of the base network's `trigger_top_k` best classes is a trigger.
    trigger_top_k: int = 1

    @property
    def feature_dim(self) -> int:
        return int(self.weights.shape[1])


def save_patch(patch: PatchFile, path: str | Path) -> Path:
    """Validate, then write atomically; raises PatchFormatError for a patch load would refuse."""
    return write_atomic(path, patch_bytes(patch, path))


def patch_bytes(patch: PatchFile, path: str | Path) -> bytes:
    """The file `save_patch` would write, checked exactly as loading would check it.

    Also how an in-memory patch is admitted (`PatchSystem.add`): it must pass the same
    rules as one read from disk.
    """
    header, blobs = patch_header(patch, path)
    return pack_patch(header, blobs, path)


def load_patch(path: str | Path) -> PatchFile:
    """Read a `.specialneurons` file, raising PatchFormatError with the precise reason."""
    c = read_container(
        path,
        magic=PATCH_MAGIC,
        kind="patch",
        blob_names=PATCH_BLOBS,
        max_file_bytes=MAX_PATCH_BYTES,
    )
    return read_patch_fields(c)


def patch_header(patch: PatchFile, path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header fields and blobs of a patch (snapshots embed the same ones)."""
    weights = np.asarray(patch.weights)
    if weights.ndim != 2:
        raise PatchFormatError(f"weights must be K×D, got shape {list(weights.shape)}", path)
    header = {
        "name": patch.name,
        "description": patch.description,
        "created": patch.created,
        "triggers": list(patch.triggers),
        "outputs": [{"tag": o.tag, "name": o.name} for o in patch.outputs],
        "feature_dim": weights.shape[1],
        "base_fingerprint": patch.base_fingerprint,
        "min_confidence": float(patch.min_confidence),
    }
    if patch.background is not None:  # absent otherwise: other patches stay byte for byte
        header["background_output"] = patch.background
    if patch.trigger_top_k != 1:  # likewise: a top-1 patch is written as before
        header["trigger_top_k"] = patch.trigger_top_k
    blobs = {"weights": weights, "bias": np.asarray(patch.bias), "icon": patch.icon_png}
    return header, blobs


def read_patch_fields(c: Container) -> PatchFile:
    """Check and build the patch fields of a container header."""
    created = c.string("created", 64)
    try:
        zone = datetime.fromisoformat(created).tzinfo
    except ValueError:
        raise c.error(f"created {created!r} is not an ISO 8601 time") from None
    if zone is None:  # times are compared to pick the newest version: they need a zone
        raise c.error(f"created {created!r} has no time zone (write it in UTC: ...+00:00)")
    triggers = _tags(c, c.get("triggers", list), "triggers", MAX_TRIGGERS)
    raw_outputs = c.get("outputs", list)
    outputs = []
    for i, item in enumerate(raw_outputs):
        c.check(item, dict, f"outputs[{i}]")
        outputs.append(
            PatchOutput(
                c.get("tag", str, obj=item, what=f"outputs[{i}].tag"),
                c.string("name", MAX_NAME_LEN, obj=item, what=f"outputs[{i}].name"),
            )
        )
    _tags(c, [o.tag for o in outputs], "outputs", MAX_OUTPUTS)
    k = len(outputs)
    dim = c.integer("feature_dim", 1, MAX_FEATURE_DIM)
    icon = c.blob("icon")
    if icon is not None:
        check_icon(icon, c)
    weights, bias = c.array("weights", (k, dim)), c.array("bias", (k,))
    scale = _row_scale(weights, bias)
    worst = int(scale.argmax())  # outputs is non-empty, checked above
    if scale[worst] > MAX_ROW_L1:
        raise c.error(
            f"weights of output {worst} are too large to compute (|bias| + sum |weights| = "
            f"{scale[worst]:.3g}, over {MAX_ROW_L1:.0e}): its logits could overflow float32"
        )
    background = c.header.get("background_output")
    if background is not None:
        c.check(background, int, "background_output")
        if not 0 <= background < k:
            raise c.error(f"background_output = {background} is not an output index (0 to {k - 1})")
    return PatchFile(
        name=c.string("name", MAX_NAME_LEN),
        description=c.string("description", MAX_DESCRIPTION_LEN, empty=True),
        created=created,
        triggers=triggers,
        outputs=outputs,
        weights=weights,
        bias=bias,
        icon_png=icon,
        base_fingerprint=c.string("base_fingerprint", 256),
        min_confidence=_min_confidence(c),
        background=background,
        trigger_top_k=_trigger_top_k(c),
    )


def _min_confidence(c: Container) -> float:
    """Optional (files written before it existed have none: they never abstain)."""
    if "min_confidence" not in c.header:
        return 0.0
    value = float(c.get("min_confidence", (int, float)))
    if not 0.0 <= value <= 1.0:
        raise c.error(f"min_confidence = {value:g} is outside [0, 1]")
    return value


def _trigger_top_k(c: Container) -> int:
    """Optional (files written before it existed trigger on the base's top-1 only)."""
    if "trigger_top_k" not in c.header:
        return 1
    return c.integer("trigger_top_k", 1, MAX_TRIGGER_TOP_K)


def check_icon(data: bytes, c: Container) -> None:
    """A small, fully decodable PNG: the app shows it, so it must not be a bomb or a lie."""
    if len(data) > MAX_ICON_BYTES:
        raise c.error(f"icon is {len(data)} bytes, over the {MAX_ICON_BYTES} byte limit")
    if not data.startswith(PNG_SIGNATURE):
        raise c.error("icon is not a PNG (bad signature)")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            if img.width > MAX_ICON_SIDE or img.height > MAX_ICON_SIDE:
                raise c.error(
                    f"icon is {img.width}×{img.height}, over the "
                    f"{MAX_ICON_SIDE}×{MAX_ICON_SIDE} limit"
                )
            img.verify()
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise c.error(f"icon is not a valid PNG: {exc}") from exc


def timestamped_name(name: str, suffix: str = PATCH_SUFFIX, *, time_ns: int | None = None) -> str:
    """`<safe-name>_<12 hex digits of time>.specialneurons`, as the original tool tagged files.

    The hex digits are the top 48 bits of the Unix time in nanoseconds (65.5 µs steps), so
    names sort by creation time and two saves never share a name in practice.
    """
    t = time.time_ns() if time_ns is None else time_ns
    return f"{safe_name(name)}_{t:016x}"[:-4] + suffix


def safe_name(name: str) -> str:
    """A name any file system accepts: ASCII letters, digits, `.`, `_` and `-`, at most 64."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:64].rstrip("._-")
    return text or "patch"


def pack_patch(header: dict[str, Any], blobs: dict[str, Any], path: str | Path) -> bytes:
    """The file's bytes, parsed back as a loader would: a patch load would refuse raises."""
    return pack_verified(
        PATCH_MAGIC,
        "patch",
        header,
        blobs,
        path,
        blob_names=PATCH_BLOBS,
        max_file_bytes=MAX_PATCH_BYTES,
        read_fields=read_patch_fields,
    )


def _row_scale(weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """|bias_k| + sum_d |weights_kd|, a block of rows at a time: no K×D temporary."""
    scale = np.abs(bias).astype(np.float64)
    rows = max(1, (1 << 18) // max(1, weights.shape[1]))
    for start in range(0, len(weights), rows):
        block = np.abs(weights[start : start + rows])
        scale[start : start + rows] += block.sum(axis=1, dtype=np.float64)
    return scale


def _tags(c: Container, values: list[Any], what: str, limit: int) -> list[str]:
    if not values:
        raise c.error(f"{what} is empty")
    if len(values) > limit:
        raise c.error(f"{what} has {len(values)} entries, over the {limit} limit")
    seen: dict[int, str] = {}
    for i, tag in enumerate(values):
        if not is_tag(tag):
            raise c.error(
                f"{what}[{i}] = {str(tag)[:80]!r} is not 'n' followed by an integer "
                f"(at most {MAX_TAG_LEN} characters)"
            )
        if tag_key(tag) in seen:
            raise c.error(f"{what} lists {tag} twice (also as {seen[tag_key(tag)]})")
        seen[tag_key(tag)] = tag
    return list(values)
