"""`neuralpatch classify IMAGE...`: the base network's top-k classes for each photo.

With `--patches DIR` each photo also goes through the patches of that folder, and the patches
that ran are printed as a tree under the base classes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuralpatch.commands.options import add_base_options, load_base
from neuralpatch.engine.safe_text import json_text, printable


def add_parser(sub) -> None:
    p = sub.add_parser(
        "classify",
        help="classify photos with the base network",
        description="Print the base network's top classes for each image.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=int, default=5, metavar="K", help="classes to show (5)")
    p.add_argument(
        "--patches",
        metavar="DIR",
        help="also run the .specialneurons patches of DIR and show what they answer",
    )
    p.add_argument(
        "--min-probability",
        type=float,
        default=0.0,
        metavar="P",
        help="with --patches: how sure the base network (or a master patch) must "
        "be before a patch triggers (0)",
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        metavar="P",
        help="with --patches: a patch whose top output is under P abstains (shown as "
        "none; default: each patch's own min_confidence)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: {base, images: [{path, top: [{index, tag, "
        "name, probability}]}], errors: [{path, error}]}. With --patches, "
        "each image also has patches: the tree of patches that ran, each "
        "{name, file, trigger: {tag, name}, output: {index, tag, name, "
        "probability}, identified, probabilities: [{tag, name, probability}], "
        "icon, elapsed_ms, abstained (under its min_confidence or its background "
        "output: shown as none), "
        "children: [...]}, and patches_ms; and the object "
        "has patch_folder: {folder, running: [names], disabled: [{file, "
        "reason}], rejected: [{file, reason}]}",
    )
    add_base_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from neuralpatch.engine.feature_pipeline import base_passes

    base = load_base(args)
    system = _patch_system(args, base) if args.patches else None
    results, errors = [], []
    # Decoded in worker processes for long lists, a few batches at a time, in order.
    for path, out in zip(args.images, base_passes(base, args.images), strict=True):
        if out.error is not None:
            errors.append({"path": path, "error": f"{path}: {out.error}"})
            print(f"neuralpatch: error: {printable(path)}: {printable(out.error)}", file=sys.stderr)
            continue
        top = base.top_k(out.probabilities, max(1, args.top))
        item = {"path": path, "top": [p.__dict__ for p in top]}
        if system is not None:
            tree = system.classify(out.probabilities, out.features, max(1, args.top))
            tree.abstain_below(args.min_confidence)
            item["patches"] = [r.to_dict() for r in tree.patches]
            item["patches_ms"] = tree.elapsed_ms
        results.append(item)
    if args.json:
        report = {
            "base": {"name": base.topology.name, "fingerprint": base.fingerprint},
            "images": results,
            "errors": errors,
        }
        if system is not None:
            report["patch_folder"] = _folder_summary(system, args.patches)
        print(json_text(report, indent=2))
    else:
        for item in results:
            print(printable(item["path"]))
            for rank, p in enumerate(item["top"], start=1):
                print(printable(f"  {rank}. {p['name']:<28} {p['tag']}  {p['probability']:7.2%}"))
            if system is not None:
                print("\n".join(map(printable, _tree_lines(item["patches"]))))
    return 2 if errors else 0


def _patch_system(args: argparse.Namespace, base):
    """The patches of --patches DIR; files that cannot be used are reported on stderr."""
    from neuralpatch.engine.patch_system import PatchSystem

    system = PatchSystem.for_base(base, args.min_probability)
    for event in system.load_dir(args.patches):
        if event.kind in ("rejected", "disabled"):
            print(
                printable(f"neuralpatch: warning: {event.kind} {event.path}: {event.reason}"),
                file=sys.stderr,
            )
    return system


def _folder_summary(system, folder: str) -> dict:
    index = system.index
    return {
        "folder": str(Path(folder).absolute()),
        "running": [p.name for p in index.enabled],
        "disabled": [
            {"file": str(p.path), "reason": p.disabled} for p in index.patches if p.disabled
        ],
        "rejected": [
            {"file": str(path), "reason": reason} for path, reason in system.rejected.items()
        ],
    }


def _tree_lines(nodes: list[dict], depth: int = 1) -> list[str]:
    if depth == 1 and not nodes:
        return ["  patches: none triggered"]
    lines = ["  patches:"] if depth == 1 else []
    for node in nodes:
        out = node["output"]
        answer = f"none (abstained; best {out['name']})" if node["abstained"] else out["name"]
        lines.append(
            f"{'  ' * (depth + 1)}{node['name']}: {answer} ({out['tag']}) "
            f"{out['probability']:7.2%}   triggered by {node['trigger']['name']}"
        )
        lines.extend(_tree_lines(node["children"], depth + 1))
    return lines
