"""Real patches for the patch system tests, trained here on real photos through the real base.

Master: the sample_data cat patch (triggered by the base network's 13 cat classes, answering
domestic / small wild / big cat). Slave: "cat orientation", triggered by the master's
domestic_cat output (n02121808) and trained on sample_data photos upright or turned upside
down (n90000001 upright / n90000002 upside_down).
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

from PIL import Image

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.patch_file import PatchFile
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, patch_from_trainer

DOMESTIC, UPRIGHT, UPSIDE_DOWN = "n02121808", "n90000001", "n90000002"
CAT_CLASSES = {"n02123045", "n02123159", "n02123394", "n02123597", "n02124075"}


def train(
    base,
    root: Path,
    name: str,
    steps: int,
    known_tags: dict[str, str] | None = None,
    seed: int = 0,
    icon: bytes | None = None,
) -> PatchFile:
    tags = {**base.classes.tag_names(), **(known_tags or {})}
    trainer = Trainer(base, load_dataset(root, tags), HyperParams(batch_size=8, lr=0.01), seed=seed)
    trainer.prepare()
    trainer.run(threading.Event(), steps=steps)
    return patch_from_trainer(trainer, PatchInfo(name, icon_png=icon))


def orientation_dataset(sample_data: Path, root: Path) -> Path:
    """Every sample photo (margins with the FELIX logo cut off), upright or upside down."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "map_clsloc.txt").write_text(
        f"{DOMESTIC} 1 domestic_cat\n{UPRIGHT} 2 upright\n{UPSIDE_DOWN} 3 upside_down\n"
    )
    for photo in sorted(sample_data.glob("n*.jpg")):
        with Image.open(photo) as img:
            w, h = img.size
            crop = img.convert("RGB").crop((w // 8, h // 8, w - w // 8, h - h // 8))
        crop = crop.resize((crop.width * 300 // crop.height, 300), Image.Resampling.LANCZOS)
        views = {
            f"{UPRIGHT}_{photo.stem}": crop,
            f"{UPRIGHT}_{photo.stem}m": crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            f"{UPSIDE_DOWN}_{photo.stem}": crop.rotate(180),
            f"{UPSIDE_DOWN}_{photo.stem}m": crop.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        }
        for name, view in views.items():
            view.save(root / f"{name}.jpg", quality=95)
    return root


def icon_png(sample_data: Path) -> bytes:
    with Image.open(sample_data / "n02121808_101.jpg") as img:
        out = io.BytesIO()
        img.convert("RGB").resize((64, 48)).save(out, format="PNG")
    return out.getvalue()


def tree(result) -> list[tuple[int, str, str]]:
    return [(depth, r.name, r.output_name) for depth, r in result.walk()]
