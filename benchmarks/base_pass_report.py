"""The photos, machine facts and printed table of `base_pass.py`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"


def real_photos() -> list[np.ndarray]:
    """The agreement set: sample_data's cats, skimage's and sklearn's sample photos."""
    import skimage.data
    from PIL import Image

    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(SAMPLE_DATA.glob("*.jpg"))]
    photos += [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut()]
    from sklearn.datasets import load_sample_images

    return photos + list(load_sample_images().images)


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": list(os.getloadavg())}


def print_report(report: dict) -> None:
    device, host = report["device"], report["machine"]
    print(
        f"device: {device['device']} ({device['platform']}), {device['compute_units']} compute "
        f"units; cpu {host['cpu']}, {host['cores']} cores, load "
        f"{host['load_average'][0]:.1f} -> {host['load_average_after'][0]:.1f}; numpy sgemm "
        f"{report['sgemm_gflops']:.0f} GFLOP/s; {report['rounds']} rounds"
    )
    header = "".join(f"{'batch ' + str(b):>27}" for b in report["batch_sizes"])
    print(f"{'engine':<15}{header}   top-1 = fp32")
    print(f"{'':<15}" + f"{'median [best]  x ours':>27}" * len(report["batch_sizes"]))
    for name, per_batch in report["results"].items():
        cells = ""
        for b in map(str, report["batch_sizes"]):
            fig = per_batch[b]
            ratio = report["ratio_vs_opencl"].get(name, {}).get(b)
            tag = f" {ratio['median']:4.2f}/{ratio['best']:4.2f}" if ratio else f"{'':>10}"
            cells += f" {fig['ms_per_image']:7.2f} [{fig['best_ms_per_image']:6.2f}]{tag}"
        agree = report["top1_agreement_vs_opencl"].get(name)
        agree = f"{agree:6.1%}" if agree is not None else "   n/a"
        print(f"{name:<15}{cells}   {agree}")
    fractions = report["peak_fraction"]["opencl"]
    print(
        "ours at the best block: "
        + ", ".join(f"batch {b} {f:.0%}" for b, f in fractions.items())
        + " of the sgemm peak; x = engine ms / ours (median/best; > 1: ours is faster)"
    )
    kinds = report["opencl_ms_per_layer_kind"]
    print(
        "opencl device ms/image by layer kind (batch 1): "
        + ", ".join(f"{k} {v:.2f}" for k, v in kinds.items())
        + f"; total {sum(kinds.values()):.2f}"
    )
    print(f"top-1 agreement over {report['photos']} real photos")
    for name, reason in report["skipped"].items():
        print(f"skipped {name}: {reason}")
