"""The firing scene of benchmarks/camera_loop.py (run that, not this): 1,000 patches all
firing on every frame, by way of writing the JSON line, against the base pass alone."""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.live_json import LiveJsonEncoder
from neuralpatch.engine.live_loop import LiveLoop, LiveResult
from neuralpatch.engine.patch_file import PATCH_SUFFIX, PatchFile, PatchOutput
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.video_source import VideoFileSource

WARM_UP = 5
BLOCK = 20  # passes per timed block; each block reopens the video at its start


def cat_video(folder: Path) -> Path:
    path = folder / "cat.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (400, 300))
    resized = cv2.resize(skimage.data.chelsea(), (400, 300), interpolation=cv2.INTER_AREA)
    for _ in range(24):
        writer.write(cv2.cvtColor(resized, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def firing_system(base: BaseNetwork, real: PatchSystem, count: int) -> PatchSystem:
    """The real patches plus synthetic ones until `count`, all triggered by the cat classes."""
    rng = np.random.default_rng(0)
    cats = list(base.classes.tags[281:294])
    system = PatchSystem.for_base(base)
    patches = {p.path: p.patch for p in real.patches}
    for i in range(count - len(patches)):
        outputs = [PatchOutput(f"n{90000000 + 10 * i + j}", f"made_up_{i}_{j}") for j in range(3)]
        weights = rng.normal(0, 0.02, (3, base.feature_dim)).astype(np.float32)
        patches[f"/bench/{i:04d}{PATCH_SUFFIX}"] = PatchFile(
            f"synthetic {i}", cats, outputs, weights, np.zeros(3, np.float32), base.fingerprint
        )
    system.add_all(patches)
    return system


def measure_firing(base: BaseNetwork, system: PatchSystem, video: Path, frames: int) -> dict:
    """fps of the headless JSON loop with every patch firing, by way of writing the line.

    `lean` is what `camera --headless --json` does: the base pass of the next frame overlaps
    the cascade and the JSON of this one (`LiveLoop(overlap=True)`); the other ways run one
    frame at a time, as the loop did before (`serial`: the same encoder).
    """
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed below
    lean, full = LiveJsonEncoder(), LiveJsonEncoder(probabilities=True)
    ways = {
        "lean": (lean.encode, True),
        "serial": (lean.encode, False),
        "probabilities": (full.encode, True),
        "to_dict": (lambda r: json.dumps(r.to_dict()), False),
        "no_output": (None, False),
    }
    fps: dict[str, list[float]] = {w: [] for w in ways}
    json_ms: dict[str, list[float]] = {w: [] for w, (e, _) in ways.items() if e}
    patches_ms: list[float] = []
    bare: list[float] = []  # the base pass alone on the same frame, same blocks
    loops = {
        overlap: LiveLoop(base, VideoFileSource(video), system, give_up_after=0, overlap=overlap)
        for overlap in (False, True)
    }
    for loop in loops.values():
        loop.run(threading.Event(), max_frames=WARM_UP)
    sample = loops[False].latest
    for _ in range(max(1, frames // BLOCK)):
        for way, (encode, overlap) in ways.items():

            def show(r: LiveResult, encode=encode, way=way) -> None:
                patches_ms.append(r.patches_ms)
                if encode is not None:
                    t0 = time.perf_counter()
                    line = encode(r)
                    json_ms[way].append((time.perf_counter() - t0) * 1e3)
                    print(line, file=sink, flush=True)

            started = time.perf_counter()
            loops[overlap].run(threading.Event(), max_frames=BLOCK, on_result=show)
            fps[way].append(BLOCK / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(BLOCK):
            base.run([sample.image])
        bare.append(BLOCK / (time.perf_counter() - started))
    sink.close()
    lean_fps = statistics.median(fps["lean"])
    return {
        "patches": len(system.index.enabled),
        "fired_per_frame": len(sample.result.fired()),
        "line_bytes": {w: len(e(sample)) for w, (e, _) in ways.items() if e},
        "fps": {w: statistics.median(v) for w, v in fps.items()},
        "json_ms": {w: statistics.median(v) for w, v in json_ms.items()},
        "patches_ms": statistics.median(patches_ms),
        "bare_fps": statistics.median(bare),
        "lean_vs_bare": lean_fps / statistics.median(bare),
    }


def print_firing(f: dict) -> None:
    print(
        f"\n{f['patches']} patches, {f['fired_per_frame']} firing on every frame; headless "
        f"--json to /dev/null; patches {f['patches_ms']:.2f} ms a frame; base pass alone "
        f"{f['bare_fps']:.1f} fps (lean {f['lean_vs_bare']:.2f}x of it)"
    )
    print(f"{'line':>14} {'fps':>7} {'json ms':>8} {'bytes':>9}")
    for way, fps in f["fps"].items():
        ms, size = f["json_ms"].get(way), f["line_bytes"].get(way)
        print(
            f"{way:>14} {fps:7.1f} {'' if ms is None else f'{ms:8.2f}'} "
            f"{'' if size is None else f'{size:9d}'}"
        )
