"""Teach mode's loop: prequential accuracy and labels/s, against an offline linear probe.

A shuffled stream of labelled photos goes through the real loop: base pass (OpenCL), the
taught patch's answer, then the label (the frame saved into a temporary copy of the dataset
and learnt at once) while the training thread keeps training in the background. The answer
given *before* each label is scored end to end (no trigger is a miss), as the teach screen's
"right before you labelled it" rate does.

We have no pet-breed set here, so the stream is `sample_data/` (41 photos, 3 categories)
shown `--repeats` times: the first showing of each photo is the photo itself, later ones are
fresh `rand_tilt_shift` views (the training augmentation). Later views of a photo already
labelled are easier than new photos, so `first_sight` — the frames showing a photo for the
first time — is reported on its own as the honest figure for unseen photos.

The offline probe is the same linear patch and SGD (batch 16, lr 0.01, momentum 0.9, decay
0.0005, 300 epochs) trained on the cached features of the original photos and scored by
5-fold cross-validation, alone and end to end (times "the base network triggers the patch").

    python benchmarks/teach_loop.py [DATA] [--repeats 8] [--seed 0] [--json]

`--json` prints one object with these keys (stable): `dataset`, `frames`, `repeats`,
`prequential` {all, last_200, first_sight, triggered}, `labels_per_s`, `ms_per_frame`
{base, label}, `offline_probe` {accuracy, end_to_end}, `target` {last_200: 0.8}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from neuralpatch.engine.augment import rand_tilt_shift
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.feature_cache import FeatureCache
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.patch_model import LinearPatch, SGDState, sgd_step
from neuralpatch.engine.teach_session import TeachSession
from neuralpatch.engine.work_images import shrink

REPO = Path(__file__).resolve().parents[1]
PROBE_EPOCHS = 300
FOLDS = 5


def stream(photos: list[tuple[Path, int]], repeats: int, rng: np.random.Generator):
    """(photo index, first showing?) for every frame: each photo `repeats` times, shuffled,
    with a photo's first showing always before its augmented ones."""
    order = [(i, r) for i in range(len(photos)) for r in range(repeats)]
    rng.shuffle(order)
    seen: set[int] = set()
    for i, _ in order:
        yield i, i not in seen
        seen.add(i)


def teach_run(base: BaseNetwork, data: Path, repeats: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / data.name
        root.mkdir()
        shutil.copy(data / "map_clsloc.txt", root)  # the categories, no photo: learn from zero
        dataset = load_dataset(data, base.classes.tag_names())
        photos = dataset.samples()
        images = [shrink(decode_image(p), 320) for p, _ in photos]
        session = TeachSession(base, root, out_dir=Path(folder) / "out", seed=seed)
        session.prepare()
        session.start()
        rights, firsts, triggered = [], [], []
        base_s = label_s = 0.0
        started = time.perf_counter()
        for i, first in stream(photos, repeats, rng):
            image = images[i] if first else rand_tilt_shift(images[i], rng)
            t0 = time.perf_counter()
            run = base.run([image])
            tag = base.top_k(run.probabilities[0], 1)[0].tag
            t1 = time.perf_counter()
            answer = session.answer(run.features[0], tag)
            output = session.output_for(photos[i][0].name.split("_")[0])
            record = session.label(image, run.features[0], answer, output)
            t2 = time.perf_counter()
            base_s, label_s = base_s + t1 - t0, label_s + t2 - t1
            rights.append(bool(record.right))
            triggered.append(answer.triggered)
            if first:
                firsts.append(bool(record.right))
        elapsed = time.perf_counter() - started
        session.close()
    n = len(rights)
    return {
        "frames": n,
        "prequential": {
            "all": float(np.mean(rights)),
            "last_200": float(np.mean(rights[-200:])),
            "first_sight": float(np.mean(firsts)),
            "triggered": float(np.mean(triggered)),
        },
        "labels_per_s": n / elapsed,
        "ms_per_frame": {"base": 1e3 * base_s / n, "label": 1e3 * label_s / n},
    }


def offline_probe(base: BaseNetwork, data: Path, seed: int) -> dict:
    """5-fold cross-validated accuracy of the same linear patch trained offline."""
    dataset = load_dataset(data, base.classes.tag_names())
    samples = dataset.samples()
    found = FeatureCache(base).features_for([p for p, _ in samples])
    x = np.stack([found.features[p] for p, _ in samples])
    y = np.array([k for _, k in samples])
    triggers = set(dataset.triggers)
    fires = np.array(
        [
            base.top_k(probs, 1)[0].tag in triggers
            for probs in base.run([decode_image(p) for p, _ in samples]).probabilities
        ]
    )
    rng = np.random.default_rng(seed)
    folds = rng.permutation(len(y)) % FOLDS
    right = np.zeros(len(y), bool)
    for f in range(FOLDS):
        train, test = folds != f, folds == f
        patch = LinearPatch.xavier(len(dataset.outputs), x.shape[1], rng)
        sgd = SGDState.zeros_like(patch)
        xt, yt = x[train], y[train]
        for _ in range(PROBE_EPOCHS):
            order = rng.permutation(len(yt))
            for start in range(0, len(order), 16):
                batch = order[start : start + 16]
                sgd_step(patch, sgd, xt[batch], yt[batch], 0.01, 0.9, 0.0005)
        right[test] = patch.probabilities(x[test]).argmax(axis=1) == y[test]
    return {"accuracy": float(right.mean()), "end_to_end": float((right & fires).mean())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(REPO / "sample_data"))
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = Path(args.data)
    base = BaseNetwork.load()
    base.warm_up()
    probe = offline_probe(base, data, args.seed)
    result = {"dataset": str(data), "repeats": args.repeats} | teach_run(
        base, data, args.repeats, args.seed
    )
    result |= {"offline_probe": probe, "target": {"last_200": 0.8}}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    pre = result["prequential"]
    print(
        f"teach loop on {data.name}: {result['frames']} labelled frames, shuffled "
        f"({args.repeats} showings of each photo: the photo, then rand_tilt_shift views)"
    )
    print(f"  right before the label, all frames     {pre['all']:6.1%}")
    print(f"  right before the label, last 200       {pre['last_200']:6.1%}   (target 80%)")
    print(f"  right on a photo's first showing       {pre['first_sight']:6.1%}")
    print(f"  frames that triggered the patch        {pre['triggered']:6.1%}")
    ms = result["ms_per_frame"]
    print(
        f"  {result['labels_per_s']:.1f} labels/s sustained "
        f"(base pass {ms['base']:.1f} ms + answer, save and learn {ms['label']:.1f} ms a frame)"
    )
    print(f"offline linear probe, {FOLDS}-fold cross-validated on the {data.name} photos:")
    print(
        f"  accuracy {probe['accuracy']:6.1%}, "
        f"end to end (with triggering) {probe['end_to_end']:6.1%}"
    )
    print(
        f"  prequential last 200 / probe end to end = "
        f"{pre['last_200'] / max(probe['end_to_end'], 1e-9):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
