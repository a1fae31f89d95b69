"""Milliseconds per image of the base network's forward pass: our OpenCL pass against other
engines running the same weights, in the same run.

Engines: `opencl` (ours), `numpy` (the reference), `onnxruntime` (a graph built from our
topology by `engine/onnx_export.py`; needs `onnx` + `onnxruntime`) and `torch` (eager, NCHW;
only when torch is importable). Engines that cannot run are listed under `skipped`.

The host is noisy and one engine's spinning thread pool slows the next, so each engine runs in
blocks of calls with an idle gap between blocks, engines taking turns block by block; the
figure is the median block, with the best block beside it.

    python benchmarks/base_pass.py [--batch 1 32] [--blocks 3] [--engines opencl numpy ...]
                                   [--device SPEC] [--json]

`--json` prints one object with these keys (stable):
- `batch_sizes`: list of int.
- `device`: the OpenCL runtime's `describe()` (platform, device, compute_units, cache_dir,
  cache_state, ...).
- `results`: {engine: {str(batch): {"ms_per_image": float (median block),
  "best_ms_per_image": float, "blocks_ms_per_image": [float], "calls_per_block": int}}}.
- `ratio_vs_opencl`: {engine: {str(batch): engine ms / opencl ms}} (> 1: ours is faster).
- `max_abs_diff_vs_reference`: {engine: float}, probabilities at batch 1 vs `numpy`.
- `opencl_ms_per_layer_kind`: {kind: float}, device time per image at batch 1 (profiled).
- `skipped`: {engine: reason}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from neuralpatch.engine.base_network import default_base_path
from neuralpatch.engine.opencl_network import OpenCLNetwork
from neuralpatch.engine.opencl_runtime import get_runtime
from neuralpatch.engine.preprocess import to_input
from neuralpatch.engine.reference import forward_reference
from neuralpatch.engine.topology import BaseNetworkFiles, load_topology_files

ENGINES = ("opencl", "numpy", "onnxruntime", "torch")
IDLE_GAP_S = 0.5
TARGET_BLOCK_S = 1.0  # calls per block are chosen to fill about this long
Runner = Callable[[np.ndarray], np.ndarray]  # NHWC batch -> probabilities


def onnxruntime_runner(net: BaseNetworkFiles) -> Runner:
    import onnxruntime

    from neuralpatch.engine.onnx_export import build_onnx_model

    session = onnxruntime.InferenceSession(
        build_onnx_model(net).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return lambda x: session.run(["probabilities"], {"input": x})[0]


def torch_runner(net: BaseNetworkFiles, features: bool = False) -> Runner:
    """Eager torch with the same weights (NCHW, explicit SAME pads).

    With `features` it stops at the pooled features and returns them as a torch tensor (what
    `train_throughput.py` trains a head on); else it returns the probabilities as numpy.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    from neuralpatch.engine.reference import same_padding

    topo = net.topology
    params = {}
    for layer in topo.layers:
        if layer.has_weights:
            w, b = net.weights(layer)
            if layer.kind == "conv":
                w = w.transpose(3, 2, 0, 1)
            elif layer.kind == "dwconv":
                w = w.transpose(2, 0, 1)[:, None]
            elif layer.kind == "pwconv":
                w = w.T[:, :, None, None]
            params[layer.name] = (
                torch.from_numpy(np.array(w, np.float32)),
                torch.from_numpy(np.array(b, np.float32)),
            )

    @torch.inference_mode()
    def run(x: np.ndarray) -> np.ndarray:
        y = torch.from_numpy(x).permute(0, 3, 1, 2)
        outs = {}
        for layer in topo.layers:
            if layer.kind in ("conv", "dwconv", "pwconv"):
                w, b = params[layer.name]
                ph = same_padding(y.shape[2], layer.k, layer.stride)
                pw = same_padding(y.shape[3], layer.k, layer.stride)
                if any(ph + pw):
                    y = F.pad(y, (pw[0], pw[1], ph[0], ph[1]))
                y = F.conv2d(
                    y, w, b, layer.stride, groups=layer.cout if layer.kind == "dwconv" else 1
                )
                if layer.add:
                    y = y + outs[layer.add]
                if layer.act == "relu6":
                    y = F.relu6(y)
            elif layer.kind == "gap":
                y = y.mean(dim=(2, 3))
                if features:
                    return y
            elif layer.kind == "fc":
                y = y @ params[layer.name][0] + params[layer.name][1]
            else:
                y = torch.softmax(y, dim=1)
            outs[layer.name] = y
        return y.numpy()

    return run


def make_runners(net: BaseNetworkFiles, engines, device: str | None):
    runners: dict[str, Runner] = {}
    skipped: dict[str, str] = {}
    for engine in engines:
        try:
            if engine == "opencl":
                ocl = OpenCLNetwork(net, get_runtime(device))
                runners[engine] = lambda x, ocl=ocl: ocl.forward(x)["probabilities"]
            elif engine == "numpy":
                runners[engine] = lambda x: forward_reference(net, x)["probabilities"]
            elif engine == "onnxruntime":
                runners[engine] = onnxruntime_runner(net)
            elif engine == "torch":
                runners[engine] = torch_runner(net)
        except ImportError as exc:
            skipped[engine] = f"not installed ({exc.name or exc})"
    return runners, skipped


def measure(runners: dict[str, Runner], batch: np.ndarray, blocks: int) -> dict[str, dict]:
    """Blocks of calls per engine, engines taking turns, an idle gap after each block."""
    n = len(batch)
    calls, blocks_ms = {}, {name: [] for name in runners}
    for name, run in runners.items():  # warm up, and size the blocks
        start = time.perf_counter()
        run(batch)
        once = time.perf_counter() - start
        calls[name] = max(1, min(20, int(TARGET_BLOCK_S / max(once, 1e-4))))
        time.sleep(IDLE_GAP_S)
    for _ in range(blocks):
        for name, run in runners.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                run(batch)
            blocks_ms[name].append((time.perf_counter() - start) / calls[name] / n * 1e3)
            time.sleep(IDLE_GAP_S)
    return {
        name: {
            "ms_per_image": statistics.median(ms),
            "best_ms_per_image": min(ms),
            "blocks_ms_per_image": ms,
            "calls_per_block": calls[name],
        }
        for name, ms in blocks_ms.items()
    }


def layer_kind_times(
    net: BaseNetworkFiles, batch: np.ndarray, device: str | None, repeats: int = 5
) -> dict[str, float]:
    """Device ms per image by layer kind (best of `repeats` profiled passes, per layer)."""
    ocl = OpenCLNetwork(net, get_runtime(device))
    runs = [ocl.profile(batch) for _ in range(repeats + 1)][1:]
    kinds: dict[str, float] = {}
    for i, row in enumerate(runs[0]):
        best = min(run[i]["ms"] for run in runs)
        kinds[row["kind"]] = kinds.get(row["kind"], 0.0) + best / len(batch)
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--device", default=None, help="OpenCL device spec (see opencl_runtime)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if "opencl" not in args.engines:
        args.engines.insert(0, "opencl")

    import skimage.data

    net = load_topology_files(default_base_path())
    photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut()]
    inputs = to_input(photos, net.topology)
    runners, skipped = make_runners(net, args.engines, args.device)

    reference = forward_reference(net, inputs[:1])["probabilities"]
    diffs = {
        name: float(np.abs(run(inputs[:1]) - reference).max()) for name, run in runners.items()
    }
    results: dict[str, dict[str, dict]] = {name: {} for name in runners}
    for n in args.batch:
        batch = np.ascontiguousarray(np.resize(inputs, (n, *inputs.shape[1:])))
        for name, figures in measure(runners, batch, args.blocks).items():
            results[name][str(n)] = figures
    ratios = {
        name: {
            b: results[name][b]["ms_per_image"] / results["opencl"][b]["ms_per_image"]
            for b in results[name]
        }
        for name in runners
        if name != "opencl"
    }
    report = {
        "batch_sizes": args.batch,
        "device": get_runtime(args.device).describe(),
        "results": results,
        "ratio_vs_opencl": ratios,
        "max_abs_diff_vs_reference": diffs,
        "opencl_ms_per_layer_kind": layer_kind_times(net, inputs[:1], args.device),
        "skipped": skipped,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print_report(report)
    return 0


def print_report(report: dict) -> None:
    device = report["device"]
    print(
        f"device: {device['device']} ({device['platform']}), "
        f"{device['compute_units']} compute units, caches {device['cache_state']}"
    )
    header = "".join(f"{'batch ' + str(b):>22}" for b in report["batch_sizes"])
    print(f"{'engine':<14}{header}   (ms/image: median [best], x = vs opencl)")
    for name, per_batch in report["results"].items():
        cells = ""
        for b in map(str, report["batch_sizes"]):
            fig = per_batch[b]
            ratio = report["ratio_vs_opencl"].get(name, {}).get(b)
            tag = f" {ratio:4.1f}x" if ratio else "      "
            cells += f"{fig['ms_per_image']:8.2f} [{fig['best_ms_per_image']:6.2f}]{tag}"
        diff = report["max_abs_diff_vs_reference"][name]
        print(f"{name:<14}{cells}   max |p - ref| {diff:.1e}")
    kinds = report["opencl_ms_per_layer_kind"]
    print(
        "opencl device ms/image by layer kind (batch 1): "
        + ", ".join(f"{k} {v:.2f}" for k, v in kinds.items())
        + f"; total {sum(kinds.values()):.2f}"
    )
    for name, reason in report["skipped"].items():
        print(f"skipped {name}: {reason}")


if __name__ == "__main__":
    sys.exit(main())
