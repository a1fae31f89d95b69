"""The camera's JSON Lines records, written without building a dict per patch per frame.

With 1,000 patches firing, `LiveResult.to_dict()` + `json.dumps` took longer than the base
pass (41 % of a frame at 22 fps). What a patch says about itself — name, file, its outputs'
tags and names, whether it has an icon — does not change from frame to frame, so it is
encoded once per loaded patch (and dropped with it); a frame only formats what changed:
which patches ran, their top output, the numbers, read straight from the cascade's arrays
(`patch_tree`) without making a result object per patch. The record is the same JSON value
`LiveResult.to_dict()` gives (a test parses both), except that each patch's `probabilities`
list is left out unless asked for: it is most of the bytes and few scripts read it.
Non-finite numbers become null, as in `safe_text.json_text`.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from neuralpatch.engine.live_loop import LiveResult
    from neuralpatch.engine.patch_block import PatchBlock
    from neuralpatch.engine.patch_index import LoadedPatch
    from neuralpatch.engine.patch_result import ImageResult
    from neuralpatch.engine.patch_tree import Cascade, PatchResult

_MAX_ENTRIES = 16384  # patches or (tag, name) pairs kept; past that a table starts again
_MAX_TABLE_ROWS = 1 << 18  # record beginnings kept for (block, trigger): ~50 MB at most


def _number(value: float) -> str:
    value = float(value)
    return float.__repr__(value) if math.isfinite(value) else "null"


def _text(value: str) -> str:
    return json.dumps(value)  # ASCII-only, control characters and surrogates escaped


class LiveJsonEncoder:
    """Encodes `LiveResult`s as one JSON line each; keep one per camera run."""

    def __init__(self, probabilities: bool = False):
        self.probabilities = probabilities
        # Keyed by the LoadedPatch itself: a reloaded file is a new object, so a stale entry
        # is never used; the table is bounded, so replaced patches are let go in the end.
        self._patches: dict[LoadedPatch, tuple[str, list[str], str, str]] = {}
        self._pairs: dict[tuple[str, str], str] = {}
        self._tables: dict[tuple[PatchBlock, str], list[str]] = {}  # see `_prefixes`
        self._table_rows = 0
        self._last_ms = (math.nan, "null")  # a block's patches share one elapsed_ms

    def encode(self, live: LiveResult) -> str:
        best = live.result.top[0]
        t = (
            f'"timings": {{"base_ms": {_number(live.base_ms)}, "patches_ms": '
            f'{_number(live.patches_ms)}, "total_ms": {_number(live.total_ms)}}}'
        )
        return (
            f'{{"frame": {live.index}, "source_frame": {live.frame.number}, '
            f'"label": {_text(live.frame.label)}, "base": {{"index": {best.index}, '
            f"{self._pair(best.tag, best.name)}, "
            f'"probability": {_number(best.probability)}}}, '
            f'"identified": {"true" if live.result.identified is not None else "false"}, '
            f'"patches": [{self._patches_of(live.result)}], {t}, '
            f'"fps": {_number(live.fps)}, "dropped": {live.dropped}}}'
        )

    def _pair(self, tag: str, name: str) -> str:
        """`"tag": ..., "name": ...`, encoded once per distinct pair."""
        key = (tag, name)
        fragment = self._pairs.get(key)
        if fragment is None:
            if len(self._pairs) >= _MAX_ENTRIES:
                self._pairs.clear()
            fragment = self._pairs[key] = f'"tag": {_text(tag)}, "name": {_text(name)}'
        return fragment

    def _static(self, loaded: LoadedPatch) -> tuple[str, list[str], str, str]:
        """(`{"name": ..., "file": ...,`, each output's tag/name pair, `"icon": ...`, and the
        `"probabilities": [...]` list with a `%s` where each number goes)."""
        parts = self._patches.get(loaded)
        if parts is None:
            if len(self._patches) >= _MAX_ENTRIES:
                self._patches.clear()
            head = f'{{"name": {_text(loaded.name)}, "file": {_text(str(loaded.path))}, '
            outputs = [
                f'"tag": {_text(o.tag)}, "name": {_text(o.name)}' for o in loaded.patch.outputs
            ]
            icon = f'"icon": {"true" if loaded.patch.icon_png is not None else "false"}'
            listed = ", ".join(
                f'{{{pair.replace("%", "%%")}, "probability": %s}}' for pair in outputs
            )
            parts = self._patches[loaded] = (head, outputs, icon, f'"probabilities": [{listed}], ')
        return parts

    def _patches_of(self, result: ImageResult) -> str:
        cascade = result.cascade
        if cascade is None:  # results were made (and maybe changed): read those
            return self._nodes(result.patches)
        return self._batches(cascade, cascade.roots)

    def _batches(self, cascade: Cascade, numbers: list[int]) -> str:
        """Every patch of these batches, straight from the cascade's arrays."""
        return ", ".join(part for number in numbers for part in self._batch(cascade, number))

    def _batch(self, cascade: Cascade, number: int) -> list[str]:
        batch = cascade.batches[number]
        block = batch.block
        trigger = self._pair(batch.trigger, batch.trigger_name)
        pre = self._prefixes(block, trigger)
        elapsed = _number(batch.elapsed_ms)
        values = batch.probability.tolist()
        finite = bool(np.isfinite(batch.probability).all())
        said = map(float.__repr__ if finite else _number, values)
        rows = batch.rows.tolist()
        answered = (block.starts[batch.rows] + batch.index).tolist()
        # What follows a patch's probability: its flags and icon (`code`) and the time.
        icons = block.member_rules[2][batch.rows]
        codes = (batch.identified * 4 + batch.abstained * 2 + icons).tolist()
        tails = [
            f'}}, "identified": {"true" if c & 4 else "false"}, "abstained": '
            f"{'true' if c & 2 else 'false'}, "
            for c in range(8)
        ]
        ends = [
            f'"icon": {"true" if c & 1 else "false"}, "elapsed_ms": {elapsed}, "children": '
            for c in range(8)
        ]
        if not self.probabilities and not batch.kids:  # the common case, kept lean
            mids = [t + e for t, e in zip(tails, ends, strict=True)]
            return [
                f"{pre[g]}{p}{mids[c]}[]}}" for g, p, c in zip(answered, said, codes, strict=True)
            ]
        starts, sizes = block.bounds
        parts = []
        for position, (row, g, p, c) in enumerate(zip(rows, answered, said, codes, strict=True)):
            probabilities = ""
            if self.probabilities:
                listed = (
                    self._patches.get(block.members[row]) or self._static(block.members[row])
                )[3]
                start = starts[row]
                row_probs = batch.probs[start : start + sizes[row]].tolist()
                probabilities = listed % tuple(map(_number, row_probs))
            woken = batch.kids.get(position)
            children = f"[{self._batches(cascade, woken)}]" if woken else "[]"
            parts.append(f"{pre[g]}{p}{tails[c]}{probabilities}{ends[c]}{children}}}")
        return parts

    def _prefixes(self, block: PatchBlock, trigger: str) -> list[str]:
        """Per row of the block (a member's output): its record up to the probability's
        value, under this trigger; made once per block and trigger."""
        key = (block, trigger)
        table = self._tables.get(key)
        if table is None:
            if self._table_rows + len(block.bias) > _MAX_TABLE_ROWS:
                self._tables.clear()
                self._table_rows = 0
            table = []
            for member in block.members:
                head, outputs, _, _ = self._patches.get(member) or self._static(member)
                table += [
                    f'{head}"trigger": {{{trigger}}}, "output": {{"index": {k}, {pair}, '
                    f'"probability": '
                    for k, pair in enumerate(outputs)
                ]
            self._tables[key] = table
            self._table_rows += len(table)
        return table

    def _nodes(self, nodes: list[PatchResult]) -> str:
        return ", ".join(self._node(n) for n in nodes)

    def _node(self, node: PatchResult) -> str:
        head, outputs, icon, listed = self._patches.get(node.loaded) or self._static(node.loaded)
        probabilities = ""
        if self.probabilities:
            probabilities = listed % tuple(map(_number, node.probabilities.tolist()))
        if node.elapsed_ms != self._last_ms[0]:
            self._last_ms = (node.elapsed_ms, _number(node.elapsed_ms))
        elapsed = self._last_ms[1]  # before the children replace it
        children = f"[{self._nodes(node.children)}]" if node.children else "[]"
        return (
            f'{head}"trigger": {{{self._pair(node.trigger, node.trigger_name)}}}, '
            f'"output": {{"index": {node.index}, {outputs[node.index]}, '
            f'"probability": {_number(node.probability)}}}, '
            f'"identified": {"true" if node.identified else "false"}, '
            f'"abstained": {"true" if node.abstained else "false"}, {probabilities}{icon}, '
            f'"elapsed_ms": {elapsed}, "children": {children}}}'
        )
