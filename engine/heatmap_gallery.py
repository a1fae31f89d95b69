"""`eval --heatmaps`: one sheet of the photos a patch got wrong, with what it looked at.

Fed by `evaluate(..., on_scored=gallery.add)`. A photo is wrong when the patch answered
another output or did not trigger at all (end to end, as accuracy counts it); its tile shows
the CAM of the output the patch gave (for a photo that did not trigger: the one it would have
given), blended over the photo, so a user sees what the patch was looking at when it erred.
"""

from __future__ import annotations

from pathlib import Path

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.classes import BaseClasses
from neuralpatch.engine.evaluation import ScoredPhoto
from neuralpatch.engine.heatmap import Head, Subject, cam_geometry, class_activation_map
from neuralpatch.engine.heatmap_image import GalleryTile, gallery_sheet, png_bytes, tile_picture
from neuralpatch.engine.patch_file import PatchFile
from neuralpatch.engine.topology import Topology

MAX_TILES = 60
TILE_SIDE = 220


class MisclassifiedGallery:
    """Collects small tiles of the misclassified photos as they are scored."""

    def __init__(self, patch: PatchFile, topology: Topology, classes: BaseClasses):
        self.patch, self.topology, self.classes = patch, topology, classes
        self.tiles: list[GalleryTile] = []
        self.wrong = 0  # every misclassified photo, shown or not
        self.scored = 0

    def add(self, photo: ScoredPhoto) -> None:
        self.scored += 1
        if photo.fired and photo.predicted_index == photo.true_index:
            return
        self.wrong += 1
        if len(self.tiles) >= MAX_TILES:
            return
        outputs = self.patch.outputs
        k = photo.predicted_index
        head = Head(
            Subject(self.patch.name, k, outputs[k].tag, outputs[k].name),
            self.patch.weights[k],
            float(self.patch.bias[k]),
        )
        heat = class_activation_map(
            photo.feature_map, head, cam_geometry(photo.image.shape, self.topology)
        )
        truth = outputs[photo.true_index].name
        if photo.fired:
            detail = f"true {truth} → said {outputs[k].name}"
        else:
            top = self.classes.names[int(photo.probabilities.argmax())]
            detail = f"true {truth}: not triggered (base: {top})"
        picture = tile_picture(photo.image, heat, TILE_SIDE)
        self.tiles.append(GalleryTile(picture, Path(photo.path).name, detail))

    def title(self) -> str:
        shown = f", first {len(self.tiles)} shown" if len(self.tiles) < self.wrong else ""
        return (
            f"patch {self.patch.name}: {self.wrong} of {self.scored} photos misclassified "
            f"end to end{shown}; map = CAM of the output the patch gave"
        )

    def write(self, path: str | Path) -> Path:
        """The sheet as a PNG, atomically (a sheet saying "none" when nothing was wrong)."""
        return write_atomic(path, png_bytes(gallery_sheet(self.tiles, self.title(), TILE_SIDE)))
