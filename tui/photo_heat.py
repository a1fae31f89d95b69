"""Where the patch being trained looks on one photo: its heat-map, for the training dialogs.

The trainer learns from cached pooled features, which hold no map; a heat-map needs the base
network's last feature map, so `PatchLens.explain` runs one base pass on the photo (a few
hundred milliseconds on the CPU device: dialogs call it from a thread worker) and takes the
CAM of the output asked for (`engine.heatmap`). The weights are copied when the lens is
made, so training that carries on meanwhile does not change the map being drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.heatmap import Head, Heatmap, Subject, cam_geometry, class_activation_map
from neuralpatch.engine.patch_model import LinearPatch
from neuralpatch.tui.heatmap_overlay import HeatLayer
from neuralpatch.tui.image_view import ImageView


@dataclass(frozen=True)
class Explained:
    """One photo through the base network and the patch: the map and what each answered."""

    heatmap: Heatmap
    base_tag: str  # the base network's top class
    base_name: str
    base_probability: float
    patch_probabilities: np.ndarray  # the patch's softmax over its outputs


class PatchLens:
    """The patch as it is now (weights copied), able to explain any photo."""

    def __init__(
        self,
        base: BaseNetwork,
        patch: LinearPatch,
        name: str,
        tags: list[str],
        names: list[str],
    ) -> None:
        self.base, self.name, self.tags, self.names = base, name, tags, names
        self.weights = np.array(patch.weights, np.float32)
        self.bias = np.array(patch.bias, np.float32)

    def explain(self, image: np.ndarray, output: int | None = None) -> Explained:
        """The CAM of `output` (default: the patch's answer) on `image`, an RGB photo."""
        out = self.base.run([image])
        features, feature_map = out.features[0], out.feature_map[0]
        logits = self.weights @ features + self.bias
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        k = int(probabilities.argmax()) if output is None else output
        head = Head(
            Subject(self.name, k, self.tags[k], self.names[k]), self.weights[k], float(self.bias[k])
        )
        heat = class_activation_map(
            feature_map, head, cam_geometry(image.shape, self.base.topology)
        )
        top = int(out.probabilities[0].argmax())
        return Explained(
            heat,
            self.base.classes.tags[top],
            self.base.classes.names[top],
            float(out.probabilities[0][top]),
            probabilities,
        )


def show_heat(view: ImageView, image: np.ndarray, heat: Heatmap) -> None:
    """`view` shows `image` with `heat` blended over it, a colour scale at its right edge
    and, as the caption (a badge would hide the top of a small picture), what the colours
    are worth."""
    layer = HeatLayer(heat, image.shape[1])
    view.set_image(image, layer.label())
    view.set_layer(layer)
