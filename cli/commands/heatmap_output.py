"""`classify --heatmap DIR`: write the heat-map PNGs and add `heatmap` keys to the results."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neuralpatch.engine.errors import SettingError
from neuralpatch.engine.safe_text import printable

HELP_KEYS = (
    "With --heatmap, the image has heatmap (the base network's top class) and every patch "
    "result has heatmap: {method: cam, output: {index, tag, name}, grid: [[rows of floats, "
    "the class activation map without bias]], box: [x0, y0, x1, y1] (the centre-crop square "
    "of the original image the grid covers, pixels, x1 y1 exclusive), peak: [x, y] (the "
    "hottest point in original-image pixels, refined between cells), logit, bias (mean of "
    "grid = logit - bias), png: PATH}; with --occlusion also occlusion: the same keys, "
    "method occlusion, grid = logit drop with a grey square over each spot"
)


def add_heatmap_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--heatmap",
        metavar="DIR",
        help="write a PNG heat-map (photo, blended map, colour bar) of the base network's top "
        "class and of every patch that ran into DIR, one per image and output",
    )
    parser.add_argument(
        "--occlusion",
        action="store_true",
        help="with --heatmap: also an occlusion-sensitivity map of the same outputs (49 more "
        "base passes per image)",
    )


class HeatmapOutput:
    """Explains each classified photo, writes its PNGs, and fills in the JSON items."""

    def __init__(self, args: argparse.Namespace, base):
        from neuralpatch.engine.explain import Explainer, PngNamer

        if args.occlusion and not args.heatmap:
            raise SettingError("--occlusion needs --heatmap DIR")
        folder = Path(args.heatmap)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SettingError(
                f"cannot create the heat-map folder {folder}: {exc.strerror}"
            ) from exc
        self.occlusion = args.occlusion
        self.explainer, self.namer = Explainer(base), PngNamer(folder)

    def add(
        self, item: dict, path: str, image: np.ndarray, feature_map, probabilities, tree
    ) -> None:
        """Heat-maps of one photo; `item` is its JSON object (with `patches` if any ran)."""
        from neuralpatch.commands.progress import ProgressLine
        from neuralpatch.engine.explain import write_pngs

        with ProgressLine(f"occlusion {printable(Path(path).name)}") as bar:
            explained = self.explainer.explain(
                image, feature_map, probabilities, tree, self.occlusion, on_progress=bar.update
            )
        write_pngs(explained, image, path, self.namer)
        targets = [item, *_walk(item.get("patches", []))]
        for target, done in zip(targets, explained, strict=True):
            target["heatmap"] = done.cam.to_dict(str(done.cam_png))
            if done.occlusion is not None:
                target["occlusion"] = done.occlusion.to_dict(str(done.occlusion_png))


def _walk(nodes: list[dict]):
    for node in nodes:
        yield node
        yield from _walk(node["children"])


def heatmap_lines(item: dict) -> list[str]:
    """The PNGs written for one photo, for the text output."""
    lines = []
    for target in [item, *_walk(item.get("patches", []))]:
        for key in ("heatmap", "occlusion"):
            if key in target:
                heat = target[key]
                x, y = heat["peak"]
                lines.append(
                    f"  {key}: {printable(target.get('name', 'base'))} → "
                    f"{printable(heat['output']['name'])}, peak at ({x:.0f}, {y:.0f}): "
                    f"{printable(heat['png'])}"
                )
    return lines


def add_gallery_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--heatmaps",
        metavar="DIR",
        help="write DIR/<patch>-misclassified.png: every photo the patch got wrong end to "
        "end (wrong output or not triggered) with the heat-map of the output it gave; "
        "--json then adds gallery: PATH",
    )


def make_gallery(args: argparse.Namespace, patch, base):
    """The gallery collector for --heatmaps DIR, or None."""
    from neuralpatch.engine.heatmap_gallery import MisclassifiedGallery

    if not args.heatmaps:
        return None
    folder = Path(args.heatmaps)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingError(f"cannot create the heat-map folder {folder}: {exc.strerror}") from exc
    return MisclassifiedGallery(patch, base.topology, base.classes)


def write_gallery(gallery, args: argparse.Namespace) -> dict:
    """Write the sheet; the keys to add to the JSON report ({} without --heatmaps)."""
    from neuralpatch.engine.patch_file import safe_name

    if gallery is None:
        return {}
    path = gallery.write(Path(args.heatmaps) / f"{safe_name(gallery.patch.name)}-misclassified.png")
    if not args.json:
        print(f"misclassified photos with their heat-maps ({gallery.wrong}): {printable(path)}")
    return {"gallery": str(path)}
