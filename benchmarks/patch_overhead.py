"""Benchmark the patch system's per-frame overhead against a naive scan over every patch.

Usage: python benchmarks/patch_overhead.py [--json] [--repeats N] [--device SPEC]

One real patch is trained on sample_data (the felix cats patch: triggered by the base
network's 13 cat classes, answering domestic / small wild / big cat), and two real photos go
through the real base pass once: skimage's chelsea (a tabby: the cat patch fires) and coffee
(an espresso). The figure is the time of `PatchSystem.classify()` for one frame given that
base pass result (base top-k, trigger lookup, the patch cascade, the result tree), with 1,
100 and 1,000 patches loaded: the real one plus synthetic ones with random weights.

Synthetic trigger sets look like real ones: most patches are triggered by a run of related
base classes (neighbouring ImageNet indices, such as the 13 cats or the 118 dogs), 1 to 40 of
them; a fifth are slaves triggered by an output of another patch. Outputs are 2 to 8 made-up
tags. Every size is also timed, in the same run, with a naive classifier that scans the whole
list for each identified tag and runs each triggered patch on its own; both must fire the
same patches. Figures are the median of `--repeats` frames, the two classifiers timed in
alternating rounds so a busy machine slows both alike. Timing never fails anything.

``--json`` prints one object:

    {
      "python": str, "numpy": str, "repeats": int,
      "base": {"name": str, "fingerprint": str, "engine": str},
      "base_pass_ms": float,            # one base pass of one frame, for scale
      "frames": [str, ...],             # "chelsea", "coffee"
      "sizes": {
        "1" | "100" | "1000": {
          "patches": int,               # patches loaded
          "index_build_ms": float,      # PatchSystem.add_all of them: checks + one index build
          "indexed_us": float,          # classify() per frame, mean over the frames
          "naive_us": float,            # the naive scan per frame, mean over the frames
          "speedup_vs_naive": float,    # naive_us / indexed_us
          "frames": {
            "chelsea" | "coffee": {
              "fired": int,             # patches that ran for this frame
              "indexed_us": float, "naive_us": float, "speedup_vs_naive": float
            }
          }
        }
      }
    }
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import threading
import time
from collections import deque
from functools import partial
from pathlib import Path

import numpy as np
import skimage.data

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.patch_file import PATCH_SUFFIX, PatchFile, PatchOutput
from neuralpatch.engine.patch_index import top_predictions
from neuralpatch.engine.patch_model import LinearPatch
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, patch_from_trainer

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
SIZES = (1, 100, 1000)
FRAMES = ("chelsea", "coffee")
SLAVE_SHARE = 0.2
TOP_K = 5


def train_real_patch(base: BaseNetwork) -> PatchFile:
    dataset = load_dataset(SAMPLE_DATA, base.classes.tag_names())
    trainer = Trainer(base, dataset, HyperParams(batch_size=8, lr=0.02))
    trainer.prepare()
    trainer.run(threading.Event(), steps=40)
    return patch_from_trainer(trainer, PatchInfo("felix cats"))


def synthetic_patches(count: int, base: BaseNetwork, rng: np.random.Generator) -> list[PatchFile]:
    """Random weights, realistic trigger sets (see the module docstring)."""
    patches: list[PatchFile] = []
    next_tag = 90_000_000
    for i in range(count):
        outputs = []
        for _ in range(int(rng.integers(2, 9))):
            outputs.append(PatchOutput(f"n{next_tag}", f"made_up_{next_tag}"))
            next_tag += 1
        if patches and rng.random() < SLAVE_SHARE:
            master = patches[int(rng.integers(len(patches)))]
            triggers = [master.outputs[int(rng.integers(len(master.outputs)))].tag]
        else:
            length = int(min(40, 1 + rng.geometric(0.12)))
            start = int(rng.integers(0, len(base.classes) - length))
            triggers = list(base.classes.tags[start : start + length])
        weights = rng.normal(0, 0.02, (len(outputs), base.feature_dim)).astype(np.float32)
        patches.append(
            PatchFile(
                f"synthetic {i}",
                triggers,
                outputs,
                weights,
                np.zeros(len(outputs), np.float32),
                base.fingerprint,
            )
        )
    return patches


def naive_classify(
    patches: list[PatchFile], classes, probabilities: np.ndarray, features: np.ndarray
) -> list[str]:
    """The obvious way: for each identified tag, scan every patch and run the ones it wakes."""
    top_predictions(classes, probabilities, TOP_K)
    best = int(np.argmax(probabilities))
    queue, ran, fired = deque([classes.tags[best]]), set(), []
    while queue:
        tag = queue.popleft()
        for i, patch in enumerate(patches):
            if i in ran or tag not in patch.triggers:
                continue
            ran.add(i)
            probs = LinearPatch(patch.weights, patch.bias).probabilities(features[None])[0]
            fired.append(patch.name)
            queue.append(patch.outputs[int(np.argmax(probs))].tag)
    return fired


def median_us(fns: list, repeats: int, rounds: int = 10) -> list[float]:
    """Median µs per call of each function, timed in alternating rounds so a busy machine
    slows them alike and the ratios stay fair."""
    times: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()  # warm caches
    for _ in range(rounds):
        for fn, spent in zip(fns, times, strict=True):
            for _ in range(max(1, repeats // rounds)):
                start = time.perf_counter()
                fn()
                spent.append(time.perf_counter() - start)
    return [statistics.median(t) * 1e6 for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=300, help="frames timed per figure")
    parser.add_argument("--device", help="OpenCL device for the base pass")
    args = parser.parse_args()

    base = BaseNetwork.load(device=args.device)
    real = train_real_patch(base)
    photos = [getattr(skimage.data, name)() for name in FRAMES]
    base.run(photos[:1])
    started = time.perf_counter()
    base.run(photos[:1])
    base_pass_ms = (time.perf_counter() - started) * 1e3
    out = base.run(photos)
    rng = np.random.default_rng(0)
    synthetic = synthetic_patches(max(SIZES) - 1, base, rng)
    report = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "repeats": args.repeats,
        "base": {
            "name": base.topology.name,
            "fingerprint": base.fingerprint,
            "engine": base.backend,
        },
        "base_pass_ms": base_pass_ms,
        "frames": list(FRAMES),
        "sizes": {},
    }
    for size in SIZES:
        patches = [real, *synthetic[: size - 1]]
        system = PatchSystem.for_base(base)
        t0 = time.perf_counter()  # one batch, one index build, as load_dir does
        system.add_all({f"/bench/{i:04d}{PATCH_SUFFIX}": p for i, p in enumerate(patches)})
        build_ms = (time.perf_counter() - t0) * 1e3
        assert len(system.index.enabled) == size
        frames = {}
        for name, probs, feats in zip(FRAMES, out.probabilities, out.features, strict=True):
            indexed = system.classify(probs, feats, TOP_K)
            naive = naive_classify(patches, base.classes, probs, feats)
            assert sorted(indexed.fired()) == sorted(naive), (name, size)
            fast, slow = median_us(
                [
                    partial(system.classify, probs, feats, TOP_K),
                    partial(naive_classify, patches, base.classes, probs, feats),
                ],
                args.repeats,
            )
            frames[name] = {
                "fired": len(naive),
                "indexed_us": fast,
                "naive_us": slow,
                "speedup_vs_naive": slow / fast,
            }
        indexed_us = statistics.mean(f["indexed_us"] for f in frames.values())
        naive_us = statistics.mean(f["naive_us"] for f in frames.values())
        report["sizes"][str(size)] = {
            "patches": size,
            "index_build_ms": build_ms,
            "indexed_us": indexed_us,
            "naive_us": naive_us,
            "speedup_vs_naive": naive_us / indexed_us,
            "frames": frames,
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"base pass: {base_pass_ms:.1f} ms per frame ({base.backend}); median of "
        f"{args.repeats} frames; patch overhead per frame, base pass excluded"
    )
    print(
        f"{'patches':>8} {'frame':>8} {'fired':>6} {'indexed':>11} {'naive scan':>11} "
        f"{'speedup':>8} {'index build':>12}"
    )
    for size, row in report["sizes"].items():
        for name, f in row["frames"].items():
            print(
                f"{size:>8} {name:>8} {f['fired']:>6} {f['indexed_us']:>8.1f} µs "
                f"{f['naive_us']:>8.1f} µs {f['speedup_vs_naive']:>7.1f}x "
                f"{row['index_build_ms']:>9.1f} ms"
            )


if __name__ == "__main__":
    main()
