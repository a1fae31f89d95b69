"""`neuralpatch dataset check|suggest-triggers DIR`: what a training folder holds, what is
wrong with it, and which base categories would make its photos trigger the patch."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys

from neuralpatch.commands.options import (
    add_base_options,
    add_masters_option,
    known_tags,
    load_base,
    load_masters,
)
from neuralpatch.engine.number_text import count, fraction
from neuralpatch.engine.safe_text import json_text, printable

CHECK_JSON_HELP = (
    "print {root, outputs: [{tag, index, name, images}], triggers, trigger_names, problems, "
    "problem_count, trigger_coverage: {coverage, covered, images, top_k, outputs: [{tag, name, "
    "images, covered, coverage}]}, unreadable: [{file, reason}]}; coverage is the share of "
    "photos whose base top-1 (top-K with --trigger-top-k) or master output is a trigger"
)
SUGGEST_JSON_HELP = (
    "print {target, added: [{tag, name, photos, covers: {output name: photos}}], before, "
    "after, written}; before/after have the shape of dataset check's trigger_coverage"
)


def add_parser(sub) -> None:
    p = sub.add_parser("dataset", help="inspect a training-data folder")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="outputs with image counts, triggers, trigger coverage, problems",
        description="Check a dataset folder (map_clsloc.txt at its root, <tag>_*.jpg below): "
        "decode every photo (through the feature cache), measure trigger coverage and class "
        "balance.",
    )
    check.add_argument("folder", metavar="DIR")
    check.add_argument("--json", action="store_true", help=CHECK_JSON_HELP)
    _add_top_k(check)
    add_masters_option(check)
    add_base_options(check)
    check.set_defaults(run=run_check)
    suggest = actions.add_parser(
        "suggest-triggers",
        help="base categories that make the photos trigger the patch",
        description="From the base network's top-1 (or top-K) on each output's photos, the "
        "smallest set "
        "of base categories that reaches the target trigger coverage for every output.",
    )
    suggest.add_argument("folder", metavar="DIR")
    suggest.add_argument(
        "--coverage",
        type=float,
        default=0.98,
        metavar="F",
        help="target share of each output's photos that trigger the patch (0.98)",
    )
    suggest.add_argument(
        "--write", action="store_true", help="append the suggested rows to map_clsloc.txt"
    )
    suggest.add_argument(
        "--train-split",
        action="store_true",
        help="choose from the training split only (as `train` splits it with --seed and "
        "--val-fraction), so the validation figure stays an honest held-out score",
    )
    suggest.add_argument("--val-fraction", type=float, default=0.2)
    suggest.add_argument("--seed", type=int, default=0)
    suggest.add_argument("--json", action="store_true", help=SUGGEST_JSON_HELP)
    _add_top_k(suggest)
    add_base_options(suggest)
    suggest.set_defaults(run=run_suggest, masters=None)


def _add_top_k(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trigger-top-k",
        type=int,
        default=1,
        metavar="K",
        help="count a photo as triggering when any of the base's K best classes is a trigger, "
        "as a patch trained with `train --trigger-top-k K` is triggered (1)",
    )


def _checked(args: argparse.Namespace):
    from neuralpatch.commands.progress import ProgressLine
    from neuralpatch.engine.dataset import load_dataset
    from neuralpatch.engine.dataset_report import check_dataset
    from neuralpatch.engine.errors import SettingError
    from neuralpatch.engine.patch_file import MAX_TRIGGER_TOP_K

    if not 1 <= args.trigger_top_k <= MAX_TRIGGER_TOP_K:
        raise SettingError(f"--trigger-top-k must be from 1 to {MAX_TRIGGER_TOP_K}")
    base = load_base(args)
    masters = load_masters(args, base)
    tags = known_tags(base, masters)
    dataset = load_dataset(args.folder, tags)
    with ProgressLine("decoding photos") as bar:
        report = check_dataset(base, dataset, masters, bar.update, top_k=args.trigger_top_k)
    return base, tags, report


def run_check(args: argparse.Namespace) -> int:

    _, tags, report = _checked(args)
    dataset = dataclasses.replace(report.dataset, problems=report.problems)
    if args.json:
        summary = dataset.to_summary()
        summary["trigger_names"] = {t: tags[t] for t in dataset.triggers}
        summary["problems"] = dataset.problems
        print(json_text(summary | report.to_dict(), indent=2))
    else:
        lines = dataset.summary_lines()
        at = next((i for i, line in enumerate(lines) if line.startswith("Problems")), len(lines))
        lines[at:at] = report.coverage.lines()
        print("\n".join(printable(line) for line in lines))
    return 0


def run_suggest(args: argparse.Namespace) -> int:
    from neuralpatch.engine.base_head import BaseHead
    from neuralpatch.engine.errors import SettingError
    from neuralpatch.engine.trigger_suggestion import suggest_triggers, write_triggers

    if not 0 < args.coverage <= 1:
        raise SettingError("--coverage must be in (0, 1]")
    base, _, report = _checked(args)
    chosen_from = report.dataset
    if args.train_split:
        if not 0 <= args.val_fraction < 1 or args.seed < 0:
            raise SettingError("--val-fraction must be in [0, 1) and --seed 0 or more")
        train, _ = report.dataset.split(args.val_fraction, args.seed)
        keep = {path for path, _ in train}
        chosen_from = copy.deepcopy(report.dataset)
        for category in chosen_from.outputs:
            category.images = [p for p in category.images if p in keep]
    suggestion = suggest_triggers(
        BaseHead.for_base(base),
        chosen_from,
        report.features,
        base.classes.tag_names(),
        args.coverage,
        args.trigger_top_k,
    )
    written = None
    if args.write and suggestion.added:
        written = str(write_triggers(report.dataset, suggestion.added))
    if args.json:
        print(json_text(suggestion.to_dict() | {"written": written}, indent=2))
        return 0
    before, after = suggestion.before, suggestion.after
    print(f"coverage now {_share(before.fraction)} ({_photos(before)})")
    for o in before.outputs:
        print(printable(f"  {o.name}: {_share(o.fraction)}"))
    if not suggestion.added:
        print(f"no trigger to add: every output reaches {args.coverage:.0%} or cannot be helped")
    for s in suggestion.added:
        covers = ", ".join(f"{name} {count(n)}" for name, n in s.covers.items())
        print(printable(f"  + {s.tag}  {s.name}: {count(s.photos)} photos ({covers})"))
    print(f"coverage with them {_share(after.fraction)} ({_photos(after)})")
    for o in after.outputs:
        print(printable(f"  {o.name}: {_share(o.fraction)}"))
    if written:
        print(printable(f"added {count(len(suggestion.added))} rows to {written}"))
    elif suggestion.added:
        print("run again with --write to add them to map_clsloc.txt", file=sys.stderr)
    return 0


def _photos(coverage) -> str:
    return f"{fraction(coverage.covered, coverage.images)} photos"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
