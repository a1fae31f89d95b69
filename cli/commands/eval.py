"""`neuralpatch eval PATCH DATA`: accuracy of a plugin file through the real pipeline."""

from __future__ import annotations

import argparse

from neuralpatch.commands.heatmap_output import add_gallery_option, make_gallery, write_gallery
from neuralpatch.commands.options import (
    add_base_options,
    add_masters_option,
    known_tags,
    load_base,
    load_masters,
)
from neuralpatch.engine.number_text import count
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
    p.add_argument(
        "--min-confidence",
        type=float,
        metavar="P",
        help="score as if the patch abstained under this top probability "
        "(default: the min_confidence stored in the patch)",
    )
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--json",
        action="store_true",
        help="print {patch, split, images, triggered, not_triggered, accuracy, "
        "end_to_end_accuracy, outputs, per_class_accuracy, per_output, confusion, "
        "skipped, min_confidence, at_min_confidence, risk_coverage}; per_class_accuracy is keyed "
        "by output name ('name (tag)' for a name several outputs share); per_output: [{tag, "
        "name, images, accuracy, end_to_end_accuracy}] in neuron order; "
        "confusion[true][predicted], "
        "last column = not triggered; at_min_confidence and each risk_coverage row: "
        "{min_confidence, answered, abstained, coverage, accuracy, end_to_end_accuracy}",
    )
    add_gallery_option(p)
    add_masters_option(p)
    add_base_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from neuralpatch.commands.progress import ProgressLine, percent
    from neuralpatch.engine.dataset import load_dataset
    from neuralpatch.engine.errors import SettingError
    from neuralpatch.engine.evaluation import evaluate
    from neuralpatch.engine.patch_file import load_patch
    from neuralpatch.engine.risk_coverage import at_threshold, risk_coverage

    patch = load_patch(args.patch)
    threshold = patch.min_confidence if args.min_confidence is None else args.min_confidence
    if not 0 <= threshold <= 1:
        raise SettingError("--min-confidence must be in [0, 1]")
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
    gallery = make_gallery(args, patch, base)
    with ProgressLine("evaluating") as bar:
        report = evaluate(
            base,
            patch,
            dataset,
            samples,
            bar.update,
            masters=masters,
            on_scored=gallery.add if gallery else None,
        )
    point, table = at_threshold(report, threshold), risk_coverage(report)
    if args.json:
        from neuralpatch.engine.end_to_end_validation import per_output_json

        extra = (
            per_output_json(report, [o.tag for o in patch.outputs])
            | {
                "min_confidence": threshold,
                "at_min_confidence": point.to_dict(),
                "risk_coverage": [row.to_dict() for row in table],
            }
            | write_gallery(gallery, args)
        )
        print(
            json_text(
                {"patch": patch.name, "split": args.split} | report.to_dict() | extra, indent=2
            )
        )
        return 0
    from neuralpatch.engine.end_to_end_validation import report_lines

    print(
        printable(
            f"patch {patch.name!r} on {args.data} ({args.split}): {count(report.images)} "
            f"images, {count(report.triggered)} triggered the patch, "
            f"{count(report.not_triggered)} did not"
        )
    )
    print(f"accuracy when triggered  {percent(report.accuracy)}")
    print(f"end-to-end accuracy      {percent(report.end_to_end_accuracy)}")
    print("\n".join(printable(line) for line in report_lines(report)))
    print(
        f"at min confidence {threshold:g}: {count(point.answered)} answered, "
        f"{count(point.abstained)} abstained, {count(report.not_triggered)} did not trigger; "
        "accuracy when answering "
        f"{percent(point.accuracy)}, end to end {percent(point.end_to_end)}"
    )
    print("risk-coverage (min confidence: answered share of all photos, accuracy answered, e2e)")
    for row in table:
        print(
            f"  {row.threshold:>5.2f}  coverage {percent(row.coverage):>6}  "
            f"accuracy {percent(row.accuracy):>6}  end to end {percent(row.end_to_end):>6}"
        )
    for path, reason in report.skipped.items():
        print(printable(f"skipped {path}: {reason}"))
    write_gallery(gallery, args)
    return 0
