"""Shared by the market tests: a real trained patch with an icon, and a served catalogue."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from PIL import Image

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, save_training

DESCRIPTION = "domestic / small wild / big cat"


def icon_png(color: tuple[int, int, int] = (230, 120, 20)) -> bytes:
    """A small real PNG drawn with Pillow: an orange disc on a transparent square."""
    image = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    for y in range(16):
        for x in range(16):
            if (x - 7.5) ** 2 + (y - 7.5) ** 2 <= 49:
                image.putpixel((x, y), (*color, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def train_patch(
    base, sample_data: Path, out: Path, *, steps: int = 50, seed: int = 0, name: str = "felix cats"
) -> Path:
    """A real patch: `steps` cached SGD steps on the cat sample set, with icon and description."""
    trainer = Trainer(
        base,
        load_dataset(sample_data, base.classes.tag_names()),
        HyperParams(batch_size=8, lr=0.02),
        seed=seed,
    )
    trainer.prepare()
    trainer.run(threading.Event(), steps=steps)
    info = PatchInfo(name, DESCRIPTION, icon_png())
    return save_training(trainer, info, out).patch
