"""Milliseconds per image of the base network's forward pass: our OpenCL pass against other
engines running the same weights, in the same run, with this machine's sgemm rate beside it.

Engines: `opencl` (ours), `opencl-fp16` / `opencl-int8` (ours with the weights rounded to
float16 or int8 per output channel, widened to float32 on load: `engine/weight_storage.py`),
`onnxruntime` (default threads) and `onnxruntime-2t` (2 intra-op threads), a graph built from
our topology by `engine/onnx_export.py`; `numpy` (the reference) and `torch` (eager, NCHW)
only when asked for with `--engines`. Engines that cannot run are listed under `skipped`.

The host is noisy and one engine's spinning thread pool slows the next, so engines take turns
in short blocks of calls with an idle gap after each block, the order rotating every round;
every batch size is measured inside every round. Figures are the median block and the best
block. Each round also times a numpy sgemm (1024^3), the machine's peak in this run.

    python benchmarks/base_pass.py [--batch 1 8 32] [--rounds 6] [--engines ...]
                                   [--device SPEC] [--json]

`--json` prints one object with these keys (stable):
- `batch_sizes`: list of int; `rounds`: int; `machine`: {cpu, cores, load_average}.
- `device`: the OpenCL runtime's `describe()` (platform, device, compute_units, ...).
- `results`: {engine: {str(batch): {"ms_per_image": float (median block),
  "best_ms_per_image": float, "blocks_ms_per_image": [float], "calls_per_block": int}}}.
- `ratio_vs_opencl`: {engine: {str(batch): {"median": engine / opencl median ms,
  "best": engine / opencl best ms}}} (> 1: ours is faster).
- `sgemm_gflops`: best numpy sgemm GFLOP/s over the rounds.
- `peak_fraction`: {engine: {str(batch): GFLOP/s at the best block / sgemm_gflops}}.
- `max_abs_diff_vs_reference`: {engine: float}, probabilities at batch 1 vs `numpy`.
- `top1_agreement_vs_opencl`: {engine: float}, the share of real photos (sample_data,
  skimage, sklearn) whose top-1 class equals float32 opencl's; `photos`: int.
- `opencl_ms_per_layer_kind`: {kind: float}, device time per image at batch 1 (profiled).
- `skipped`: {engine: reason}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from base_pass_report import machine, print_report, real_photos

from neuralpatch.engine.base_network import default_base_path
from neuralpatch.engine.base_profile import sgemm_gflops
from neuralpatch.engine.opencl_network import OpenCLNetwork
from neuralpatch.engine.opencl_runtime import get_runtime
from neuralpatch.engine.preprocess import to_input
from neuralpatch.engine.reference import forward_reference
from neuralpatch.engine.topology import BaseNetworkFiles, load_topology_files
from neuralpatch.engine.weight_storage import rounded

ENGINES = ("opencl", "opencl-fp16", "opencl-int8", "onnxruntime", "onnxruntime-2t", "numpy")
ENGINES += ("torch",)
DEFAULT_ENGINES = ENGINES[:5]
IDLE_GAP_S = 0.3
TARGET_BLOCK_S = 0.4  # calls per block are chosen to fill about this long
Runner = Callable[[np.ndarray], np.ndarray]  # NHWC batch -> probabilities


def onnxruntime_runner(net: BaseNetworkFiles, threads: int = 0) -> Runner:
    import onnxruntime

    from neuralpatch.engine.onnx_export import build_onnx_model

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads  # 0: onnxruntime's default (one per core)
    session = onnxruntime.InferenceSession(
        build_onnx_model(net).SerializeToString(), options, providers=["CPUExecutionProvider"]
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
            if engine.startswith("opencl"):
                storage = {"opencl": "float32", "opencl-fp16": "float16"}.get(engine, "int8")
                ocl = OpenCLNetwork(rounded(net, storage), get_runtime(device))
                runners[engine] = lambda x, ocl=ocl: ocl.forward(x)["probabilities"]
            elif engine == "numpy":
                runners[engine] = lambda x: forward_reference(net, x)["probabilities"]
            elif engine.startswith("onnxruntime"):
                runners[engine] = onnxruntime_runner(net, 2 if engine.endswith("2t") else 0)
            elif engine == "torch":
                runners[engine] = torch_runner(net)
        except ImportError as exc:
            skipped[engine] = f"not installed ({exc.name or exc})"
    return runners, skipped


def measure(runners: dict[str, Runner], batches: dict[int, np.ndarray], rounds: int):
    """Rounds of (batch size x engine) blocks, the engine order rotating; sgemm per round."""
    names = list(runners)
    calls: dict[tuple[str, int], int] = {}
    blocks: dict[tuple[str, int], list[float]] = {}
    for n, batch in batches.items():  # warm up, and size the blocks
        for name in names:
            runners[name](batch)
            start = time.perf_counter()
            runners[name](batch)
            once = time.perf_counter() - start
            calls[name, n] = max(1, min(20, int(TARGET_BLOCK_S / max(once, 1e-4))))
            blocks[name, n] = []
            time.sleep(IDLE_GAP_S)
    peak = 0.0
    for r in range(rounds):
        peak = max(peak, sgemm_gflops())
        time.sleep(IDLE_GAP_S)
        for n, batch in batches.items():
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start = time.perf_counter()
                for _ in range(calls[name, n]):
                    runners[name](batch)
                seconds = time.perf_counter() - start
                blocks[name, n].append(seconds / calls[name, n] / n * 1e3)
                time.sleep(IDLE_GAP_S)
    results: dict[str, dict] = {name: {} for name in names}
    for (name, n), ms in blocks.items():
        results[name][str(n)] = {
            "ms_per_image": statistics.median(ms),
            "best_ms_per_image": min(ms),
            "blocks_ms_per_image": ms,
            "calls_per_block": calls[name, n],
        }
    return results, peak


def layer_kind_times(
    net: BaseNetworkFiles, batch: np.ndarray, device: str | None, repeats: int = 5
) -> dict[str, float]:
    """Device ms per image by layer kind (best of `repeats` profiled passes, per kernel)."""
    ocl = OpenCLNetwork(net, get_runtime(device))
    runs = [ocl.profile(batch) for _ in range(repeats + 1)][1:]
    kinds: dict[str, float] = {}
    for i, row in enumerate(runs[0]):
        best = min(run[i]["ms"] for run in runs)
        kinds[row["kind"]] = kinds.get(row["kind"], 0.0) + best / len(batch)
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(DEFAULT_ENGINES))
    parser.add_argument("--device", default=None, help="OpenCL device spec (see opencl_runtime)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if "opencl" not in args.engines:
        args.engines.insert(0, "opencl")

    net = load_topology_files(default_base_path())
    photos = to_input(real_photos(), net.topology)
    runners, skipped = make_runners(net, args.engines, args.device)

    reference = forward_reference(net, photos[:1])["probabilities"]
    diffs = {
        name: float(np.abs(run(photos[:1]) - reference).max()) for name, run in runners.items()
    }
    top1 = {name: run(photos).argmax(axis=1) for name, run in runners.items() if name != "numpy"}
    agreement = {name: float((top1[name] == top1["opencl"]).mean()) for name in top1}
    before = machine()
    batches = {
        n: np.ascontiguousarray(np.resize(photos, (n, *photos.shape[1:]))) for n in args.batch
    }
    results, peak = measure(runners, batches, args.rounds)
    flops = 2 * net.topology.macs_per_image()
    report = {
        "batch_sizes": args.batch,
        "rounds": args.rounds,
        "machine": before | {"load_average_after": list(os.getloadavg())},
        "device": get_runtime(args.device).describe(),
        "results": results,
        "ratio_vs_opencl": {
            name: {
                b: {
                    "median": fig["ms_per_image"] / results["opencl"][b]["ms_per_image"],
                    "best": fig["best_ms_per_image"] / results["opencl"][b]["best_ms_per_image"],
                }
                for b, fig in per_batch.items()
            }
            for name, per_batch in results.items()
            if name != "opencl"
        },
        "sgemm_gflops": peak,
        "peak_fraction": {
            name: {b: flops / fig["best_ms_per_image"] / 1e6 / peak for b, fig in per.items()}
            for name, per in results.items()
        },
        "max_abs_diff_vs_reference": diffs,
        "top1_agreement_vs_opencl": agreement,
        "photos": len(photos),
        "opencl_ms_per_layer_kind": layer_kind_times(net, photos[:1], args.device),
        "skipped": skipped,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
