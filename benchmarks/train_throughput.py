"""Training throughput in images/s: our trainer against a torch CPU loop doing the same job
(frozen base network with the same weights + a linear head trained by SGD), in the same run.

Three phases, each on the photos of a dataset folder (default `sample_data/`):
- `extract`: un-augmented photos decoded and sent through the base pass once (what the
  feature cache costs on a first run); ours is `FeatureCache` writing into a temp folder.
- `cached`: SGD steps on cached features (every later run without augmentation).
- `augmented`: SGD steps where every image is a fresh `rand-tilt-shift` view sent through the
  base pass. Both engines use our augmentation, so only the base pass and step differ.

    python benchmarks/train_throughput.py [DATA] [--batch-size 16] [--steps 8] [--json]

`--json` prints one object with these keys (stable):
- `dataset`: str, `images`: int, `batch_size`: int, `device`: the OpenCL `describe()`.
- `results`: {engine: {phase: images_per_s (float)}} for engines `neuralpatch`, `torch`.
- `ratio_vs_torch`: {phase: ours / torch images/s} (> 1: ours is faster).
- `skipped`: {engine: reason}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from base_pass import torch_runner

from neuralpatch.engine.augment import rand_tilt_shift
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.feature_cache import BATCH, FeatureCache
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.opencl_runtime import get_runtime
from neuralpatch.engine.preprocess import to_input
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.work_images import WORK_IMAGE_SIDE, shrink

PHASES = ("extract", "cached", "augmented")
CACHED_STEPS = 200  # a cached step takes well under a millisecond: time many


def ours(base: BaseNetwork, data: Path, batch_size: int, steps: int) -> dict[str, float]:
    dataset = load_dataset(data, base.classes.tag_names())
    paths = [path for path, _ in dataset.samples()]
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        FeatureCache(base, Path(folder)).features_for(paths)
        extract = len(paths) / (time.perf_counter() - start)
    trainer = Trainer(base, dataset, HyperParams(batch_size=batch_size), val_fraction=0.0)
    trainer.prepare()
    figures = {"extract": extract}
    for phase, count in (("cached", CACHED_STEPS), ("augmented", steps)):
        trainer.request_change(augment=phase == "augmented")
        trainer.run(threading.Event(), steps=1)  # warm up (work images, kernels)
        start = time.perf_counter()
        trainer.run(threading.Event(), steps=count)
        figures[phase] = count * batch_size / (time.perf_counter() - start)
    return figures


def torch_loop(base: BaseNetwork, data: Path, batch_size: int, steps: int) -> dict[str, float]:
    """The same three phases in torch: frozen eager base, `nn.Linear` head, `optim.SGD`."""
    import torch

    dataset = load_dataset(data, base.classes.tag_names())
    samples = dataset.samples()
    features_of = torch_runner(base.files, features=True)
    start = time.perf_counter()
    chunks = []
    for first in range(0, len(samples), BATCH):
        images = [decode_image(path) for path, _ in samples[first : first + BATCH]]
        chunks.append(features_of(to_input(images, base.topology)))
    extract = len(samples) / (time.perf_counter() - start)
    features = torch.cat(chunks)
    labels = torch.tensor([k for _, k in samples])
    head = torch.nn.Linear(base.feature_dim, len(dataset.outputs))
    torch.nn.init.xavier_uniform_(head.weight)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(0)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(head(x), y).backward()
        optimizer.step()

    start = time.perf_counter()
    for _ in range(CACHED_STEPS):
        pick = torch.from_numpy(rng.integers(0, len(samples), batch_size))
        step(features[pick], labels[pick])
    cached = CACHED_STEPS * batch_size / (time.perf_counter() - start)

    photos = [shrink(decode_image(path), WORK_IMAGE_SIDE) for path, _ in samples]
    start = time.perf_counter()
    for _ in range(steps):
        pick = rng.integers(0, len(samples), batch_size)
        views = [rand_tilt_shift(photos[i], rng) for i in pick]
        x = features_of(to_input(views, base.topology)).clone()  # out of inference mode
        step(x, labels[torch.from_numpy(pick)])
    augmented = steps * batch_size / (time.perf_counter() - start)
    return {"extract": extract, "cached": cached, "augmented": augmented}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = Path(__file__).resolve().parent.parent / "sample_data"
    parser.add_argument("data", nargs="?", type=Path, default=default_data)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8, help="augmented steps to time")
    parser.add_argument("--device", default=None, help="OpenCL device spec")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    base = BaseNetwork.load(device=args.device)
    base.warm_up()
    results = {"neuralpatch": ours(base, args.data, args.batch_size, args.steps)}
    skipped = {}
    try:
        results["torch"] = torch_loop(base, args.data, args.batch_size, args.steps)
    except ImportError as exc:
        skipped["torch"] = f"not installed ({exc.name or exc})"
    ratios = (
        {phase: results["neuralpatch"][phase] / results["torch"][phase] for phase in PHASES}
        if "torch" in results
        else {}
    )
    report = {
        "dataset": str(args.data),
        "images": len(load_dataset(args.data, base.classes.tag_names()).samples()),
        "batch_size": args.batch_size,
        "device": get_runtime(args.device).describe(),
        "results": results,
        "ratio_vs_torch": ratios,
        "skipped": skipped,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(
        f"{report['images']} photos from {report['dataset']}, batch size {args.batch_size}, "
        f"device {report['device']['device']}"
    )
    print(f"{'engine':<14}" + "".join(f"{phase + ' img/s':>18}" for phase in PHASES))
    for engine, figures in results.items():
        print(f"{engine:<14}" + "".join(f"{figures[phase]:18.1f}" for phase in PHASES))
    if ratios:
        print(f"{'ours/torch':<14}" + "".join(f"{ratios[phase]:17.2f}x" for phase in PHASES))
    for engine, reason in skipped.items():
        print(f"skipped {engine}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
