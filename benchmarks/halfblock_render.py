"""Benchmark half-block strip building against a naive per-cell renderer, on real photos.

Usage: python benchmarks/halfblock_render.py [--json] [--repeats N]

For 80x30 and 160x50 cells and three photos (skimage chelsea, coffee, astronaut), one run
times three renderers, each from the full-size RGB photo to a list of Textual strips (resize
included in all of them):

- ``naive``: one Segment and a fresh Style per cell, full 24-bit colour, no run merging;
- ``truecolor``: HalfblockRenderer, 5 bits per channel, runs merged, styles cached;
- ``256``: HalfblockRenderer on the xterm-256 cube and grey ramp.

Two scenes: ``static`` renders the same photo again (caches warm, like a still image view) and
``live`` renders a new frame each time (the photo plus sensor-like noise, like a webcam), so
most cells need styles the renderer has not seen. Figures are per frame, averaged over the
photos, each the median of ``--repeats`` frames. Timing never fails anything.

``--json`` prints one object:

    {
      "textual": str, "python": str, "repeats": int,
      "photos": [str, ...],
      "sizes": {
        "80x30": {                        # requested cells, "WxH"
          "cols": int, "rows": int,       # cells actually drawn for chelsea (aspect kept)
          "cells": int,                   # cols * rows
          "modes": {
            "naive" | "truecolor" | "256": {
              "ms_per_frame": float,            # static scene
              "ms_per_frame_live": float,       # live scene
              "fps_live": float,                # 1000 / ms_per_frame_live
              "segments_per_frame": float,      # live scene
              "ansi_bytes_per_frame": float,    # Strip.render output, live scene
              "ansi_ms_per_frame": float,       # time of that Strip.render, live scene
              "speedup_vs_naive": float,        # naive ms / this ms, static scene
              "speedup_vs_naive_live": float    # same, live scene
            }
          }
        },
        "160x50": {...}
      }
    }
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import cast

import numpy as np
import skimage.data
from rich.color import Color
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from neuralpatch.tui.halfblock import (
    BLOCK,
    HalfblockRenderer,
    Palette,
    fit_size,
    resize_to_cells,
)

SIZES = ((80, 30), (160, 50))
PHOTOS = ("chelsea", "coffee", "astronaut")
MODES = ("naive", "truecolor", "256")
NOISE_SIGMA = 3.0

Render = Callable[[np.ndarray, int, int], list[Strip]]


def naive_strips(rgb: np.ndarray, cells_w: int, cells_h: int) -> list[Strip]:
    """The straightforward renderer image widgets use: one styled segment per cell."""
    cols, rows = fit_size(rgb.shape[0], rgb.shape[1], cells_w, cells_h)
    pixels = resize_to_cells(rgb, cols, rows)
    strips = []
    for top, bottom in zip(pixels[0::2].tolist(), pixels[1::2].tolist(), strict=True):
        segments = [
            Segment(BLOCK, Style(color=Color.from_rgb(*fg), bgcolor=Color.from_rgb(*bg)))
            for fg, bg in zip(top, bottom, strict=True)
        ]
        strips.append(Strip(segments, cols))
    return strips


def live_frames(photo: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    """``count`` distinct frames of one photo with Gaussian noise, made before timing starts."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        noise = rng.normal(0.0, NOISE_SIGMA, photo.shape)
        frames.append(np.clip(photo + noise, 0, 255).astype(np.uint8))
    return frames


def median_ms(render: Render, frames: list[np.ndarray], cells_w: int, cells_h: int) -> float:
    times = []
    for frame in frames:
        start = time.perf_counter()
        render(frame, cells_w, cells_h)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def ansi_cost(strips: list[Strip], console: Console) -> tuple[int, float]:
    """Bytes and milliseconds of the escape sequences Textual would write for these strips."""
    start = time.perf_counter()
    text = "".join(strip.render(console) for strip in strips)
    return len(text.encode()), (time.perf_counter() - start) * 1000


def make_renderer(mode: str) -> Render:
    if mode == "naive":
        return naive_strips
    return HalfblockRenderer(cast(Palette, mode)).render


def measure_mode(
    mode: str, photos: dict[str, np.ndarray], cells_w: int, cells_h: int, repeats: int
) -> dict[str, float]:
    color_system = "256" if mode == "256" else "truecolor"
    console = Console(file=io.StringIO(), force_terminal=True, color_system=color_system)
    static_ms, live_ms, segments, ansi_bytes, ansi_ms = [], [], [], [], []
    for seed, photo in enumerate(photos.values()):
        render = make_renderer(mode)  # one renderer per photo, as one view per camera
        for _ in range(2):
            render(photo, cells_w, cells_h)  # warm-up: imports, caches, allocator
        static_ms.append(median_ms(render, [photo] * repeats, cells_w, cells_h))
        frames = live_frames(photo, repeats, seed)
        live_ms.append(median_ms(render, frames, cells_w, cells_h))
        fresh = live_frames(photo, 1, seed + 100)[0]
        strips = render(fresh, cells_w, cells_h)
        segments.append(sum(len(strip) for strip in strips))
        nbytes, ms = ansi_cost(strips, console)
        ansi_bytes.append(nbytes)
        ansi_ms.append(ms)
    live = statistics.mean(live_ms)
    return {
        "ms_per_frame": statistics.mean(static_ms),
        "ms_per_frame_live": live,
        "fps_live": 1000 / live,
        "segments_per_frame": statistics.mean(segments),
        "ansi_bytes_per_frame": statistics.mean(ansi_bytes),
        "ansi_ms_per_frame": statistics.mean(ansi_ms),
    }


def run(repeats: int) -> dict:
    photos = {name: getattr(skimage.data, name)() for name in PHOTOS}
    sizes = {}
    for cells_w, cells_h in SIZES:
        modes = {mode: measure_mode(mode, photos, cells_w, cells_h, repeats) for mode in MODES}
        naive = modes["naive"]
        for figures in modes.values():
            figures["speedup_vs_naive"] = naive["ms_per_frame"] / figures["ms_per_frame"]
            figures["speedup_vs_naive_live"] = (
                naive["ms_per_frame_live"] / figures["ms_per_frame_live"]
            )
        cols, rows = fit_size(*photos["chelsea"].shape[:2], cells_w, cells_h)
        sizes[f"{cells_w}x{cells_h}"] = {
            "cols": cols,
            "rows": rows,
            "cells": cols * rows,
            "modes": modes,
        }
    return {
        "textual": version("textual"),
        "python": platform.python_version(),
        "repeats": repeats,
        "photos": list(PHOTOS),
        "sizes": sizes,
    }


def print_table(result: dict) -> None:
    print(
        f"half-block strips, photos: {', '.join(result['photos'])}; median of "
        f"{result['repeats']} frames, mean over photos; textual {result['textual']}"
    )
    header = (
        f"{'cells':>7} {'mode':>9} {'static ms':>9} {'live ms':>8} {'live fps':>8} "
        f"{'segments':>8} {'ANSI KiB':>8} {'ANSI ms':>7} {'x naive':>7} {'x live':>6}"
    )
    print(header)
    for size, entry in result["sizes"].items():
        for mode, f in entry["modes"].items():
            print(
                f"{size:>7} {mode:>9} {f['ms_per_frame']:9.2f} {f['ms_per_frame_live']:8.2f} "
                f"{f['fps_live']:8.0f} {f['segments_per_frame']:8.0f} "
                f"{f['ansi_bytes_per_frame'] / 1024:8.1f} {f['ansi_ms_per_frame']:7.2f} "
                f"{f['speedup_vs_naive']:7.1f} {f['speedup_vs_naive_live']:6.1f}"
            )
        print(f"{'':>7} ({entry['cols']}x{entry['rows']} = {entry['cells']} cells for chelsea)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=20, help="frames timed per photo")
    args = parser.parse_args()
    result = run(max(1, args.repeats))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
