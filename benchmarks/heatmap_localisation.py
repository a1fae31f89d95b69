"""Does a patch's heat-map point at the animal? Real cat photos shrunk into a corner.

Usage: python benchmarks/heatmap_localisation.py [--json] [--fractions 0.4 0.5 0.6]
       [--steps N] [--device SPEC]

A patch is trained on sample_data (41 felix cat photos; domestic / small wild / big cat;
triggered by the base network's cat classes) with `engine.trainer.Trainer` on cached
features. Each photo is then shrunk so its long side is FRACTION of the crop side and pasted
into a corner (the four in turn) of the square the base pass sees, on a plain 640 × 640
canvas. For each composite that triggers the patch, the CAM of the patch's answer gives:

- `peak_inside`: the interpolated peak falls inside the pasted photo;
- `density`: (positive mass of the upsampled map inside the pasted photo / all positive
  mass) ÷ (area of the pasted photo / area of the box) — 1 for a uniform map, at most
  box area / photo area. There are no pixel masks of the animals here, so the pasted
  photo's rectangle is the region (the animal is a part of it).

The issue's targets: peak inside for ≥ 85 % of the triggering composites, density ≥ 3×.
``--json`` prints {"steps", "fractions": {"0.5": {"composites", "triggered",
"peak_inside", "peak_inside_share", "density_mean", "density_median", "density_max_possible"
}}}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
from pathlib import Path

import cv2
import numpy as np

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.heatmap import cam_geometry, class_activation_map, crop_box, patch_head
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.trainer import HyperParams, Trainer
from neuralpatch.engine.training_files import PatchInfo, patch_from_trainer

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
CANVAS_SIDE = 640
CANVAS_RGB = (236, 234, 228)


def composite(photo: np.ndarray, fraction: float, corner: int, base: BaseNetwork):
    """`photo` shrunk into corner 0-3 (tl, tr, bl, br) of the seen square of a plain canvas."""
    canvas = np.empty((CANVAS_SIDE, CANVAS_SIDE, 3), np.uint8)
    canvas[:] = CANVAS_RGB
    x0, y0, x1, y1 = crop_box(CANVAS_SIDE, CANVAS_SIDE, base.topology)
    scale = fraction * (x1 - x0) / max(photo.shape[:2])
    size = (round(photo.shape[1] * scale), round(photo.shape[0] * scale))
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    x = x0 if corner in (0, 2) else x1 - w
    y = y0 if corner in (0, 1) else y1 - h
    canvas[y : y + h, x : x + w] = small
    return canvas, (x, y, x + w, y + h)


def measure(base: BaseNetwork, system: PatchSystem, photos: list[np.ndarray], fraction: float):
    inside, densities, ceilings, triggered = 0, [], [], 0
    for n, photo in enumerate(photos):
        canvas, (px0, py0, px1, py1) = composite(photo, fraction, n % 4, base)
        out = base.run([canvas])
        tree = system.classify(out.probabilities[0], out.features[0])
        if not tree.patches:
            continue
        triggered += 1
        geometry = cam_geometry(canvas.shape, base.topology)
        heat = class_activation_map(out.feature_map[0], patch_head(tree.patches[0]), geometry)
        x, y = heat.peak()
        inside += px0 <= x < px1 and py0 <= y < py1
        bx0, by0, bx1, by1 = heat.box
        positive = np.maximum(heat.upsample(by1 - by0, bx1 - bx0), 0)
        region = np.zeros(positive.shape, bool)
        region[py0 - by0 : py1 - by0, px0 - bx0 : px1 - bx0] = True
        ceilings.append(float(1 / region.mean()))
        if positive.sum() > 0:
            densities.append(float(positive[region].sum() / positive.sum() / region.mean()))
    return {
        "composites": len(photos),
        "triggered": triggered,
        "peak_inside": inside,
        "peak_inside_share": inside / triggered if triggered else None,
        "density_mean": statistics.fmean(densities) if densities else None,
        "density_median": statistics.median(densities) if densities else None,
        "density_max_possible": statistics.fmean(ceilings) if ceilings else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.4, 0.5, 0.6])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--device")
    args = parser.parse_args()
    base = BaseNetwork.load(device=args.device)
    dataset = load_dataset(SAMPLE_DATA, base.classes.tag_names())
    trainer = Trainer(base, dataset, HyperParams(batch_size=8, lr=0.02))
    trainer.prepare()
    trainer.run(threading.Event(), steps=args.steps)
    system = PatchSystem.for_base(base)
    system.add("felix-cats.specialneurons", patch_from_trainer(trainer, PatchInfo("felix cats")))
    photos = [decode_image(p) for p, _ in dataset.samples()]
    report = {"steps": args.steps, "fractions": {}}
    for fraction in args.fractions:
        figures = measure(base, system, photos, fraction)
        report["fractions"][str(fraction)] = figures
        if not args.json:
            share, density = figures["peak_inside_share"], figures["density_mean"]
            print(
                f"photo side {fraction:.0%} of the crop: {figures['triggered']}/"
                f"{figures['composites']} composites trigger; peak inside the photo "
                f"{figures['peak_inside']}/{figures['triggered']}"
                + (f" = {share:.1%}" if share is not None else "")
                + (f"; positive-mass density {density:.2f}× uniform" if density else "")
                + (f" (at most {figures['density_max_possible']:.1f}×)" if density else ""),
            )
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
