"""What top-k triggering wrongly wakes on, for benchmarks/accuracy_report.py.

Unrelated photos (skimage/sklearn samples, frames of the tree video) run through a real
`PatchSystem` with the trained patch, the best base rank at which any trigger appears on
them, and in-domain negatives for the sample cats (patches on one group of cat classes,
counted on the other cats' photos).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import Dataset
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, patch_from_trainer
from neuralpatch.engine.trigger_coverage import fired_mask

TREE = Path("/work/shared/video/tree.avi")


def negative_images() -> list[np.ndarray]:
    """Photos that are not of any dataset here: what a patch should not wake on."""
    images = []
    try:
        import skimage.data as sk

        for name in ("coffee", "astronaut", "rocket", "hubble_deep_field", "coins"):
            rgb = getattr(sk, name)()
            images.append(np.stack([rgb] * 3, -1) if rgb.ndim == 2 else rgb[..., :3])
    except ImportError:
        pass
    try:
        from sklearn.datasets import load_sample_images

        images += list(load_sample_images().images)
    except ImportError:
        pass
    if TREE.exists():
        import cv2

        video = cv2.VideoCapture(str(TREE))
        for i in range(40):
            ok, frame = video.read()
            if not ok:
                break
            if i % 4 == 0:
                images.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return images


def unrelated_fires(trainer: Trainer, base: BaseNetwork, negatives) -> float | None:
    """The share of unrelated photos on which the trained patch runs in a real PatchSystem."""
    if negatives is None:
        return None
    system = PatchSystem.for_base(base)
    info = PatchInfo("report", trigger_top_k=trainer.trigger_top_k)
    system.add("report.specialneurons", patch_from_trainer(trainer, info))
    return float(np.mean([bool(r.patches) for r in system.classify_pass(negatives)]))


def closest_rank(head: BaseHead, features: np.ndarray, triggers: list[str]) -> int | None:
    """The best base rank (1 = top) at which any trigger appears on any of these photos."""
    if len(features) == 0:
        return None
    wanted = set(triggers)
    ranks = [
        next(r for r, t in enumerate(tags, 1) if t in wanted)
        for tags in head.top_tags(features, len(head.tags))
    ]
    return min(ranks)


# In-domain negatives for the sample cats: a patch on one group of ImageNet cat classes (as
# someone would train for "big cats"), its own output's photos, and the other outputs' photos.
CAT_GROUPS = {
    "n02121808": ("n02123045", "n02123159", "n02123394", "n02123597", "n02124075"),  # domestic
    "n02124623": ("n02125311", "n02127052"),  # cougar, lynx
    "n02127808": ("n02128385", "n02128757", "n02128925", "n02129165", "n02129604", "n02130308"),
}


def sibling_rates(
    head: BaseHead, dataset: Dataset, features, k: int
) -> tuple[float | None, float | None]:
    """(own photos that wake it, other outputs' photos that wake it) over the CAT_GROUPS
    patches, top-k triggered; None for a dataset without those outputs."""
    rows = {c.tag: np.stack([features[p] for p in c.images]) for c in dataset.outputs}
    if set(rows) != set(CAT_GROUPS):
        return None, None
    own_hits = other_hits = own_n = other_n = 0
    for tag, group in CAT_GROUPS.items():
        for other, feats in rows.items():
            hits = int(fired_mask(head, feats, group, top_k=k).sum())
            if other == tag:
                own_hits, own_n = own_hits + hits, own_n + len(feats)
            else:
                other_hits, other_n = other_hits + hits, other_n + len(feats)
    return own_hits / own_n, other_hits / other_n
