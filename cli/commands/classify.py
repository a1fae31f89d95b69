"""`neuralpatch classify IMAGE...`: the base network's top-k classes for each photo.

With `--patches DIR` each photo also goes through the patches of that folder, and the patches
that ran are printed as a tree under the base classes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.commands.heatmap_output import HELP_KEYS, add_heatmap_options
from neuralpatch.commands.options import add_base_options, load_base
from neuralpatch.engine.number_text import columns
from neuralpatch.engine.safe_text import json_text, printable

BATCH = 16  # photos per base pass when heat-maps need the decoded photo


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
        "reason}], rejected: [{file, reason}]}. " + HELP_KEYS,
    )
    add_heatmap_options(p)
    add_base_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from neuralpatch.commands.heatmap_output import HeatmapOutput, heatmap_lines

    base = load_base(args)
    system = _patch_system(args, base) if args.patches else None
    heatmaps = HeatmapOutput(args, base) if args.heatmap or args.occlusion else None
    results, errors = [], []
    for path, out in _passes(base, args.images, with_maps=heatmaps is not None):
        if out.error is not None:
            errors.append({"path": path, "error": f"{path}: {out.error}"})
            print(f"neuralpatch: error: {printable(path)}: {printable(out.error)}", file=sys.stderr)
            continue
        top = base.top_k(out.probabilities, max(1, args.top))
        item = {"path": path, "top": [p.__dict__ for p in top]}
        tree = None
        if system is not None:
            tree = system.classify(out.probabilities, out.features, max(1, args.top))
            tree.abstain_below(args.min_confidence)
            item["patches"] = [r.to_dict() for r in tree.patches]
            item["patches_ms"] = tree.elapsed_ms
        if heatmaps is not None:
            heatmaps.add(item, path, out.rgb, out.feature_map, out.probabilities, tree)
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
            print("\n".join(top_lines(item["top"])))
            if system is not None:
                print("\n".join(tree_lines(item["patches"])))
            print("\n".join(heatmap_lines(item)), end="\n" if heatmaps else "")
    return 2 if errors else 0


@dataclass
class _Pass:
    """One photo through the base pass; `rgb` and `feature_map` only for heat-maps."""

    probabilities: np.ndarray | None = None
    features: np.ndarray | None = None
    error: str | None = None
    rgb: np.ndarray | None = None
    feature_map: np.ndarray | None = None


def _passes(base, paths: list[str], *, with_maps: bool) -> Iterator[tuple[str, _Pass]]:
    """Base passes in order. Long lists are decoded ahead in worker processes; heat-maps
    need the full-size photo and the feature map, so those decode here, a batch at a time."""
    from neuralpatch.engine.errors import ImageError
    from neuralpatch.engine.feature_pipeline import base_passes
    from neuralpatch.engine.image_io import decode_image

    if not with_maps:
        for path, out in zip(paths, base_passes(base, paths), strict=True):
            yield path, _Pass(out.probabilities, out.features, out.error)
        return
    for start in range(0, len(paths), BATCH):
        chunk = []
        for path in paths[start : start + BATCH]:
            try:
                chunk.append((path, decode_image(path)))
            except ImageError as exc:
                yield path, _Pass(error=exc.message)
        if not chunk:
            continue
        out = base.run([rgb for _, rgb in chunk])
        for i, (path, rgb) in enumerate(chunk):
            yield path, _Pass(out.probabilities[i], out.features[i], None, rgb, out.feature_map[i])


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


def top_lines(top: list[dict]) -> list[str]:
    """The base classes as aligned columns: rank, name, tag, probability (right-aligned)."""
    rows = [
        [f"{rank}.", printable(p["name"]), printable(p["tag"]), f"{p['probability']:.2%}"]
        for rank, p in enumerate(top, start=1)
    ]
    return ["  " + line for line in columns(rows, right=(0, 3))]


def tree_lines(nodes: list[dict]) -> list[str]:
    """The patches that ran, indented by depth, their columns aligned across the tree."""
    if not nodes:
        return ["  patches: none triggered"]
    return ["  patches:", *("  " + line for line in columns(_tree_rows(nodes, 1), right=(3,)))]


def _tree_rows(nodes: list[dict], depth: int) -> list[list[str]]:
    rows = []
    for node in nodes:
        out = node["output"]
        name = printable(out["name"])
        answer = f"none (abstained; best {name})" if node["abstained"] else name
        rows.append(
            [
                f"{'  ' * depth}{printable(node['name'])}:",
                answer,
                f"({printable(out['tag'])})",
                f"{out['probability']:.2%}",
                f"triggered by {printable(node['trigger']['name'])}",
            ]
        )
        rows.extend(_tree_rows(node["children"], depth + 1))
    return rows
