"""One photo explained: heat-maps of the base network's top class and of every patch that ran.

What `neuralpatch classify --heatmap` writes: a CAM per explained output (exact and nearly
free, from the feature map of the pass already made) and, on request, an occlusion map of the
same outputs from one extra set of batched passes; each as a PNG in a folder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.heatmap import (
    Head,
    Heatmap,
    base_classifier,
    base_head,
    cam_geometry,
    class_activation_map,
    patch_head,
)
from neuralpatch.engine.heatmap_image import write_heatmap_png
from neuralpatch.engine.occlusion import occlusion_maps
from neuralpatch.engine.patch_file import safe_name
from neuralpatch.engine.patch_result import ImageResult, PatchResult


@dataclass
class Explained:
    """The heat-maps of one output: `result` is the patch, or None for the base network."""

    result: PatchResult | None
    cam: Heatmap
    occlusion: Heatmap | None = None
    cam_png: Path | None = None
    occlusion_png: Path | None = None


class Explainer:
    """Heat-maps for photos already through the base pass (and the patch system)."""

    def __init__(self, base: BaseNetwork):
        self.base = base
        self.classifier = base_classifier(base.files)

    def heads(self, probabilities: np.ndarray, tree: ImageResult | None) -> list[Head]:
        """The base network's top class, then each patch that ran (depth first)."""
        top = int(np.argmax(probabilities))
        heads = [base_head(self.classifier, self.base.classes, top)]
        if tree is not None:
            heads += [patch_head(r) for _, r in tree.walk()]
        return heads

    def explain(
        self,
        image: np.ndarray,
        feature_map: np.ndarray,
        probabilities: np.ndarray,
        tree: ImageResult | None = None,
        occlusion: bool = False,
        on_progress: Callable[[int, int, str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[Explained]:
        """CAMs (and occlusion maps) of `heads(...)`, in that order."""
        geometry = cam_geometry(image.shape, self.base.topology)
        results = [None] + ([r for _, r in tree.walk()] if tree is not None else [])
        heads = self.heads(probabilities, tree)
        done = [
            Explained(r, class_activation_map(feature_map, h, geometry))
            for r, h in zip(results, heads, strict=True)
        ]
        if occlusion:
            maps = occlusion_maps(self.base, image, heads, on_progress=on_progress, stop=stop)
            for item, heatmap in zip(done, maps or [], strict=False):
                item.occlusion = heatmap
        return done


class PngNamer:
    """File names in one folder: `<photo>.<source>.<output tag>.<method>.png`, never twice."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._used: set[str] = set()

    def path(self, image_path: str | Path, heatmap: Heatmap) -> Path:
        subject = heatmap.subject
        stem = ".".join(
            safe_name(part)
            for part in (Path(image_path).stem, subject.source, subject.tag, heatmap.method)
        )
        name, n = f"{stem}.png", 1
        while name in self._used:
            n += 1
            name = f"{stem}-{n}.png"
        self._used.add(name)
        return self.folder / name


def title_of(heatmap: Heatmap) -> str:
    s = heatmap.subject
    what = "class activation map" if heatmap.method == "cam" else "occlusion: logit drop"
    source = "base network" if s.source == "base" else f"patch {s.source}"
    return f"{source}: {s.name} ({s.tag}) · {what} · logit {heatmap.logit:.2f}"


def write_pngs(explained: list[Explained], image: np.ndarray, image_path, namer: PngNamer) -> None:
    """Write each map's PNG (atomically) and remember where."""
    for item in explained:
        item.cam_png = write_heatmap_png(
            namer.path(image_path, item.cam), image, item.cam, title_of(item.cam)
        )
        if item.occlusion is not None:
            item.occlusion_png = write_heatmap_png(
                namer.path(image_path, item.occlusion),
                image,
                item.occlusion,
                title_of(item.occlusion),
            )
