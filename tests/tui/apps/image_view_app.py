"""Tiny app for the ImageView snapshot: chelsea with a caption and a trigger overlay."""

from __future__ import annotations

import numpy as np
import skimage.data
from textual.app import App, ComposeResult

from neuralpatch.tui.image_view import ImageView, Overlay


def trigger_icon(size: int = 12) -> np.ndarray:
    """A red disc on a transparent square, like a patch's trigger icon."""
    yy, xx = np.mgrid[:size, :size]
    radius = (size - 1) / 2
    inside = (yy - radius) ** 2 + (xx - radius) ** 2 <= radius**2
    icon = np.zeros((size, size, 4), dtype=np.uint8)
    icon[inside] = (230, 30, 40, 255)
    return icon


class ImageViewApp(App[None]):
    def compose(self) -> ComposeResult:
        # A fixed palette keeps the snapshot independent of the COLORTERM of the machine.
        yield ImageView(palette="256")

    def on_mount(self) -> None:
        view = self.query_one(ImageView)
        view.set_image(skimage.data.chelsea(), caption="chelsea.png  451×300")
        view.set_overlays([Overlay(icon=trigger_icon(), label="cat", corner="top-right")])


if __name__ == "__main__":
    ImageViewApp().run()
