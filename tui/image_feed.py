"""The image feed: the photos going into training, with their true and predicted class."""

from __future__ import annotations

from neuralpatch.engine.trainer import SampleShown
from neuralpatch.tui.image_view import ImageView


def caption(sample: SampleShown, names: list[str]) -> str:
    """`true → predicted probability ✓|✗`."""
    mark = "✓" if sample.true_index == sample.predicted_index else "✗"
    p = float(sample.probabilities[sample.predicted_index])
    return f"{names[sample.true_index]} → {names[sample.predicted_index]} {p:.0%} {mark}"


class ImageFeed(ImageView):
    """An ImageView fed with samples; an unchanged image and caption cost no redraw."""

    def show(self, sample: SampleShown, names: list[str]) -> None:
        self.set_image(sample.image, caption(sample, names))
