"""Accuracy report for any dataset folder: how much of it the patch can answer, and how well.

Side by side, on held-out photos (the trainer's validation split, over several seeds):
- trigger coverage with the map's triggers, and with triggers suggested from the *training*
  photos only (so the held-out photos judge the suggestion too);
- end-to-end accuracy (untriggered photos are misses) of a patch trained with the default
  settings (stops by itself), with and without the suggested triggers;
- the same with top-k triggering (k = 2, 3, 5): coverage gained, and how often unrelated
  photos (skimage/sklearn sample photos, frames of the tree video) would wake the patch;
- a scikit-learn logistic-regression ceiling on the same cached features (no triggering).

    python benchmarks/accuracy_report.py [DATA] [--seeds 5] [--coverage 0.98] [--json]

`--json` keys (stable): `dataset`, `images`, `seeds`, `target_coverage`, `rows`: {name:
{coverage, end_to_end, when_triggered, triggers}} averaged over seeds, `top_k`: {k:
{coverage, end_to_end, false_trigger_rate}}, `negatives`: int, `logreg_ceiling`: float | null.
Needs `pip install ".[bench]"` for scikit-learn (the ceiling is null without it).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import threading
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import Category, Dataset, load_dataset
from neuralpatch.engine.end_to_end_validation import validate_end_to_end
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.trigger_coverage import fired_mask
from neuralpatch.engine.trigger_suggestion import suggest_triggers

REPO = Path(__file__).resolve().parents[1]
TREE = Path("/work/shared/video/tree.avi")
TOP_KS = (1, 2, 3, 5)


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


def with_triggers(dataset: Dataset, tags: list[str], names: dict[str, str]) -> Dataset:
    """The dataset as if `tags` were added to its map (nothing is written)."""
    extra = copy.deepcopy(dataset)
    top = max(c.index for c in dataset.categories)
    for n, tag in enumerate(tags, start=1):
        extra.categories.append(Category(tag, top + n, names[tag], 0, base_name=names[tag]))
    return extra


def trained(base, dataset, seed) -> Trainer:
    trainer = Trainer(base, dataset, seed=seed)  # defaults: stops by itself
    trainer.prepare()
    trainer.run(threading.Event())
    return trainer


def score(trainer: Trainer, head: BaseHead, top_k: int = 1) -> dict:
    dataset = trainer.dataset
    features = np.stack([trainer.features[p] for p, _ in trainer.val_samples])
    labels = np.array([k for _, k in trainer.val_samples])
    fired = fired_mask(head, features, dataset.triggers, top_k=top_k)
    names = [c.name for c in trainer.outputs]
    v = validate_end_to_end(trainer.state.patch, features, labels, fired, names)
    return {
        "coverage": float(fired.mean()),
        "end_to_end": v.end_to_end,
        "when_triggered": v.when_triggered,
        "triggers": len(dataset.triggers),
        "steps": trainer.state.step,
    }


def logreg_ceiling(trainer_like: Trainer) -> float | None:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        return None
    train, val = trainer_like.train_samples, trainer_like.val_samples
    feats = trainer_like.features
    model = LogisticRegression(max_iter=5000, C=1.0)
    model.fit(np.stack([feats[p] for p, _ in train]), [k for _, k in train])
    guess = model.predict(np.stack([feats[p] for p, _ in val]))
    return float(np.mean(guess == np.array([k for _, k in val])))


def report(data: Path, seeds: int, target: float) -> dict:
    base = BaseNetwork.load()
    names = base.classes.tag_names()
    dataset = load_dataset(data, names)
    head = BaseHead.for_base(base)
    negatives = negative_images()
    neg_features = base.run(negatives).features if negatives else np.zeros((0, 1280))
    rows: dict[str, list[dict]] = {"map triggers": [], "+ suggested triggers": []}
    top_k: dict[int, list[dict]] = {k: [] for k in TOP_KS}
    ceiling: list[float] = []
    added_counts = []
    for seed in range(seeds):
        probe = Trainer(base, dataset, seed=seed)
        probe.prepare()
        train_only = copy.deepcopy(dataset)
        train_paths = {p for p, _ in probe.train_samples}
        for c in train_only.outputs:
            c.images = [p for p in c.images if p in train_paths]
        suggestion = suggest_triggers(head, train_only, probe.features, names, target)
        suggested = with_triggers(dataset, suggestion.triggers, names)
        added_counts.append(len(suggestion.added))
        plain = trained(base, dataset, seed)
        rows["map triggers"].append(score(plain, head))
        rows["+ suggested triggers"].append(score(trained(base, suggested, seed), head))
        for k in TOP_KS:
            scored = score(plain, head, top_k=k)
            false = fired_mask(head, neg_features, dataset.triggers, top_k=k)
            scored["false_trigger_rate"] = float(false.mean()) if len(false) else None
            top_k[k].append(scored)
        if (c := logreg_ceiling(probe)) is not None:
            ceiling.append(c)

    def mean(items: list[dict], key: str) -> float | None:
        values = [i[key] for i in items if i.get(key) is not None]
        return float(np.mean(values)) if values else None

    keys = ("coverage", "end_to_end", "when_triggered", "triggers", "steps")
    return {
        "dataset": str(data),
        "images": len(dataset.samples()),
        "seeds": seeds,
        "target_coverage": target,
        "suggested_added": float(np.mean(added_counts)),
        "rows": {name: {k: mean(items, k) for k in keys} for name, items in rows.items()},
        "top_k": {
            str(k): {x: mean(v, x) for x in ("coverage", "end_to_end", "false_trigger_rate")}
            for k, v in top_k.items()
        },
        "negatives": len(negatives),
        "logreg_ceiling": float(np.mean(ceiling)) if ceiling else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", default=str(REPO / "sample_data"))
    parser.add_argument("--seeds", type=int, default=5, help="validation splits averaged (5)")
    parser.add_argument("--coverage", type=float, default=0.98, help="suggestion target")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = report(Path(args.data), args.seeds, args.coverage)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0

    def pct(v):
        return "  n/a " if v is None else f"{v:6.1%}"

    print(f"{result['dataset']}: {result['images']} photos, {args.seeds} validation splits")
    print(f"{'':<24}{'triggers':>9}{'coverage':>10}{'end to end':>12}{'triggered':>11}")
    for name, r in result["rows"].items():
        print(
            f"{name:<24}{r['triggers']:>9.1f}{pct(r['coverage']):>10}"
            f"{pct(r['end_to_end']):>12}{pct(r['when_triggered']):>11}"
        )
    ceiling = result["logreg_ceiling"]
    print(f"{'logistic-regression ceiling (no triggering)':<46}{pct(ceiling):>11}")
    print(f"top-k triggering on the map's triggers ({result['negatives']} unrelated photos):")
    for k, r in result["top_k"].items():
        print(
            f"  top-{k}: coverage {pct(r['coverage'])}  end to end {pct(r['end_to_end'])}  "
            f"unrelated photos that trigger {pct(r['false_trigger_rate'])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
