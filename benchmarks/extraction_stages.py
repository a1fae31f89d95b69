"""Where an extraction's time goes, per photo, and the best ratio a pipeline can reach here.

Used by benchmarks/extraction.py (run it, not this), which prints its report with
`print_report`. Each stage runs alone over the same
photos: read + SHA-256, decode (`decode_image`), centre crop + resize, both as the pipeline
does them (`input_pixels`: the same pixels, fewer copies), cache write, and the
base pass per image at a batch of 32 for ours and for onnxruntime. Wall and CPU ms (this
process's CPU time, every thread) per photo. When every core is busy, a pipeline can do no
better than (CPU ms of all its stages) / cores per photo, while the onnxruntime loop runs
its stages one after the other (its pass spread over every core): `ceiling` is the ratio
of the two, the best the pipeline can reach against the loop here. CPU times, because a
busy shared host inflates wall times far more.
"""

from __future__ import annotations

import hashlib
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.feature_entry import write_entry
from neuralpatch.engine.image_io import decode_image, read_photo_bytes
from neuralpatch.engine.input_pixels import input_pixels
from neuralpatch.engine.preprocess import centre_crop_resize, to_input


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _per_photo(work: Callable[[], None], photos: int) -> dict[str, float]:
    wall, cpu = time.perf_counter(), _cpu()
    work()
    return {
        "wall_ms": (time.perf_counter() - wall) * 1e3 / photos,
        "cpu_ms": (_cpu() - cpu) * 1e3 / photos,
    }


def stage_costs(base: BaseNetwork, paths: list[Path], session) -> dict:
    """{stage: {wall_ms, cpu_ms}} per photo, the loops' sums and the pipeline's ceiling."""
    size = (base.topology.height, base.topology.width)
    data = [read_photo_bytes(p) for p in paths]
    decoded = [decode_image(p, d) for p, d in zip(paths, data, strict=True)]
    pixels = [centre_crop_resize(rgb, size) for rgb in decoded]
    batches = [to_input(pixels[i : i + 32], base.topology) for i in range(0, len(pixels), 32)]
    features = base.run_tensor(batches[0]).features
    n = len(paths)
    with tempfile.TemporaryDirectory() as folder:
        stages = {
            "read_hash": _per_photo(
                lambda: [hashlib.sha256(read_photo_bytes(p)).hexdigest() for p in paths], n
            ),
            "decode": _per_photo(
                lambda: [decode_image(p, d) for p, d in zip(paths, data, strict=True)], n
            ),
            "crop_resize": _per_photo(lambda: [centre_crop_resize(r, size) for r in decoded], n),
            "input_pixels": _per_photo(
                lambda: [input_pixels(p, d, size) for p, d in zip(paths, data, strict=True)], n
            ),
            "cache_write": _per_photo(
                lambda: [
                    write_entry(Path(folder), hashlib.sha256(d).hexdigest(), features[0])
                    for d in data
                ],
                n,
            ),
            "base_pass_ours": _per_photo(lambda: [base.run_tensor(b) for b in batches], n),
        }
    if session is not None:
        stages["base_pass_onnxruntime"] = _per_photo(
            lambda: [session.run(["features"], {"input": b}) for b in batches], n
        )
    prep = ("read_hash", "decode", "crop_resize", "cache_write")  # the onnxruntime loop's
    ours = ("read_hash", "input_pixels", "cache_write", "base_pass_ours")  # the pipeline's
    cores = os.cpu_count() or 1
    pipeline_cpu = sum(stages[s]["cpu_ms"] for s in ours)
    report = {"stages": stages, "cores": cores, "pipeline_cpu_ms": pipeline_cpu}
    if session is not None:
        # From CPU times, which a busy host inflates far less than wall times: the loop runs
        # its stages one after the other, onnxruntime's pass on every core.
        loop_ms = sum(stages[s]["cpu_ms"] for s in prep)
        loop_ms += stages["base_pass_onnxruntime"]["cpu_ms"] / cores
        report["onnxruntime_loop_ms"] = loop_ms
        report["ceiling"] = loop_ms / (pipeline_cpu / cores)
    return report


def print_report(report: dict) -> None:
    print(
        f"feature extraction, {report['photos']} photos a round, median of {report['rounds']} "
        f"interleaved rounds; decode processes started once in {report['pool_start_s']:.2f} s; "
        f"load average {report['load_average']['before']:.1f} -> "
        f"{report['load_average']['after']:.1f} on {report['cores']} cores"
    )
    print(f"{'engine':>18} {'photos/s':>9} {'x onnxruntime':>14}")
    for name, rate in report["photos_per_s"].items():
        ratio = report["ratio_vs_onnxruntime"].get(name)
        print(f"{name:>18} {rate:9.1f} {'' if ratio is None else f'{ratio:14.2f}'}")
    st = report["stages"]
    print(
        "\nper photo, each stage alone:  "
        + ", ".join(
            f"{name} {c['wall_ms']:.2f} ms ({c['cpu_ms']:.2f} CPU)"
            for name, c in st["stages"].items()
        )
    )
    if "ceiling" in st:
        print(
            f"pipeline needs {st['pipeline_cpu_ms']:.1f} CPU ms a photo = "
            f"{st['pipeline_cpu_ms'] / st['cores']:.1f} ms on {st['cores']} cores at best; the "
            f"onnxruntime loop at least {st['onnxruntime_loop_ms']:.1f} ms: ceiling "
            f"{st['ceiling']:.2f}x"
        )
    if report["large"]:
        lg = report["large"]
        print(f"\n{lg['photos']} photos of 12 MP (pipeline drafts them at 1/2):")
        for name, rate in lg["photos_per_s"].items():
            print(
                f"{name:>18} {rate:9.1f} photos/s  {lg['ratio_vs_onnxruntime'][name]:.2f}x "
                f"full-decode loop, {lg['ratio_vs_onnxruntime_draft'][name]:.2f}x drafting loop"
            )
    if report["cluster"]:
        c = report["cluster"]
        print(
            f"\ndask LocalCluster: 1 worker {c['1']:.1f} photos/s (with 2 threads "
            f"{c['1_2threads']:.1f}), 2 workers {c['2']:.1f} ({c['scaling']:.2f}x)"
        )
