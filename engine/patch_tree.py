"""The patches that ran on one image, as the arrays the cascade computed, made into
`PatchResult` objects only when something reads them.

With 1,000 patches firing, building 1,000 result objects a frame cost more than the cascade's
arithmetic; the camera's JSON line (`live_json`) and its screen read the arrays, or only the
first results, instead. A `Batch` is the patches of one block that one tag woke; a `Cascade`
links each batch to the result (batch, position) whose answer woke it. Reading a result
makes it once and keeps it, so `walk()`, `patches` and `children` always give the same
objects, and changing one (its `abstain_below`) is seen everywhere; from then on `touched`
is set and fast readers go through the objects too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuralpatch.engine.loaded_patch import LoadedPatch
from neuralpatch.engine.patch_block import PatchBlock


class PatchResult:
    """One patch that ran: its top output, all its probabilities, and what it triggered."""

    __slots__ = (
        "loaded",
        "trigger",
        "trigger_name",
        "index",
        "probability",
        "probabilities",
        "elapsed_ms",
        "identified",
        "abstained",
        "_children",
        "_source",
    )

    def __init__(
        self,
        loaded: LoadedPatch,
        trigger: str,  # the tag that woke it (the base class, or its master's output)
        trigger_name: str,
        index: int,  # its top output neuron
        probability: float,
        probabilities: np.ndarray,  # (K,), one per output, in the patch's output order
        elapsed_ms: float = 0.0,  # its share of its block's matmul and read-out (even split)
        children: list[PatchResult] | None = None,
        identified: bool = True,  # probability reached the minimum: it could trigger others
        abstained: bool = False,  # under its min_confidence, or its background output: "none"
    ):
        self.loaded, self.trigger, self.trigger_name = loaded, trigger, trigger_name
        self.index, self.probability, self.probabilities = index, probability, probabilities
        self.elapsed_ms, self.identified, self.abstained = elapsed_ms, identified, abstained
        self._children = children
        self._source: tuple[Cascade, int, int] | None = None

    @property
    def children(self) -> list[PatchResult]:
        """The patches its answer triggered."""
        if self._children is None:
            source = self._source
            self._children = source[0].children(source[1], source[2]) if source else []
        return self._children

    @children.setter
    def children(self, value: list[PatchResult]) -> None:
        self._children = value

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def path(self) -> Path:
        return self.loaded.path

    @property
    def tag(self) -> str:
        return self.loaded.patch.outputs[self.index].tag

    @property
    def output_name(self) -> str:
        return self.loaded.patch.outputs[self.index].name

    @property
    def answer_name(self) -> str:
        """What to show as its answer: "none" when it abstained (unsure, or background)."""
        return "none" if self.abstained else self.output_name

    @property
    def icon_png(self) -> bytes | None:
        return self.loaded.patch.icon_png

    @property
    def icon_rgba(self) -> np.ndarray | None:
        return self.loaded.icon_rgba

    def abstain_below(self, min_confidence: float) -> None:
        """Judge this result and those below with another threshold (a command-line
        override) instead of the patch's own. An answer that abstains wakes nothing, so its
        slaves are dropped; one the override lets answer keeps none (they never ran)."""
        self.abstained = self.probability < min_confidence
        if self.abstained:
            self.identified, self.children = False, []
        for child in self.children:
            child.abstain_below(min_confidence)

    def walk(self, depth: int = 0) -> Iterator[tuple[int, PatchResult]]:
        """This result and every one below it, depth first, with their depth."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def to_dict(self) -> dict[str, Any]:
        outputs = self.loaded.patch.outputs
        return {
            "name": self.name,
            "file": str(self.path),
            "trigger": {"tag": self.trigger, "name": self.trigger_name},
            "output": {
                "index": self.index,
                "tag": self.tag,
                "name": self.output_name,
                "probability": self.probability,
            },
            "identified": self.identified,
            "abstained": self.abstained,
            "probabilities": [
                {"tag": o.tag, "name": o.name, "probability": float(p)}
                for o, p in zip(outputs, self.probabilities, strict=True)
            ],
            "icon": self.icon_png is not None,
            "elapsed_ms": self.elapsed_ms,
            "children": [c.to_dict() for c in self.children],
        }


@dataclass(eq=False)
class Batch:
    """The patches of one block that one tag woke, one array entry each, in block order."""

    block: PatchBlock
    rows: np.ndarray  # their member numbers in the block
    trigger: str
    trigger_name: str
    index: np.ndarray  # each one's top output
    probability: np.ndarray  # its probability (float64)
    identified: np.ndarray  # bool
    abstained: np.ndarray  # bool
    probs: np.ndarray  # the block's soft-max: every member's rows (`block.starts`)
    elapsed_ms: float = 0.0  # per patch: the block's time split evenly
    kids: dict[int, list[int]] = field(default_factory=dict)  # position -> batches it woke
    made: list[PatchResult | None] | None = None


class Cascade:
    """The batches of one image, in the order they ran (a master's before its slaves')."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.roots: list[int] = []  # batches the base class woke, in order
        self.touched = False  # a result was made (and may have been changed since)

    def add(self, batch: Batch, master: tuple[int, int] | None) -> int:
        """Add a batch woken by the base class (None) or by result (batch, position)."""
        number = len(self.batches)
        self.batches.append(batch)
        if master is None:
            self.roots.append(number)
        else:
            self.batches[master[0]].kids.setdefault(master[1], []).append(number)
        return number

    def node(self, number: int, position: int) -> PatchResult:
        batch = self.batches[number]
        if batch.made is None:
            batch.made = [None] * len(batch.rows)
        made = batch.made[position]
        if made is None:
            self.touched = True
            row = int(batch.rows[position])
            starts, sizes = batch.block.bounds
            made = PatchResult(
                batch.block.members[row],
                batch.trigger,
                batch.trigger_name,
                int(batch.index[position]),
                float(batch.probability[position]),
                batch.probs[starts[row] : starts[row] + sizes[row]],
                batch.elapsed_ms,
                None,
                bool(batch.identified[position]),
                bool(batch.abstained[position]),
            )
            made._source = (self, number, position)
            batch.made[position] = made
        return made

    def results(self, numbers: list[int]) -> Iterator[PatchResult]:
        """The results of these batches, one after the other, made as they are reached."""
        for number in numbers:
            for position in range(len(self.batches[number].rows)):
                yield self.node(number, position)

    def children(self, number: int, position: int) -> list[PatchResult]:
        return list(self.results(self.batches[number].kids.get(position, [])))

    def count(self) -> int:
        """How many results the tree holds, without making them."""
        total, todo = 0, list(self.roots)
        while todo:
            batch = self.batches[todo.pop()]
            total += len(batch.rows)
            for woken in batch.kids.values():
                todo += woken
        return total

    def abstain_below(self, min_confidence: float) -> None:
        """`PatchResult.abstain_below` on every result, as arrays (before any is made)."""
        reached = set(self.roots)
        for number, batch in enumerate(self.batches):  # masters come before their slaves
            if number not in reached:
                continue
            batch.abstained = batch.probability < min_confidence
            batch.identified = batch.identified & ~batch.abstained
            for position in np.flatnonzero(batch.abstained).tolist():
                batch.kids.pop(position, None)
            for woken in batch.kids.values():
                reached.update(woken)
