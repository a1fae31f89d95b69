"""Training at scale: the cost of a cached SGD step (validation included) at 1k and at 120k
photos, and the memory of a long run, on real features.

The photos are the real ones of a dataset folder (default `sample_data/`), re-encoded small
(so hashing 120k files is quick; their features are still real base-pass features) and
repeated through hard links up to each size. The trainer runs as it does in the app: the
validation split (20 %) is checked on its clock. A step at 120k should cost what it costs at
1k; the ratio is printed.

    python benchmarks/train_scale.py [DATA] [--sizes 1000 120000] [--steps 3000]
                                     [--long-steps 300000] [--json]

`--json` prints one object with these keys (stable):
- `sizes`: {photos: {ms_per_step, validate_ms, validations, steps}} (str keys).
- `ratio_largest_vs_smallest`: ms_per_step at the largest size / at the smallest.
- `long_run`: {steps, rss_mb_at: {steps: MiB}, snapshot_bytes_at: {steps: bytes}}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.feature_cache import FeatureCache
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, save_training

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
SMALL_SIDE = 96


def small_copies(base: BaseNetwork, source: Path, folder: Path) -> list[Path]:
    """The source's photos re-encoded small, their features put in the cache once."""
    folder.mkdir(parents=True)
    encoded = []
    for path in sorted(source.glob("n*_*.jpg")):
        target = folder / path.name
        with Image.open(path) as image:
            image.convert("RGB").resize((SMALL_SIDE, SMALL_SIDE)).save(target, quality=90)
        encoded.append(target)
    FeatureCache(base).features_for(encoded)
    return encoded


def tiled_dataset(source: Path, encoded: list[Path], folder: Path, size: int) -> Path:
    """`size` photos: the small copies repeated as hard links."""
    folder.mkdir(parents=True)
    (folder / "map_clsloc.txt").write_bytes((source / "map_clsloc.txt").read_bytes())
    for i in range(size):
        original = encoded[i % len(encoded)]
        tag = original.name.split("_")[0]
        os.link(original, folder / f"{tag}_copy{i:06d}.jpg")
    return folder


class TimedTrainer(Trainer):
    """The trainer as it is, with the time each validation takes written down."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.validation_s: list[float] = []

    def validation(self):
        start = time.perf_counter()
        result = super().validation()
        self.validation_s.append(time.perf_counter() - start)
        return result


def time_steps(base: BaseNetwork, data: Path, steps: int) -> dict[str, float]:
    dataset = load_dataset(data, base.classes.tag_names())
    trainer = TimedTrainer(base, dataset, HyperParams())
    trainer.prepare()
    trainer.run(threading.Event(), steps=50)  # warm up
    trainer.validation_s.clear()
    start = time.perf_counter()
    trainer.run(threading.Event(), steps=steps)
    elapsed = time.perf_counter() - start
    timings = trainer.validation_s
    return {
        "ms_per_step": 1e3 * elapsed / steps,
        "validate_ms": 1e3 * sum(timings) / max(1, len(timings)),
        "validations": len(timings),
        "steps": steps,
    }


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def long_run(base: BaseNetwork, data: Path, steps: int, out: Path) -> dict:
    trainer = Trainer(base, load_dataset(data, base.classes.tag_names()), HyperParams())
    trainer.prepare()
    rss, sizes, done = {}, {}, 0
    for target in (steps // 10, steps // 2, steps):
        trainer.run(threading.Event(), steps=target - done)
        done = target
        saved = save_training(trainer, PatchInfo("scale"), out)
        rss[done], sizes[done] = round(rss_mb(), 1), saved.snapshot.stat().st_size
    return {"steps": steps, "rss_mb_at": rss, "snapshot_bytes_at": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(SAMPLE_DATA))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 120_000])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--long-steps", type=int, default=300_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = BaseNetwork.load()
    base.warm_up()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        encoded = small_copies(base, Path(args.data), Path(tmp) / "small")
        folders = {
            n: tiled_dataset(Path(args.data), encoded, Path(tmp) / f"d{n}", n) for n in args.sizes
        }
        for _ in range(2):  # interleaved rounds; the best of each size is kept
            for n, folder in folders.items():
                figures = time_steps(base, folder, args.steps)
                best = results.get(str(n))
                if best is None or figures["ms_per_step"] < best["ms_per_step"]:
                    results[str(n)] = figures
        long = long_run(base, folders[min(args.sizes)], args.long_steps, Path(tmp) / "out")
    smallest, largest = str(min(args.sizes)), str(max(args.sizes))
    report = {
        "sizes": results,
        "ratio_largest_vs_smallest": results[largest]["ms_per_step"]
        / results[smallest]["ms_per_step"],
        "long_run": long,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for n, figures in results.items():
        print(
            f"{int(n):>8,} photos  {figures['ms_per_step']:.3f} ms/step  validation "
            f"{figures['validate_ms']:.2f} ms x {figures['validations']}"
        )
    print(
        f"a step at {int(largest):,} costs {report['ratio_largest_vs_smallest']:.2f}x one at "
        f"{int(smallest):,}"
    )
    for steps, mb in long["rss_mb_at"].items():
        print(
            f"after {steps:>9,} steps: RSS {mb:,.0f} MiB, snapshot "
            f"{long['snapshot_bytes_at'][steps]:,} bytes"
        )


if __name__ == "__main__":
    main()
