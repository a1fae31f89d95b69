"""What a heat-map costs per frame, against the base pass measured in the same run.

Usage: python benchmarks/heatmap_cost.py [--json] [--frames N] [--device SPEC]

Real frames of /work/shared/video/tree.avi (read with cv2.VideoCapture) go through the live
loop's base pass. For each frame, in alternating rounds so a busy host slows all alike:

- `base_ms`: the base pass of one frame (crop, resize, every layer on OpenCL);
- `cam_ms`: the class activation map of the base network's top class (`feature_map · w`),
  its peak and its upsampled raster over the crop;
- `overlay_ms` at 80 × 30 and 160 × 50 cells: what the camera screen adds on top of the pass
  when the heat-map is on — `HeatmapOverlay.layer_for` (the CAM) plus `HeatLayer.blend`
  into the fitted pixels (colour map, blend, colour scale). The half-block rendering itself
  is the same with or without the map (see halfblock_render.py);
- `occlusion_ms`: the occlusion map (a 56-pixel grey square, stride 28: 49 extra passes in
  batches of 16) of the same output.

Ratios are against `base_ms`. The issue's target: the overlay under 1 ms a frame.
``--json`` prints {"frames", "base_ms", "cam_ms", "overlay_ms": {"80x30", "160x50"},
"occlusion_ms", "cam_vs_base", "overlay_vs_base": {...}, "occlusion_vs_base"} (medians, ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.frame_source import VideoFileSource, quiet_opencv
from neuralpatch.engine.heatmap import (
    base_classifier,
    base_head,
    cam_geometry,
    class_activation_map,
)
from neuralpatch.engine.live_loop import LiveLoop, LiveResult
from neuralpatch.engine.occlusion import occlusion_maps
from neuralpatch.tui.halfblock import HalfblockRenderer
from neuralpatch.tui.heatmap_overlay import HeatmapOverlay

TREE = Path(__file__).resolve().parents[1] / ".." / "shared" / "video" / "tree.avi"
VIEWS = {"80x30": (80, 30), "160x50": (160, 50)}


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--occlusion-frames", type=int, default=3)
    parser.add_argument("--device")
    args = parser.parse_args()
    quiet_opencv()
    base = BaseNetwork.load(device=args.device)
    loop = LiveLoop(base, VideoFileSource(TREE), give_up_after=0)
    frames: list[LiveResult] = []
    loop.run(threading.Event(), max_frames=args.frames + 3, on_result=frames.append)
    frames = frames[3:]  # warm-up passes
    classifier = base_classifier(base.files)
    overlay = HeatmapOverlay(base)
    overlay.toggle()
    renderer = HalfblockRenderer("256")
    fitted = {name: renderer.fit(frames[0].image, *cells) for name, cells in VIEWS.items()}

    def cam(live: LiveResult) -> None:
        head = base_head(classifier, base.classes, live.result.top[0].index)
        heat = class_activation_map(
            live.feature_map, head, cam_geometry(live.image.shape, base.topology)
        )
        heat.peak()
        x0, y0, x1, y1 = heat.box
        heat.upsample(y1 - y0, x1 - x0)

    base_ms, cam_ms, occlusion_ms = [], [], []
    overlay_ms: dict[str, list[float]] = {name: [] for name in VIEWS}
    for n, live in enumerate(frames):
        base_ms.append(timed(lambda live=live: base.run([live.image])))
        cam_ms.append(timed(lambda live=live: cam(live)))
        for name, pixels in fitted.items():
            overlay_ms[name].append(
                timed(lambda live=live, p=pixels: overlay.layer_for(live).blend(p.copy()))
            )
        if n < args.occlusion_frames:
            head = base_head(classifier, base.classes, live.result.top[0].index)
            occlusion_ms.append(
                timed(lambda live=live, h=head: occlusion_maps(base, live.image, [h]))
            )

    median = statistics.median
    report = {
        "frames": len(frames),
        "base_ms": median(base_ms),
        "cam_ms": median(cam_ms),
        "overlay_ms": {name: median(v) for name, v in overlay_ms.items()},
        "occlusion_ms": median(occlusion_ms) if occlusion_ms else None,
    }
    report["cam_vs_base"] = report["cam_ms"] / report["base_ms"]
    report["overlay_vs_base"] = {n: v / report["base_ms"] for n, v in report["overlay_ms"].items()}
    report["occlusion_vs_base"] = (
        report["occlusion_ms"] / report["base_ms"] if occlusion_ms else None
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{len(frames)} frames of {TREE.name}, medians:")
    print(f"  base pass        {report['base_ms']:8.2f} ms")
    print(f"  CAM + peak + raster {report['cam_ms']:5.3f} ms  ({report['cam_vs_base']:.4f}× base)")
    for name, value in report["overlay_ms"].items():
        ratio = report["overlay_vs_base"][name]
        print(f"  overlay {name:<8} {value:8.3f} ms  ({ratio:.4f}× base)")
    if occlusion_ms:
        print(
            f"  occlusion (49 passes) {report['occlusion_ms']:6.1f} ms  "
            f"({report['occlusion_vs_base']:.1f}× base)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
