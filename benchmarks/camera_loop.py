"""Benchmark the headless live loop on real video: frames per second and the per-pass split.

Usage: python benchmarks/camera_loop.py [--frames N] [--patches DIR] [--firing N] [--device SPEC]
       [--json]

Two real videos go through `LiveLoop` exactly as `neuralpatch camera --headless` runs it (every
frame, no real-time pacing): `tree` is OpenCV's tree.avi (320×240 Cinepak, 68 frames, looped;
from ../shared/video beside the repository) and `cat_coffee` is an MJPG .avi written here with
cv2.VideoWriter from skimage's chelsea (a tabby: the cat patch fires) and coffee (an
espresso), 12 frames each at 400×300, looped. The patches are one real patch trained on
sample_data (the felix cats patch), or the folder `--patches` names.

In the same run the same decoded frames go through `BaseNetwork.run` alone, back to back, so
`loop_vs_bare` says what the loop costs on top of the base pass (decoding the video, the patch
cascade, bookkeeping). The host is noisy, so both run in blocks of 20 passes taking turns
(each loop block opens the video at its start) and the fps figures are the median block.
Timing never fails anything.

`firing` then loads `--firing` patches (default 1,000: the real one and synthetic ones with
random weights, every one triggered by the 13 cat classes) and plays the cat frames of
`cat_coffee`, so every patch fires on every frame, printing each record to /dev/null as
`camera --headless --json` prints it: as it runs (`LiveJsonEncoder`, the next frame's base pass
overlapping this frame's cascade and JSON), the same one frame at a time, with
`--probabilities`, with the former `json.dumps(result.to_dict())`, and with no output at all,
in blocks taking turns.

``--json`` prints one object:

    {
      "python": str, "numpy": str, "opencv": str,
      "device": {...},                   # the OpenCL runtime's describe()
      "patches": [str, ...],             # names of the patches loaded
      "scenes": {
        "tree" | "cat_coffee": {
          "video": str, "width": int, "height": int,
          "frames": int,                 # passes timed (after 5 warm-up passes)
          "fired_frames": int,           # passes where at least one patch ran
          "loop_fps": float,             # passes per second of LiveLoop.run, median block
          "bare_fps": float,             # BaseNetwork.run alone on the same frames, same
          "loop_vs_bare": float,         # loop_fps / bare_fps (1.0: the loop costs nothing)
          "base_ms": {"median": float, "p90": float},     # LiveResult.base_ms
          "patches_ms": {"median": float, "p90": float},  # LiveResult.patches_ms
          "total_ms": {"median": float, "p90": float},    # capture to result
          "other_ms": float              # median of total - base - patches (decoding etc.)
        }
      },
      "firing": {
        "patches": int, "fired_per_frame": int, "line_bytes": {way: int},
        "fps": {way: float},             # way: "lean" (camera --json: overlapped), "serial"
                                         # (same lines, one frame at a time),
                                         # "probabilities" (overlapped), "to_dict",
                                         # "no_output" (both one at a time); median block
        "json_ms": {way: float},         # building one line, median
        "patches_ms": float,             # LiveResult.patches_ms, median
        "bare_fps": float,               # BaseNetwork.run alone on the frame, median block
        "lean_vs_bare": float            # fps["lean"] / bare_fps: what 1,000 patches cost
      }
    }
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from camera_firing import BLOCK, WARM_UP, cat_video, firing_system, measure_firing, print_firing

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.frame import quiet_opencv
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.live_loop import LiveLoop, LiveResult
from neuralpatch.engine.opencl_runtime import get_runtime
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, patch_from_trainer
from neuralpatch.engine.video_source import VideoFileSource

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"
TREE = REPO / ".." / "shared" / "video" / "tree.avi"


def cat_coffee_video(folder: Path) -> Path:
    path = folder / "cat_coffee.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (400, 300))
    for photo in [skimage.data.chelsea()] * 12 + [skimage.data.coffee()] * 12:
        resized = cv2.resize(photo, (400, 300), interpolation=cv2.INTER_AREA)
        writer.write(cv2.cvtColor(resized, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def patch_system(base: BaseNetwork, folder: str | None) -> PatchSystem:
    system = PatchSystem.for_base(base)
    if folder:
        system.load_dir(folder)
        return system
    dataset = load_dataset(SAMPLE_DATA, base.classes.tag_names())
    trainer = Trainer(base, dataset, HyperParams(batch_size=8, lr=0.02))
    trainer.prepare()
    trainer.run(threading.Event(), steps=40)
    system.add(
        SAMPLE_DATA / "felix_cats.specialneurons",
        patch_from_trainer(trainer, PatchInfo("felix cats")),
    )
    return system


def spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
    }


def measure(base: BaseNetwork, system: PatchSystem, video: Path, frames: int) -> dict:
    """Blocks of passes, the loop and the bare base pass taking turns (the host is noisy)."""
    loop = LiveLoop(base, VideoFileSource(video), system, give_up_after=0)
    loop.run(threading.Event(), max_frames=WARM_UP)
    results: list[LiveResult] = []
    loop_fps, bare_fps = [], []
    for _ in range(max(1, frames // BLOCK)):
        block: list[LiveResult] = []
        started = time.perf_counter()
        loop.run(threading.Event(), max_frames=BLOCK, on_result=block.append)
        loop_fps.append(BLOCK / (time.perf_counter() - started))
        started = time.perf_counter()
        for r in block:
            base.run([r.image])
        bare_fps.append(BLOCK / (time.perf_counter() - started))
        results += block

    height, width = results[0].image.shape[:2]
    loop_median, bare_median = statistics.median(loop_fps), statistics.median(bare_fps)
    return {
        "video": str(video.resolve()),
        "width": width,
        "height": height,
        "frames": len(results),
        "fired_frames": sum(bool(r.result.patches) for r in results),
        "loop_fps": loop_median,
        "bare_fps": bare_median,
        "loop_vs_bare": loop_median / bare_median,
        "base_ms": spread([r.base_ms for r in results]),
        "patches_ms": spread([r.patches_ms for r in results]),
        "total_ms": spread([r.total_ms for r in results]),
        "other_ms": statistics.median(r.total_ms - r.base_ms - r.patches_ms for r in results),
    }


def print_table(report: dict) -> None:
    device = report["device"].get("device", "?")
    print(
        f"live loop, headless, every frame; device {device}; patches: "
        f"{', '.join(report['patches']) or 'none'}"
    )
    print(
        f"{'scene':>11} {'size':>8} {'frames':>6} {'fired':>5} {'loop fps':>8} "
        f"{'bare fps':>8} {'x bare':>6} {'base ms':>7} {'p90':>6} {'patch ms':>8} "
        f"{'total ms':>8} {'other':>6}"
    )
    for name, s in report["scenes"].items():
        print(
            f"{name:>11} {s['width']:>4}x{s['height']:<3} {s['frames']:>6} "
            f"{s['fired_frames']:>5} {s['loop_fps']:8.1f} {s['bare_fps']:8.1f} "
            f"{s['loop_vs_bare']:6.2f} {s['base_ms']['median']:7.1f} "
            f"{s['base_ms']['p90']:6.1f} {s['patches_ms']['median']:8.3f} "
            f"{s['total_ms']['median']:8.1f} {s['other_ms']:6.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="passes timed per video")
    parser.add_argument("--patches", metavar="DIR", help="patch folder (default: train one)")
    parser.add_argument("--firing", type=int, default=1000, help="patches in the firing scene")
    parser.add_argument("--device", help="OpenCL device for the base pass")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    quiet_opencv()
    base = BaseNetwork.load(device=args.device)
    base.warm_up()
    system = patch_system(base, args.patches)
    with tempfile.TemporaryDirectory() as tmp:
        videos = {"tree": TREE, "cat_coffee": cat_coffee_video(Path(tmp))}
        scenes = {name: measure(base, system, video, args.frames) for name, video in videos.items()}
        many = firing_system(base, system, args.firing)
        firing = measure_firing(base, many, cat_video(Path(tmp)), args.frames)
    report = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "device": get_runtime(args.device).describe(),
        "patches": [p.name for p in system.patches],
        "scenes": scenes,
        "firing": firing,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
        print_firing(report["firing"])


if __name__ == "__main__":
    main()
