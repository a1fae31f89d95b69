"""Training at scale: the cost of a cached SGD step (validation included) at 1k and at 120k
photos, and the memory of a long run, on real features.

The photos are the real ones of a dataset folder (default `sample_data/`), re-encoded small
(so hashing 120k files is quick; their features are still real base-pass features) and
repeated through hard links up to each size. The trainer runs as it does in the app: the
validation split (20 %) is checked on its clock. A step at 120k should cost what it costs at
1k; the ratio is printed.

    python benchmarks/train_scale.py [DATA] [--sizes 1000 120000] [--steps 20000]
                                     [--rounds 5] [--long-steps 300000] [--json]

Each size's trainer is prepared once; timed blocks of `--steps` steps then alternate between
the sizes (order rotated each round) and the median block is kept.

`--json` prints one object with these keys (stable):
- `sizes`: {photos: {ms_per_step, validate_ms, validations, validation_share, steps}} (str
  keys): the median block.
- `ratio_largest_vs_smallest`: ms_per_step at the largest size / at the smallest (medians);
  `ratio_per_round`: the same ratio within each round.
- `fixed_clock`, `ratio_fixed_clock_vs_smallest`: the largest size with the validation clock
  as it was (0.2 s after each validation, however long it took), same rounds.
- `sgd_ms`: the SGD update alone on one batch.
- `long_run`: {steps, rss_mb_at: {steps: MiB}, snapshot_bytes_at: {steps: bytes}}.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.feature_cache import FeatureCache
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.patch_model import sgd_step
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


def prepared(base: BaseNetwork, data: Path) -> TimedTrainer:
    trainer = TimedTrainer(base, load_dataset(data, base.classes.tag_names()), HyperParams())
    trainer.prepare()
    trainer.run(threading.Event(), steps=50)  # warm up
    return trainer


def time_block(trainer: TimedTrainer, steps: int, fixed_clock: bool = False) -> dict[str, float]:
    """`steps` steps as the app runs them (validation on its clock included).

    `fixed_clock`: validate 0.2 s after the last validation ended however long it took, as
    the trainer did before its clock kept validation to a share of the time.
    """
    clock = trainer.held_out.clock
    share, clock.share = clock.share, math.inf if fixed_clock else clock.share
    trainer.validation_s.clear()
    start = time.perf_counter()
    try:
        trainer.run(threading.Event(), steps=steps)
    finally:
        clock.share = share
    elapsed = time.perf_counter() - start
    timings = trainer.validation_s
    return {
        "ms_per_step": 1e3 * elapsed / steps,
        "validate_ms": 1e3 * sum(timings) / max(1, len(timings)),
        "validations": len(timings),
        "validation_share": sum(timings) / elapsed,
        "steps": steps,
    }


def median(blocks: list[dict]) -> dict:
    return sorted(blocks, key=lambda b: b["ms_per_step"])[len(blocks) // 2]


def sgd_ms(trainer: Trainer, repeats: int = 2000) -> float:
    """The SGD update alone on one batch of real features: what no size can make cheaper."""
    state, params = trainer.state, trainer.params
    rows = trainer.features.rows[: params.batch_size]
    labels = np.arange(params.batch_size) % len(trainer.outputs)
    patch, sgd = copy.deepcopy(state.patch), copy.deepcopy(state.sgd)
    start = time.perf_counter()
    for _ in range(repeats):
        sgd_step(patch, sgd, rows, labels, params.lr, params.momentum, params.decay)
    return 1e3 * (time.perf_counter() - start) / repeats


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
    parser.add_argument("--steps", type=int, default=20_000, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--long-steps", type=int, default=300_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = BaseNetwork.load()
    base.warm_up()
    rounds: dict[str, list[dict]] = {str(n): [] for n in args.sizes}
    fixed: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        encoded = small_copies(base, Path(args.data), Path(tmp) / "small")
        folders = {
            n: tiled_dataset(Path(args.data), encoded, Path(tmp) / f"d{n}", n) for n in args.sizes
        }
        trainers = {n: prepared(base, folder) for n, folder in folders.items()}
        sizes = list(trainers)
        for r in range(args.rounds):  # interleaved, order rotated: the median is kept
            for n in sizes[r % len(sizes) :] + sizes[: r % len(sizes)]:
                rounds[str(n)].append(time_block(trainers[n], args.steps))
            fixed.append(time_block(trainers[max(sizes)], args.steps, fixed_clock=True))
        sgd = sgd_ms(trainers[min(sizes)])
        del trainers
        long = long_run(base, folders[min(args.sizes)], args.long_steps, Path(tmp) / "out")
    results = {n: median(blocks) for n, blocks in rounds.items()}
    before = median(fixed)
    smallest, largest = str(min(args.sizes)), str(max(args.sizes))
    report = {
        "sizes": results,
        "ratio_largest_vs_smallest": results[largest]["ms_per_step"]
        / results[smallest]["ms_per_step"],
        "ratio_per_round": [
            big["ms_per_step"] / small["ms_per_step"]
            for small, big in zip(rounds[smallest], rounds[largest], strict=True)
        ],
        "fixed_clock": before,
        "ratio_fixed_clock_vs_smallest": before["ms_per_step"] / results[smallest]["ms_per_step"],
        "sgd_ms": sgd,
        "long_run": long,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for n, figures in results.items():
        print(
            f"{int(n):>8,} photos  {figures['ms_per_step']:.3f} ms/step  validation "
            f"{figures['validate_ms']:.2f} ms x {figures['validations']} "
            f"({figures['validation_share']:.1%} of the time)"
        )
    print(
        f"{int(largest):>8,} photos, 0.2 s clock as before: {before['ms_per_step']:.3f} ms/step, "
        f"validation {before['validation_share']:.1%} of the time, "
        f"{report['ratio_fixed_clock_vs_smallest']:.2f}x one at {int(smallest):,}"
    )
    print(f"the SGD update alone: {report['sgd_ms']:.3f} ms")
    print(
        f"a step at {int(largest):,} costs {report['ratio_largest_vs_smallest']:.2f}x one at "
        f"{int(smallest):,} (median of {args.rounds} interleaved rounds; per round "
        f"{', '.join(f'{r:.2f}' for r in report['ratio_per_round'])})"
    )
    for steps, mb in long["rss_mb_at"].items():
        print(
            f"after {steps:>9,} steps: RSS {mb:,.0f} MiB, snapshot "
            f"{long['snapshot_bytes_at'][steps]:,} bytes"
        )


if __name__ == "__main__":
    main()
