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

import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_network import Prediction
from neuralpatch.engine.class_map import tag_key
from neuralpatch.engine.classes import BaseClasses
from neuralpatch.engine.loaded_patch import LoadedPatch
from neuralpatch.engine.patch_block import BlockWiring, MergedBlocks, PatchBlock, stack_block
from neuralpatch.engine.patch_result import ImageResult
from neuralpatch.engine.patch_rules import cycle_reasons, supersede_by_name
from neuralpatch.engine.patch_tree import Batch, Cascade


@dataclass(frozen=True, eq=False)
class PatchIndex:
    """A snapshot of the patch system; build it with `build_index`, never change it."""

    classes: BaseClasses
    min_probability: float
    patches: tuple[LoadedPatch, ...]  # every loaded patch, by path, `disabled` filled in
    enabled: tuple[LoadedPatch, ...]
    by_tag: Mapping[int, tuple[PatchBlock, ...]]  # by tag_key: `n7` and `n007` wake the same
    cycles: tuple[tuple[str, ...], ...]  # patch names around each cycle, first one repeated
    deepest: int = 1  # the largest `trigger_top_k` of an enabled patch: base ranks looked at
    wiring: Mapping[PatchBlock, BlockWiring] = field(default_factory=dict, repr=False)
    _merged: MergedBlocks = field(default_factory=MergedBlocks, init=False, repr=False)

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
        queue = deque((p.tag, p.name, None, rank) for rank, p in enumerate(ranked))
        cascade = Cascade()
        ran = np.zeros(len(self.enabled), bool)  # by position in `enabled`
        while queue:
            tag, tag_name, master, rank = queue.popleft()
            for block, wiring in self._blocks_for(tag_key(tag), rank):
                fresh = ~ran[wiring.ids]
                rows = None if fresh.all() else np.flatnonzero(fresh)
                if rows is not None and not len(rows):
                    continue
                t0 = time.perf_counter()
                batch = self._run(block, features, rows, tag, tag_name)
                ran[wiring.ids[batch.rows]] = True
                number = cascade.add(batch, master)
                # Only answers whose tag triggers some patch are queued: the rest wake nothing.
                rows_answered = block.starts[batch.rows] + batch.index
                woke = np.flatnonzero(batch.identified & wiring.wakes[rows_answered])
                for position in woke.tolist():  # "none of these" (abstained) is never here
                    member = block.members[int(batch.rows[position])]
                    output = member.patch.outputs[int(batch.index[position])]
                    queue.append((output.tag, output.name, (number, position), 0))
                batch.elapsed_ms = (time.perf_counter() - t0) * 1e3 / len(batch.rows)
        return ImageResult(top, identified, None, _ms_since(started), cascade)

    def _run(
        self,
        block: PatchBlock,
        features: np.ndarray,
        rows: np.ndarray | None,
        tag: str,
        tag_name: str,
    ) -> Batch:
        """The block's matmul and each of its `rows` members' answer (None: every member)."""
        probs = block.probabilities(features)
        index, best = block.top_outputs(probs)
        min_confidence, background, _ = block.member_rules
        if rows is None:
            rows = block.numbers
        else:
            index, best = index[rows], best[rows]
            min_confidence, background = min_confidence[rows], background[rows]
        # Unsure (under its min_confidence), or sure it is "none of these".
        abstained = (best < min_confidence) | (background == index)
        identified = (best >= self.min_probability) & ~abstained
        return Batch(block, rows, tag, tag_name, index, best, identified, abstained, probs)

    def _blocks_for(self, key: int, rank: int) -> list[tuple[PatchBlock, BlockWiring]]:
        """The blocks a tag wakes when it is the base's `rank`-th class (0: its top-1, or a
        master's answer, which wakes every patch): at a lower rank only the blocks of
        patches whose `trigger_top_k` reaches it (blocks share one k, see `build_index`)."""
        blocks = self.by_tag.get(key, ())
        if rank == 0 and len(blocks) > 1:
            merged = self._merged.blocks(key, blocks, self.wiring)
            if len(merged) == 1:
                return [(merged[0], self._merged.wiring(merged[0]))]
        wiring = self.wiring
        return [
            (b, wiring[b]) for b in blocks if rank == 0 or b.members[0].patch.trigger_top_k > rank
        ]


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
    by_tag: dict[int, list[PatchBlock]] = {}
    for (triggers, _), members in by_set.items():
        block = reusable.get(tuple(map(id, members))) or stack_block(members)
        for key in sorted(triggers):
            by_tag.setdefault(key, []).append(block)
    position = {id(p): n for n, p in enumerate(enabled)}
    wiring = {
        block: BlockWiring(
            np.array([position[id(m)] for m in block.members], np.intp),
            np.array([tag_key(o.tag) in by_tag for m in block.members for o in m.patch.outputs]),
        )
        for block in {b for blocks in by_tag.values() for b in blocks}
    }
    return PatchIndex(
        classes,
        min_probability,
        tuple(patches),
        enabled,
        {t: tuple(b) for t, b in by_tag.items()},
        tuple(cycles),
        max((p.patch.trigger_top_k for p in enabled), default=1),
        wiring,
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


def _blocks(index: PatchIndex | None) -> set[PatchBlock]:
    return {b for blocks in index.by_tag.values() for b in blocks} if index else set()


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1e3
