"""The `.npsnapshot` file: everything needed to resume training exactly where it stopped.

Same data-only container as a patch (see `container.py`), kind "snapshot": the patch fields,
the momentum velocities, hyper-parameters, step count, the numpy PCG64 state, the loss
history and a summary of the dataset. The patch inside can be exported on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.container import (
    SNAPSHOT_MAGIC,
    Container,
    pack_verified,
    read_container,
    read_header,
)
from neuralpatch.engine.hyper_params import BOUNDS
from neuralpatch.engine.patch_file import PATCH_BLOBS, PatchFile, patch_header, read_patch_fields

SNAPSHOT_SUFFIX = ".npsnapshot"
MAX_SNAPSHOT_BYTES = 512 << 20
MAX_LOSS_HISTORY = 1 << 24
MAX_STEP = 1 << 62
MAX_ELAPSED_S = 1e12  # seconds: 30,000 years; NaN and infinities fail the comparison too
SNAPSHOT_BLOBS = (*PATCH_BLOBS, "velocity_weights", "velocity_bias", "loss_history")
_U128 = (1 << 128) - 1


@dataclass
class Snapshot:
    """A training run frozen between two steps.

    `hyper` holds at least batch_size (int), lr, momentum, decay (floats) and augment (bool);
    other JSON values are kept as they are. `rng_state` is `PCG64().state`.
    """

    patch: PatchFile
    velocity_weights: np.ndarray
    velocity_bias: np.ndarray
    hyper: dict[str, Any]
    step: int
    rng_state: dict[str, Any]
    loss_history: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    dataset_summary: dict[str, Any] = field(default_factory=dict)

    def generator(self) -> np.random.Generator:
        """A generator that continues the saved random stream."""
        bit_generator = np.random.PCG64()
        bit_generator.state = self.rng_state
        return np.random.Generator(bit_generator)


def save_snapshot(snapshot: Snapshot, path: str | Path) -> Path:
    """Validate, then write atomically; raises PatchFormatError for a snapshot load would refuse."""
    return write_atomic(path, pack_snapshot(snapshot, path))


def pack_snapshot(snapshot: Snapshot, path: str | Path) -> bytes:
    """The file's bytes, parsed back as a loader would: a snapshot load would refuse raises."""
    header, blobs = patch_header(snapshot.patch, path)
    header.update(
        hyper_parameters=snapshot.hyper,
        step=snapshot.step,
        rng_state=snapshot.rng_state,
        dataset_summary=snapshot.dataset_summary,
    )
    blobs.update(
        velocity_weights=np.asarray(snapshot.velocity_weights),
        velocity_bias=np.asarray(snapshot.velocity_bias),
        loss_history=np.asarray(snapshot.loss_history),
    )
    data = pack_verified(
        SNAPSHOT_MAGIC,
        "snapshot",
        header,
        blobs,
        path,
        blob_names=SNAPSHOT_BLOBS,
        max_file_bytes=MAX_SNAPSHOT_BYTES,
        read_fields=read_snapshot_fields,
    )
    return data


def load_snapshot(path: str | Path) -> Snapshot:
    """Read a `.npsnapshot` file, raising PatchFormatError with the precise reason."""
    c = read_container(
        path,
        magic=SNAPSHOT_MAGIC,
        kind="snapshot",
        blob_names=SNAPSHOT_BLOBS,
        max_file_bytes=MAX_SNAPSHOT_BYTES,
    )
    return read_snapshot_fields(c)


def snapshot_dataset_root(path: str | Path) -> str | None:
    """`dataset_summary.root` of a snapshot, from its header alone (no payload is read).

    Raises PatchFormatError for a file that is not a snapshot's header.
    """
    header = read_header(
        path, magic=SNAPSHOT_MAGIC, kind="snapshot", max_file_bytes=MAX_SNAPSHOT_BYTES
    )
    summary = header.get("dataset_summary")
    root = summary.get("root") if isinstance(summary, dict) else None
    return root if isinstance(root, str) and root else None


def read_snapshot_fields(c: Container) -> Snapshot:
    patch = read_patch_fields(c)
    history = c.get("loss_history", dict)
    length = c.get("shape", list, obj=history, what="loss_history.shape")
    if len(length) != 1:
        raise c.error("loss_history must be one-dimensional")
    n = c.check(length[0], int, "loss_history.shape")
    if not 0 <= n <= MAX_LOSS_HISTORY:
        raise c.error(f"loss_history has {n} entries, outside [0, {MAX_LOSS_HISTORY}]")
    return Snapshot(
        patch=patch,
        velocity_weights=c.array("velocity_weights", patch.weights.shape),
        velocity_bias=c.array("velocity_bias", patch.bias.shape),
        hyper=_hyper(c),
        step=c.integer("step", 0, MAX_STEP),
        rng_state=_rng_state(c),
        loss_history=c.array("loss_history", (n,)),
        dataset_summary=c.get("dataset_summary", dict),
    )


def _hyper(c: Container) -> dict[str, Any]:
    raw = c.get("hyper_parameters", dict)
    hyper = dict(raw)
    for key, bound in BOUNDS.items():  # the trainer's own bounds: what it refuses, load refuses
        kinds = int if bound.integer else (int, float)
        value = c.get(key, kinds, obj=raw, what=f"hyper_parameters.{key}")
        if not bound.holds(value):
            raise c.error(f"hyper_parameters.{key} = {_shown(value)} is outside {bound.interval}")
        hyper[key] = value if bound.integer else float(value)
    hyper["augment"] = c.get("augment", bool, obj=raw, what="hyper_parameters.augment")
    # Written by the trainer to resume exactly; optional for other writers.
    for key in ("seed", "drawn"):
        if key in raw:
            hyper[key] = c.integer(key, 0, MAX_STEP, obj=raw, what=f"hyper_parameters.{key}")
    if "elapsed_s" in raw:  # training time over every session of the run
        value = c.get("elapsed_s", (int, float), obj=raw, what="hyper_parameters.elapsed_s")
        if not 0 <= value <= MAX_ELAPSED_S:
            raise c.error(f"hyper_parameters.elapsed_s = {_shown(value)} is outside [0, 1e12]")
        hyper["elapsed_s"] = float(value)
    if "val_fraction" in raw:
        value = c.get("val_fraction", (int, float), obj=raw, what="hyper_parameters.val_fraction")
        if not 0 <= value < 1:
            raise c.error(f"hyper_parameters.val_fraction = {_shown(value)} is outside [0, 1)")
        hyper["val_fraction"] = float(value)
    return hyper


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 20 else f"{text[:17]}..."


def _rng_state(c: Container) -> dict[str, Any]:
    """Only PCG64 (numpy's default_rng) with in-range integers, then numpy itself must accept it."""
    state = c.get("rng_state", dict)
    if state.get("bit_generator") != "PCG64":
        raise c.error("rng_state.bit_generator must be 'PCG64'")
    inner = c.get("state", dict, obj=state, what="rng_state.state")
    for key in ("state", "inc"):
        if not 0 <= c.get(key, int, obj=inner, what=f"rng_state.state.{key}") <= _U128:
            raise c.error(f"rng_state.state.{key} is not a 128-bit unsigned integer")
    c.integer("has_uint32", 0, 1, obj=state, what="rng_state.has_uint32")
    c.integer("uinteger", 0, (1 << 32) - 1, obj=state, what="rng_state.uinteger")
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise c.error(f"rng_state is refused by numpy: {exc}") from exc
    return state
