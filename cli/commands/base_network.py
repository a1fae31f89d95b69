"""`neuralpatch base info|profile|export-onnx`: the base network in use, its cost and the
OpenCL device; where its pass spends the time; the same network as ONNX for other runtimes."""

from __future__ import annotations

import argparse
import json

from neuralpatch.commands.options import add_base_options, load_base


def add_parser(sub) -> None:
    p = sub.add_parser("base", help="inspect the base network")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="layers, parameters, FLOPs, device, kernel cache")
    info.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with keys name, topology, fingerprint, "
        "layers, layer_kinds ({kind: count}), parameters, flops_per_image, "
        "feature_dim, classes, input ([height, width, channels]), weights (how .data "
        "stores them: float32 or float16), compute (always float32 here), device "
        "(platform, device, compute_units, cache_dir, cache_state, builds, "
        "...)",
    )
    add_base_options(info)
    info.set_defaults(run=run_info)
    profile = actions.add_parser(
        "profile",
        help="device ms and GFLOP/s of every kernel (OpenCL event profiling) against this "
        "machine's sgemm rate (numpy matmul) measured in the same run",
    )
    profile.add_argument("--batch", type=int, default=1, metavar="N", help="images per pass")
    profile.add_argument(
        "--repeats", type=int, default=5, metavar="R", help="passes; each figure is the best"
    )
    profile.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with keys batch, repeats, sgemm_gflops, wall_ms, "
        "wall_ms_per_image, device_ms, launches, flops, gflops, peak_fraction, kernels "
        "([{layer, kind, ms, flops, gflops, peak_fraction, share}] in execution order)",
    )
    add_base_options(profile)
    profile.set_defaults(run=run_profile)
    convert = actions.add_parser(
        "convert",
        help="write the packaged network as a .txt/.data pair into DIR (use it with --base "
        "DIR/efficientnet-lite0.txt); --weights float16 halves the file, top-1 unchanged on "
        "the real photos of docs/performance.md",
    )
    convert.add_argument("out", metavar="DIR")
    convert.add_argument("--weights", choices=("float32", "float16"), default="float32")
    convert.set_defaults(run=run_convert)
    export = actions.add_parser(
        "export-onnx",
        help="write the base network as ONNX (NHWC input; outputs "
        "probabilities, features, feature_map); needs `pip install onnx`",
    )
    export.add_argument("out", metavar="OUT.onnx")
    add_base_options(export)
    export.set_defaults(run=run_export)


def run_convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neuralpatch.commands.progress import ProgressLine
    from neuralpatch.engine.convert import convert_packaged_weights
    from neuralpatch.engine.safe_text import printable

    with ProgressLine("converting base network weights") as bar:
        txt = convert_packaged_weights(Path(args.out), bar.update, args.weights)
    size = txt.with_suffix(".data").stat().st_size / 2**20
    print(f"wrote {printable(txt)} and its .data ({size:.1f} MiB, {args.weights})")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from neuralpatch.engine.onnx_export import export_onnx

    path = export_onnx(load_base(args, warm_up=False).files, args.out)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from neuralpatch.engine.opencl_runtime import get_runtime

    base = load_base(args)
    topo = base.topology
    kinds: dict[str, int] = {}
    for layer in topo.layers:
        kinds[layer.kind] = kinds.get(layer.kind, 0) + 1
    info = {
        "name": topo.name,
        "topology": str(base.files.txt_path),
        "fingerprint": base.fingerprint,
        "layers": len(topo.layers),
        "layer_kinds": kinds,
        "parameters": topo.parameter_count(),
        "flops_per_image": 2 * topo.macs_per_image(),
        "feature_dim": topo.feature_dim,
        "classes": len(base.classes),
        "input": [topo.height, topo.width, topo.channels],
        "weights": topo.weights,
        "compute": "float32",
        "device": get_runtime(args.device).describe(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"base network  {info['name']}  ({info['topology']})")
    print(f"fingerprint   {info['fingerprint']}")
    print(f"layers        {info['layers']}  " + ", ".join(f"{k} {n}" for k, n in kinds.items()))
    print(f"parameters    {info['parameters']:,}")
    print(f"FLOPs/image   {info['flops_per_image'] / 1e9:.2f} G")
    print(f"weights       stored as {info['weights']}, computed in {info['compute']}")
    print(
        f"input         {topo.height}x{topo.width}x{topo.channels}, features "
        f"{topo.feature_dim}, classes {info['classes']}"
    )
    device = info["device"]
    print(
        f"device        {device['device']} ({device['device_type']}, "
        f"{device['compute_units']} compute units, {device['global_memory_mb']:,} MiB)"
    )
    print(f"platform      {device['platform_version']}")
    builds = device["builds"]
    print(
        f"kernel cache  {device['cache_state']}: {len(builds)} programs built in "
        f"{sum(b['seconds'] for b in builds):.2f} s"
    )
    print(f"              {device['cache_mechanism']}")
    return 0


def run_profile(args: argparse.Namespace) -> int:
    from neuralpatch.commands.progress import ProgressLine
    from neuralpatch.engine.errors import SettingError
    from neuralpatch.engine.safe_text import json_text, printable

    if not 1 <= args.batch <= 1024 or not 1 <= args.repeats <= 1000:
        raise SettingError("--batch must be 1..1024 and --repeats 1..1000")
    base = load_base(args)
    with ProgressLine("profiling the base pass") as bar:
        report = base.profile(args.batch, args.repeats, bar.update)
    if args.json:
        print(json_text(report))
        return 0
    print(
        f"batch {report['batch']}: {report['wall_ms']:.2f} ms a pass "
        f"({report['wall_ms_per_image']:.2f} ms/image, {report['gflops']:.0f} GFLOP/s = "
        f"{report['peak_fraction']:.0%} of numpy sgemm {report['sgemm_gflops']:.0f} GFLOP/s); "
        f"kernels {report['device_ms']:.2f} ms over {report['launches']} launches; "
        f"best of {report['repeats']}"
    )
    print(f"{'kernel':<24}{'kind':<11}{'ms':>8}{'share':>7}{'GFLOP/s':>9}{'of peak':>9}")
    for k in report["kernels"]:
        rate = f"{k['gflops']:9.1f}{k['peak_fraction']:9.0%}" if k["flops"] else f"{'-':>9}{'-':>9}"
        print(f"{printable(k['layer']):<24}{k['kind']:<11}{k['ms']:8.3f}{k['share']:7.1%}{rate}")
    return 0
