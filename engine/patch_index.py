"""The immutable trigger index of a patch system, and the cascade it runs for one image.

`build_index` turns the loaded patches into a `PatchIndex`: a dict from trigger tag to the
blocks of patches it wakes, where a block is every enabled patch with the same trigger set,
its weights stacked so the whole block is one matmul. The first time a tag with several
blocks is identified, its blocks are merged into one (kept within a memory budget), so from
then on every patch a tag wakes is one matmul. Building also decides which patches are
disabled (a newer file with the same patch name, or a trigger cycle). An index never changes
what it answers once built, so a camera thread can classify with one while `PatchSystem`
builds the next and swaps it in.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_network import Prediction
from neuralpatch.engine.class_map import tag_key
from neuralpatch.engine.classes import BaseClasses
from neuralpatch.engine.loaded_patch import LoadedPatch
from neuralpatch.engine.patch_model import finite_logits
from neuralpatch.engine.patch_result import ImageResult, PatchResult
from neuralpatch.engine.patch_rules import cycle_reasons, supersede_by_name

MERGED_BYTES = 64 << 20  # weights copied into per-tag merged blocks, per index
_THREADED_BLAS_FROM = 1 << 16  # block size (weights) from which the matmul avoids BLAS threads


@dataclass(frozen=True, eq=False)
class _Block:
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
    def _layout(self) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
        """(gather (members, widest), valid mask, starts, sizes): to read every member's top
        output with a few array operations rather than a numpy call per member."""
        widest = int(self.sizes.max())
        offsets = np.arange(widest)
        valid = offsets[None, :] < self.sizes[:, None]
        gather = np.where(valid, self.starts[:, None] + offsets[None, :], 0)
        return gather, valid, self.starts.tolist(), self.sizes.tolist()

    def top_outputs(self, probs: np.ndarray) -> tuple[list[int], list[float]]:
        """Each member's top output (first on a tie, as argmax) and its probability."""
        gather, valid, _, _ = self._layout
        padded = np.where(valid, probs[gather], -1.0)
        best = padded.argmax(axis=1)
        return best.tolist(), padded[np.arange(len(best)), best].tolist()


class _MergedBlocks:
    """Per-tag merges of several blocks, made on first use, within a byte budget.

    Only a cache: a merged block holds the same patches in the same order as the blocks it
    replaces, so answers are identical either way. Past the budget a tag simply keeps its
    one-matmul-per-block path.
    """

    def __init__(self) -> None:
        self._merged: dict[int, _Block] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def blocks(self, tag: int, blocks: tuple[_Block, ...]) -> tuple[_Block, ...]:
        if len(blocks) < 2:
            return blocks
        merged = self._merged.get(tag)
        if merged is None:
            size = sum(b.weights.nbytes for b in blocks)
            with self._lock:
                if self._bytes + size > MERGED_BYTES:
                    return blocks
                merged = self._merged.get(tag) or _stack([m for b in blocks for m in b.members])
                if tag not in self._merged:
                    self._merged[tag] = merged
                    self._bytes += size
        return (merged,)


@dataclass(frozen=True, eq=False)
class PatchIndex:
    """A snapshot of the patch system; build it with `build_index`, never change it."""

    classes: BaseClasses
    min_probability: float
    patches: tuple[LoadedPatch, ...]  # every loaded patch, by path, `disabled` filled in
    enabled: tuple[LoadedPatch, ...]
    by_tag: Mapping[int, tuple[_Block, ...]]  # by tag_key: `n7` and `n007` wake the same
    cycles: tuple[tuple[str, ...], ...]  # patch names around each cycle, first one repeated
    deepest: int = 1  # the largest `trigger_top_k` of an enabled patch: base ranks looked at
    _merged: _MergedBlocks = field(default_factory=_MergedBlocks, init=False, repr=False)

    def classify(
        self, probabilities: np.ndarray, features: np.ndarray, top_k: int = 5
    ) -> ImageResult:
        """Run the cascade for one image from its base probabilities and pooled features."""
        started = time.perf_counter()
        probabilities = np.asarray(probabilities)
        features = np.asarray(features, np.float32)
        top = top_predictions(self.classes, probabilities, top_k)
        best = int(np.argmax(probabilities))
        identified = Prediction(
            best, self.classes.tags[best], self.classes.names[best], float(probabilities[best])
        )
        if identified.probability < self.min_probability:
            return ImageResult(top, None, [], _ms_since(started))
        roots: list[PatchResult] = []
        # Breadth first, so each patch runs once per image, under its shallowest master; the
        # base's k best classes come first, best first, so a patch is woken by its best one.
        ranked = [identified]
        if self.deepest > 1:
            deeper = top  # already sorted for the result, unless the caller asked for fewer
            if len(deeper) < self.deepest:
                deeper = top_predictions(self.classes, probabilities, self.deepest)
            ranked += [
                p for p in deeper if p.index != best and p.probability >= self.min_probability
            ][: self.deepest - 1]
        queue = deque((p.tag, p.name, roots, rank) for rank, p in enumerate(ranked))
        ran: set[LoadedPatch] = set()
        while queue:
            tag, tag_name, siblings, rank = queue.popleft()
            key = tag_key(tag)
            for block in self._blocks_for(key, rank):
                fresh = [i for i, m in enumerate(block.members) if m not in ran]
                if not fresh:
                    continue
                t0 = time.perf_counter()
                probs = block.probabilities(features)
                tops, best = block.top_outputs(probs)
                _, _, starts, sizes = block._layout
                nodes = []
                for i in fresh:
                    member = block.members[i]
                    ran.add(member)
                    k, start = tops[i], starts[i]
                    # Unsure (under its min_confidence), or sure it is "none of these".
                    abstained = bool(best[i] < member.patch.min_confidence) or (
                        member.patch.background == k
                    )
                    node = PatchResult(
                        member,
                        tag,
                        tag_name,
                        k,
                        best[i],
                        probs[start : start + sizes[i]],
                        identified=best[i] >= self.min_probability and not abstained,
                        abstained=abstained,
                    )
                    nodes.append(node)
                    if node.identified and not node.abstained:  # "none of these" wakes no slave
                        output = member.patch.outputs[k]
                        queue.append((output.tag, output.name, node.children, 0))
                siblings += nodes
                share = (time.perf_counter() - t0) * 1e3 / len(nodes)
                for node in nodes:
                    node.elapsed_ms = share
        return ImageResult(top, identified, roots, _ms_since(started))

    def _blocks_for(self, key: int, rank: int) -> tuple[_Block, ...]:
        """The blocks a tag wakes when it is the base's `rank`-th class (0: its top-1, or a
        master's answer, which wakes every patch): at a lower rank only the blocks of
        patches whose `trigger_top_k` reaches it (blocks share one k, see `build_index`)."""
        if rank == 0:
            return self._merged.blocks(key, self.by_tag.get(key, ()))
        return tuple(b for b in self.by_tag.get(key, ()) if b.members[0].patch.trigger_top_k > rank)


def build_index(
    loaded: Iterable[LoadedPatch],
    classes: BaseClasses,
    min_probability: float = 0.0,
    previous: PatchIndex | None = None,
    pinned: Mapping[Path, str] | None = None,
) -> PatchIndex:
    """Decide which patches run (`pinned`: the user's pins, path -> patch name), then index
    them by trigger tag.

    Blocks of `previous` whose patches are all unchanged are reused rather than stacked
    again, so reloading one file among a thousand costs little.
    """
    patches = sorted(loaded, key=lambda p: str(p.path))
    patches = supersede_by_name(patches, pinned=pinned)
    running = [p for p in patches if p.disabled is None]
    reasons, cycles = cycle_reasons(running)
    patches = [
        replace(p, disabled=reasons[p.path], chosen=None) if p.path in reasons else p
        for p in patches
    ]
    enabled = tuple(p for p in patches if p.disabled is None)
    # One block per trigger set and top-k, so a block woken at a lower base rank is woken whole.
    by_set: dict[tuple[frozenset[int], int], list[LoadedPatch]] = {}
    for p in enabled:
        triggers = frozenset(map(tag_key, p.patch.triggers))
        by_set.setdefault((triggers, p.patch.trigger_top_k), []).append(p)
    # Members are the very LoadedPatch objects `previous` holds, so their ids are stable.
    reusable = {tuple(map(id, b.members)): b for b in _blocks(previous)}
    by_tag: dict[int, list[_Block]] = {}
    for (triggers, _), members in by_set.items():
        block = reusable.get(tuple(map(id, members))) or _stack(members)
        for key in sorted(triggers):
            by_tag.setdefault(key, []).append(block)
    return PatchIndex(
        classes,
        min_probability,
        tuple(patches),
        enabled,
        {t: tuple(b) for t, b in by_tag.items()},
        tuple(cycles),
        max((p.patch.trigger_top_k for p in enabled), default=1),
    )


def top_predictions(classes: BaseClasses, probabilities: np.ndarray, k: int) -> list[Prediction]:
    """The k most probable base classes, best first (a partial sort: this runs every frame)."""
    k = max(1, min(k, len(probabilities)))
    part = np.argpartition(probabilities, -k)[-k:]
    order = part[np.argsort(probabilities[part], kind="stable")[::-1]]
    return [
        Prediction(int(i), classes.tags[i], classes.names[i], float(probabilities[i]))
        for i in order
    ]


def _stack(members: list[LoadedPatch]) -> _Block:
    """Copies, so a caller still training the PatchFile it added cannot change a snapshot."""
    sizes = np.array([p.patch.weights.shape[0] for p in members], np.intp)
    starts = np.cumsum(sizes) - sizes
    stacked = np.concatenate([p.patch.weights for p in members], dtype=np.float32)
    bias = np.concatenate([p.patch.bias for p in members], dtype=np.float32)
    for array in (stacked, bias, starts, sizes):
        array.flags.writeable = False
    return _Block(tuple(members), stacked, bias, starts, sizes)


def _blocks(index: PatchIndex | None) -> set[_Block]:
    return {b for blocks in index.by_tag.values() for b in blocks} if index else set()


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1e3
