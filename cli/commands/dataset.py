"""`neuralpatch dataset check DIR`: what a training folder holds and what is wrong with it."""

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
    p = sub.add_parser("dataset", help="inspect a training-data folder")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="outputs with image counts, triggers, problems",
        description="Check a dataset folder (map_clsloc.txt at its root, <tag>_*.jpg below).",
    )
    check.add_argument("folder", metavar="DIR")
    check.add_argument(
        "--json",
        action="store_true",
        help="print {root, outputs: [{tag, index, name, images}], triggers, "
        "trigger_names, problems, problem_count}",
    )
    add_masters_option(check)
    add_base_options(check)
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    from neuralpatch.engine.dataset import load_dataset

    base = load_base(args)  # loading does not start OpenCL; a check needs none
    tags = known_tags(base, load_masters(args, base))
    dataset = load_dataset(args.folder, tags)
    if args.json:
        summary = dataset.to_summary()
        summary["trigger_names"] = {t: tags[t] for t in dataset.triggers}
        summary["problems"] = dataset.problems
        print(json_text(summary, indent=2))
    else:
        print("\n".join(map(printable, dataset.summary_lines())))
    return 0
