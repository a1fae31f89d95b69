"""Blocks of patches evaluated together: stacked weights, one matmul, a segmented soft-max.

A block is every enabled patch with one trigger set (or a tag's merged sets, see
`MergedBlocks`). Everything a frame needs from its members besides the weights — where each
member's rows start, its `min_confidence`, its background output, whether it has an icon —
is held as arrays here, so reading 1,000 members' answers is a few array operations.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from neuralpatch.engine.loaded_patch import LoadedPatch
from neuralpatch.engine.patch_model import finite_logits

MERGED_BYTES = 64 << 20  # weights copied into per-tag merged blocks, per index
_THREADED_BLAS_FROM = 1 << 16  # block size (weights) from which the matmul avoids BLAS threads


@dataclass(frozen=True, eq=False)
class PatchBlock:
    """Enabled patches evaluated together (one trigger set, or a tag's merged sets)."""

    members: tuple[LoadedPatch, ...]
    weights: np.ndarray  # (sum K, D)
    bias: np.ndarray  # (sum K,)
    starts: np.ndarray  # first row of each member
    sizes: np.ndarray  # rows (outputs) of each member

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Each member's soft-max, side by side: a segmented soft-max over one matmul."""
        if self.weights.size >= _THREADED_BLAS_FROM:
            # einsum's own loop, single-threaded: a multithreaded BLAS gemv this small spends
            # more waking its threads, against the base pass's, than computing (13.5 ms vs
            # 6.5 ms a frame with 1,000 patches firing, measured in benchmarks/camera_loop.py)
            logits = np.einsum("kd,d->k", self.weights, features) + self.bias
        else:
            logits = self.weights @ features + self.bias
        if len(self.sizes) == 1:  # the common case, kept scalar: this runs every frame
            top = logits.max()
            if not math.isfinite(top):
                logits = finite_logits(logits)
                top = logits.max()
            e = np.exp(logits - top)
            return e / e.sum()
        top = np.maximum.reduceat(logits, self.starts)
        if not np.isfinite(top).all():  # only for features far outside the base's range
            logits = finite_logits(logits)
            top = np.maximum.reduceat(logits, self.starts)
        e = np.exp(logits - np.repeat(top, self.sizes))
        return e / np.repeat(np.add.reduceat(e, self.starts), self.sizes)

    @cached_property
    def _layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gather (members, widest), valid mask, member numbers): to read every member's
        top output with a few array operations rather than a numpy call per member."""
        widest = int(self.sizes.max())
        offsets = np.arange(widest)
        valid = offsets[None, :] < self.sizes[:, None]
        gather = np.where(valid, self.starts[:, None] + offsets[None, :], 0)
        return gather, valid, np.arange(len(self.members))

    def top_outputs(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each member's top output (first on a tie, as argmax) and its probability (as
        float64, so comparing it with a threshold is exactly the Python comparison)."""
        gather, valid, numbers = self._layout
        padded = np.where(valid, probs[gather], -1.0)
        best = padded.argmax(axis=1)
        return best, padded[numbers, best].astype(np.float64)

    @property
    def numbers(self) -> np.ndarray:
        """0, 1, ... one per member."""
        return self._layout[2]

    @cached_property
    def member_rules(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(min_confidence, background output or -1, has an icon) of each member."""
        patches = [m.patch for m in self.members]
        return (
            np.array([p.min_confidence for p in patches], np.float64),
            np.array([-1 if p.background is None else p.background for p in patches], np.intp),
            np.array([p.icon_png is not None for p in patches], bool),
        )

    @cached_property
    def bounds(self) -> tuple[list[int], list[int]]:
        """starts and sizes as lists, for slicing one member's probabilities."""
        return self.starts.tolist(), self.sizes.tolist()


@dataclass(frozen=True, eq=False)
class BlockWiring:
    """What one index knows of a block's members (blocks outlive indexes, these do not)."""

    ids: np.ndarray  # each member's position in the index's enabled patches
    wakes: np.ndarray  # per row (output): does that output's tag trigger any patch

    @staticmethod
    def join(parts: list[BlockWiring]) -> BlockWiring:
        return BlockWiring(
            np.concatenate([p.ids for p in parts]), np.concatenate([p.wakes for p in parts])
        )


class MergedBlocks:
    """Per-tag merges of several blocks, made on first use, within a byte budget.

    Only a cache: a merged block holds the same patches in the same order as the blocks it
    replaces, so answers are identical either way. Past the budget a tag simply keeps its
    one-matmul-per-block path. `wiring(block)` is a merged block's `BlockWiring`.
    """

    def __init__(self) -> None:
        self._merged: dict[int, PatchBlock] = {}
        self._wiring: dict[PatchBlock, BlockWiring] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def blocks(
        self, tag: int, blocks: tuple[PatchBlock, ...], wiring: Mapping[PatchBlock, BlockWiring]
    ) -> tuple[PatchBlock, ...]:
        if len(blocks) < 2:
            return blocks
        merged = self._merged.get(tag)
        if merged is None:
            size = sum(b.weights.nbytes for b in blocks)
            with self._lock:
                if self._bytes + size > MERGED_BYTES:
                    return blocks
                merged = self._merged.get(tag)
                if merged is None:
                    merged = stack_block([m for b in blocks for m in b.members])
                    self._wiring[merged] = BlockWiring.join([wiring[b] for b in blocks])
                    self._merged[tag] = merged
                    self._bytes += size
        return (merged,)

    def wiring(self, block: PatchBlock) -> BlockWiring:
        return self._wiring[block]


def stack_block(members: list[LoadedPatch]) -> PatchBlock:
    """Copies, so a caller still training the PatchFile it added cannot change a snapshot."""
    sizes = np.array([p.patch.weights.shape[0] for p in members], np.intp)
    starts = np.cumsum(sizes) - sizes
    stacked = np.concatenate([p.patch.weights for p in members], dtype=np.float32)
    bias = np.concatenate([p.patch.bias for p in members], dtype=np.float32)
    for array in (stacked, bias, starts, sizes):
        array.flags.writeable = False
    return PatchBlock(tuple(members), stacked, bias, starts, sizes)
