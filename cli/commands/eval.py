"""`neuralpatch eval PATCH DATA`: accuracy of a plugin file through the real pipeline."""

from __future__ import annotations

import argparse

from neuralpatch.commands.options import (
    add_base_options,
    add_masters_option,
    known_tags,
    load_base,
    load_masters,
)
from neuralpatch.engine.safe_text import json_text, printable


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="score a .specialneurons patch on a dataset folder",
        description="Run base pass, trigger check and patch over a dataset "
        "and print accuracy, per-class accuracy and a confusion "
        "matrix.",
    )
    p.add_argument("patch", metavar="PATCH.specialneurons")
    p.add_argument("data", metavar="DATA")
    p.add_argument(
        "--split",
        choices=("all", "val", "train"),
        default="all",
        help="score every photo, or only the validation/training split that "
        "`train` uses with the same --seed and --val-fraction (all)",
    )
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--json",
        action="store_true",
        help="print {patch, split, images, triggered, not_triggered, accuracy, "
        "end_to_end_accuracy, outputs, per_class_accuracy, confusion, "
        "skipped}; confusion[true][predicted], last column = not triggered",
    )
    add_masters_option(p)
    add_base_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from neuralpatch.commands.progress import ProgressLine, percent
    from neuralpatch.engine.dataset import load_dataset
    from neuralpatch.engine.errors import SettingError
    from neuralpatch.engine.evaluation import evaluate
    from neuralpatch.engine.patch_file import load_patch

    patch = load_patch(args.patch)
    base = load_base(args)
    if patch.base_fingerprint != base.fingerprint:
        raise SettingError(
            f"{args.patch} was trained on another base network "
            f"({patch.base_fingerprint}, running {base.fingerprint})"
        )
    masters = load_masters(args, base)
    dataset = load_dataset(args.data, known_tags(base, masters))
    samples = None
    if args.split != "all":
        if not 0 < args.val_fraction < 1:
            raise SettingError("--val-fraction must be in (0, 1)")
        train, val = dataset.split(args.val_fraction, args.seed)
        outputs = dataset.outputs
        samples = [(p, outputs[k].tag) for p, k in (val if args.split == "val" else train)]
    with ProgressLine("evaluating") as bar:
        report = evaluate(base, patch, dataset, samples, bar.update, masters=masters)
    if args.json:
        print(json_text({"patch": patch.name, "split": args.split} | report.to_dict(), indent=2))
        return 0
    print(
        printable(
            f"patch {patch.name!r} on {args.data} ({args.split}): {report.images} images, "
            f"{report.triggered} triggered the patch, {report.not_triggered} did not"
        )
    )
    print(f"accuracy when triggered  {percent(report.accuracy)}")
    print(f"end-to-end accuracy      {percent(report.end_to_end_accuracy)}")
    width = max(len(n) for n in report.outputs) + 2
    for name, acc in zip(report.outputs, report.per_class_accuracy(), strict=True):
        print(printable(f"  {name:<{width}}{percent(acc)}"))
    print("confusion (rows: true, columns: predicted, last: not triggered)")
    print(" " * width + "".join(f"{i:>6}" for i in range(len(report.outputs))) + "     -")
    for name, row in zip(report.outputs, report.confusion, strict=True):
        print(printable(f"{name:<{width}}") + "".join(f"{v:>6}" for v in row))
    for path, reason in report.skipped.items():
        print(printable(f"skipped {path}: {reason}"))
    return 0
