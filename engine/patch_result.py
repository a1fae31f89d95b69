"""What the patch system answers for one image: the base top-k and a tree of patch results.

A root of the tree is a patch the base network's identified class triggered; the children of
a result are the patches its output triggered. `to_dict()` gives the JSON that
`neuralpatch classify --patches` prints (keys documented in docs/patch-system.md). The tree
is made from the cascade's arrays as it is read (`patch_tree`): `walk()` over the first few
results, `count()` and `abstain_below` cost nothing per patch that is not looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from neuralpatch.engine.base_network import Prediction
from neuralpatch.engine.patch_tree import Cascade, PatchResult

__all__ = ["ImageResult", "PatchResult"]


class ImageResult:
    """The base network's top-k for one image, then the patches that ran, as a tree."""

    def __init__(
        self,
        top: list[Prediction],
        identified: Prediction | None,  # the base top-1 when it reached the minimum probability
        patches: list[PatchResult] | None,  # the roots (None: made from `cascade` when read)
        elapsed_ms: float,  # the whole patch system's time for this image (base pass excluded)
        cascade: Cascade | None = None,
    ):
        self.top, self.identified, self.elapsed_ms = top, identified, elapsed_ms
        self._patches, self._cascade = patches, cascade

    @property
    def patches(self) -> list[PatchResult]:
        """The roots: patches the identified base class triggered."""
        if self._patches is None:
            cascade = self._cascade
            self._patches = list(cascade.results(cascade.roots)) if cascade else []
        return self._patches

    @patches.setter
    def patches(self, value: list[PatchResult]) -> None:
        self._patches = value

    @property
    def cascade(self) -> Cascade | None:
        """The cascade's arrays while they still say everything (no result was made, so
        none was changed): for readers of every result, such as the camera's JSON line."""
        cascade = self._cascade
        fresh = cascade is not None and not cascade.touched and self._patches is None
        return cascade if fresh else None

    def walk(self) -> Iterator[tuple[int, PatchResult]]:
        """Every patch result, depth first, with its depth (0 for a root)."""
        cascade = self._cascade
        roots = self._patches if self._patches is not None or cascade is None else None
        for root in roots if roots is not None else cascade.results(cascade.roots):
            yield from root.walk()

    def count(self) -> int:
        """How many patches ran: the length of `walk()`."""
        cascade = self.cascade
        if cascade is not None:
            return cascade.count()
        return sum(1 for _ in self.walk())

    def abstain_below(self, min_confidence: float | None) -> None:
        """A command-line override of every patch's min_confidence (None: keep theirs)."""
        if min_confidence is None:
            return
        cascade = self.cascade
        if cascade is not None:
            cascade.abstain_below(min_confidence)
            return
        for root in self.patches:
            root.abstain_below(min_confidence)

    def fired(self) -> list[str]:
        """Names of the patches that ran, depth first."""
        return [r.name for _, r in self.walk()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "top": [asdict(p) for p in self.top],
            "identified": asdict(self.identified) if self.identified else None,
            "patches": [r.to_dict() for r in self.patches],
            "elapsed_ms": self.elapsed_ms,
        }
