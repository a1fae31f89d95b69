"""Accuracy report for any dataset folder: how much of it the patch can answer, and how well.

Side by side, on held-out photos (the trainer's validation split, over several seeds):
- trigger coverage with the map's triggers, and with triggers suggested from the *training*
  photos only (so the held-out photos judge the suggestion too);
- end-to-end accuracy (untriggered photos are misses) of a patch trained with the default
  settings (stops by itself), with and without the suggested triggers;
- the same with top-k triggering (k = 1, 2, 3, 5; each patch trained with `trigger_top_k` = k,
  so its validation counts photos as it is triggered): coverage gained, and how often
  unrelated photos (skimage/sklearn sample photos, frames of the tree video) wake the saved
  patch through the real `PatchSystem` cascade, with the deepest base rank at which any
  trigger appears on them (`closest_unrelated_rank`: top-k with k below it never fires on them);
- in-domain false triggers, the cost unrelated photos cannot show (sample cats only): a patch
  triggered by one group of ImageNet cat classes (a "big cats" patch on leopard, jaguar, …),
  the share of its own output's photos and of the *other* outputs' photos (domestic cats)
  that wake it at top-k (`sibling_coverage`, `sibling_false_trigger_rate`);
- a scikit-learn logistic-regression ceiling on the same cached features (no triggering).

    python benchmarks/accuracy_report.py [DATA] [--seeds 5] [--coverage 0.98]
        [--drop-triggers TAG,TAG] [--json]

`--drop-triggers` scores a copy of DATA whose map lacks those trigger rows (the low-coverage
variant of docs/patch-system.md: `--drop-triggers low`, the five cat classes the base network
usually answers on the sample photos).

`--json` keys (stable): `dataset`, `images`, `seeds`, `target_coverage`, `rows`: {name:
{coverage, end_to_end, when_triggered, triggers}} averaged over seeds, `top_k`: {k:
{coverage, end_to_end, when_triggered, false_trigger_rate, sibling_coverage,
sibling_false_trigger_rate}}, `negatives`: int,
`closest_unrelated_rank`: int, `logreg_ceiling`: float | null.
Needs `pip install ".[bench]"` for scikit-learn (the ceiling is null without it).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
from trigger_negatives import closest_rank, negative_images, sibling_rates, unrelated_fires

from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import MAP_NAME, Category, Dataset, load_dataset
from neuralpatch.engine.end_to_end_validation import validate_end_to_end
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.trigger_coverage import fired_mask
from neuralpatch.engine.trigger_suggestion import suggest_triggers

REPO = Path(__file__).resolve().parents[1]
TOP_KS = (1, 2, 3, 5)
# The sample photos' usual base answers (tabby, tiger cat, Egyptian cat, lion, leopard).
LOW_COVERAGE = ("n02123045", "n02123159", "n02124075", "n02129165", "n02128385")


def with_triggers(dataset: Dataset, tags: list[str], names: dict[str, str]) -> Dataset:
    """The dataset as if `tags` were added to its map (nothing is written)."""
    extra = copy.deepcopy(dataset)
    top = max(c.index for c in dataset.categories)
    for n, tag in enumerate(tags, start=1):
        extra.categories.append(Category(tag, top + n, names[tag], 0, base_name=names[tag]))
    return extra


def without_triggers(data: Path, tags: tuple[str, ...], into: Path) -> Path:
    """A copy of the dataset folder whose map lacks these rows."""
    folder = into / data.name
    shutil.copytree(data, folder)
    rows = (folder / MAP_NAME).read_text().splitlines()
    (folder / MAP_NAME).write_text("\n".join(r for r in rows if r.split()[0] not in tags) + "\n")
    return folder


def trained(base, dataset, seed, top_k: int = 1) -> Trainer:
    trainer = Trainer(base, dataset, seed=seed)  # defaults: stops by itself
    trainer.trigger_top_k = top_k
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
    neg_pass = base.run(negatives) if negatives else None
    neg_features = neg_pass.features if neg_pass else np.zeros((0, base.feature_dim))
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
            at_k = plain if k == 1 else trained(base, dataset, seed, k)
            scored = score(at_k, head, top_k=k)
            scored["false_trigger_rate"] = unrelated_fires(at_k, base, neg_pass)
            own, other = sibling_rates(head, dataset, probe.features, k)
            scored["sibling_coverage"], scored["sibling_false_trigger_rate"] = own, other
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
            str(k): {
                x: mean(v, x)
                for x in (
                    "coverage",
                    "end_to_end",
                    "when_triggered",
                    "false_trigger_rate",
                    "sibling_coverage",
                    "sibling_false_trigger_rate",
                )
            }
            for k, v in top_k.items()
        },
        "negatives": len(negatives),
        "closest_unrelated_rank": closest_rank(head, neg_features, dataset.triggers),
        "logreg_ceiling": float(np.mean(ceiling)) if ceiling else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", default=str(REPO / "sample_data"))
    parser.add_argument("--seeds", type=int, default=5, help="validation splits averaged (5)")
    parser.add_argument("--coverage", type=float, default=0.98, help="suggestion target")
    parser.add_argument(
        "--drop-triggers",
        default="",
        metavar="TAGS",
        help="comma-separated map rows to leave out ('low': the low-coverage variant)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    drop = LOW_COVERAGE if args.drop_triggers == "low" else tuple(args.drop_triggers.split(","))
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(args.data)
        if args.drop_triggers:
            data = without_triggers(data, drop, Path(scratch))
        result = report(data, args.seeds, args.coverage)
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
    print(
        f"top-k triggering on the map's triggers ({result['negatives']} unrelated photos; the "
        f"nearest has a trigger at base rank {result['closest_unrelated_rank']}):"
    )
    for k, r in result["top_k"].items():
        print(
            f"  top-{k}: coverage {pct(r['coverage'])}  end to end {pct(r['end_to_end'])}  "
            f"when triggered {pct(r['when_triggered'])}  "
            f"unrelated photos that trigger {pct(r['false_trigger_rate'])}  "
            f"cat-group patches: own photos {pct(r['sibling_coverage'])}, other cats' "
            f"{pct(r['sibling_false_trigger_rate'])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
