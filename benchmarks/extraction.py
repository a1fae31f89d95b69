"""Feature extraction in photos/s: our pipeline against an onnxruntime loop, in the same run.

Usage: python benchmarks/extraction.py [DATA] [--repeat 4] [--rounds 5] [--no-cluster]
       [--no-large] [--json]

Every engine does the same job on the same photos (the JPEGs of DATA, default `sample_data/`,
listed `--repeat` times): read each file, hash it (the cache key), decode it, centre-crop and
resize it, run the base pass, write a cache entry into a fresh temp folder. Engines:

- `pipeline`: `feature_pipeline.extract` with its default decoding for this many photos (under
  320, as the samples ×4: one decode thread; from 320, `default_workers()` processes, started
  once and kept, their start-up reported apart).
- `pipeline_1`, `pipeline_2`: the same with 1 and 2 decode processes.
- `serial`: the extraction as it was (decode, `BaseNetwork.run` per 16 photos, an fsync per
  entry), for before/after.
- `onnxruntime`: a plain loop with the same preprocessing (`decode_image`, `to_input`: on
  photos under 2,048 px a side, such as the samples, exactly the pipeline's pixels) and the
  same network exported by `engine/onnx_export.py`, batches of 32, default threads.
  `onnxruntime_input_pixels`: the same loop decoding with the pipeline's own `input_pixels`
  (the same pixels here, without `decode_image`'s two full-size copies).

Rounds are interleaved (each engine once a round, rotated, an idle gap between); each figure
is the median round. `stages` times each stage alone (extraction_stages.py) and gives the
best ratio a pipeline could reach on this many cores. `large` runs 12 MP photos made from
the samples, which the pipeline decodes at 1/2 scale (JPEG draft), against the onnxruntime
loop decoding in full and decoding as the pipeline does. With Dask installed, the cluster
path runs on a LocalCluster of 1 and then 2 worker processes (one thread each). Timing never
fails anything. `--json` prints one object:

    {
      "python", "numpy", "onnxruntime": str, "device": {...}, "cores": int, "photos": int,
      "load_average": {"before": float, "after": float}, "rounds": int,
      "default_workers": int, "pool_start_s": float,
      "photos_per_s": {engine: float}, "rounds_photos_per_s": {engine: [float]},
      "ratio_vs_onnxruntime": {engine: float},  # > 1: faster than the onnxruntime loop
      "stages": {"stages": {stage: {"wall_ms", "cpu_ms"}}, "cores": int,
                 "pipeline_cpu_ms": float, "onnxruntime_loop_ms": float, "ceiling": float},
      "large": {"photos": int, "photos_per_s": {...}, "ratio_vs_onnxruntime": {...},
                "ratio_vs_onnxruntime_draft": {...}} | null,
      "cluster": {"1": float, "1_2threads": float, "2": float, "scaling": float} | null
                                    # photos/s: workers (one thread each unless said)
    }
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from extraction_stages import print_report, stage_costs

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.feature_entry import encode_entry, write_entry
from neuralpatch.engine.feature_pipeline import default_workers, extract
from neuralpatch.engine.image_io import decode_image, save_jpeg_atomic
from neuralpatch.engine.input_pixels import input_pixels
from neuralpatch.engine.opencl_runtime import get_runtime
from neuralpatch.engine.preprocess import to_input

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
IDLE_GAP_S = 0.5
ORT_BATCH = 32
SERIAL_BATCH = 16
LARGE_PHOTOS = 12


def pipeline(base: BaseNetwork, workers: int | None):
    def run(paths: list[Path], folder: Path) -> None:
        for item in extract(base, paths, cache_folder=folder, use_cache=False, workers=workers):
            assert item.error is None, item.error

    return run


def serial(base: BaseNetwork):
    def run(paths: list[Path], folder: Path) -> None:
        for start in range(0, len(paths), SERIAL_BATCH):
            chunk = [(p, p.read_bytes()) for p in paths[start : start + SERIAL_BATCH]]
            digests = [hashlib.sha256(data).hexdigest() for _, data in chunk]
            images = [decode_image(p, data) for p, data in chunk]
            for digest, vector in zip(digests, base.run(images).features, strict=True):
                write_atomic(folder / f"{digest}.f32", encode_entry(digest, vector))

    return run


def onnxruntime_session(base: BaseNetwork):
    import onnxruntime

    from neuralpatch.engine.onnx_export import build_onnx_model

    return onnxruntime.InferenceSession(
        build_onnx_model(base.files).SerializeToString(), providers=["CPUExecutionProvider"]
    )


def onnxruntime_loop(base: BaseNetwork, session, draft: bool = False):
    """Our preprocessing, one stage after the other; `draft`: decoding as the pipeline does
    (`input_pixels`, JPEG DCT scaling for big photos) rather than in full (`decode_image`)."""
    size = (base.topology.height, base.topology.width)

    def run(paths: list[Path], folder: Path) -> None:
        for start in range(0, len(paths), ORT_BATCH):
            chunk = [(p, p.read_bytes()) for p in paths[start : start + ORT_BATCH]]
            digests = [hashlib.sha256(data).hexdigest() for _, data in chunk]
            images = [
                input_pixels(p, data, size) if draft else decode_image(p, data) for p, data in chunk
            ]
            batch = to_input(images, base.topology)
            features = session.run(["features"], {"input": batch})[0]
            for digest, vector in zip(digests, features, strict=True):
                write_entry(folder, digest, vector)

    return run


def timed(run, paths: list[Path]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        run(paths, Path(folder))
        return len(paths) / (time.perf_counter() - started)


def cluster_rates(base: BaseNetwork, paths: list[Path]) -> dict | None:
    try:
        import distributed
    except ImportError:
        return None
    from neuralpatch.engine.feature_cluster import extract_on_cluster

    rates = {}
    for workers, threads in ((1, 1), (1, 2), (2, 1)):
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=threads,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            with tempfile.TemporaryDirectory() as folder:  # warm up: kernels, weights
                list(extract_on_cluster(base, paths[:8], client, cache_folder=Path(folder)))
            with tempfile.TemporaryDirectory() as folder:
                started = time.perf_counter()
                list(
                    extract_on_cluster(
                        base, paths, client, cache_folder=Path(folder), use_cache=False
                    )
                )
                key = str(workers) if threads == 1 else f"{workers}_{threads}threads"
                rates[key] = len(paths) / (time.perf_counter() - started)
    rates["scaling"] = rates["2"] / rates["1"]
    return rates


def interleaved(engines: dict, paths: list[Path], rounds: int) -> dict[str, list[float]]:
    """photos/s of each engine per round; each round runs every engine once, rotated."""
    for run in engines.values():
        timed(run, paths[:8])  # warm up
    results: dict[str, list[float]] = {name: [] for name in engines}
    names = list(engines)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            time.sleep(IDLE_GAP_S)
            results[name].append(timed(engines[name], paths))
    return results


def large_photos(paths: list[Path], count: int, folder: Path) -> list[Path]:
    """12-megapixel JPEGs (4032×3024, quality 90) made from the sample photos, as a phone's."""
    made = []
    for i, path in enumerate(paths[:count]):
        rgb = decode_image(path)
        big = cv2.resize(rgb, (4032, 3024), interpolation=cv2.INTER_CUBIC)
        made.append(save_jpeg_atomic(folder / f"large_{i:03d}.jpg", big, quality=90))
    return made


def large_scene(base: BaseNetwork, session, paths: list[Path], rounds: int) -> dict:
    """The pipeline on 12 MP photos (drafted at 1/2) against the onnxruntime loop decoding
    them in full, and decoding them as the pipeline does: both comparisons, side by side."""
    with tempfile.TemporaryDirectory() as folder:
        large = large_photos(paths, LARGE_PHOTOS, Path(folder))
        engines = {
            "pipeline": pipeline(base, None),
            "onnxruntime": onnxruntime_loop(base, session),
            "onnxruntime_draft": onnxruntime_loop(base, session, draft=True),
        }
        rounds_rates = interleaved(engines, large, rounds)
    rates = {name: statistics.median(values) for name, values in rounds_rates.items()}
    return {
        "photos": len(large),
        "photos_per_s": rates,
        "ratio_vs_onnxruntime": {n: v / rates["onnxruntime"] for n, v in rates.items()},
        "ratio_vs_onnxruntime_draft": {n: v / rates["onnxruntime_draft"] for n, v in rates.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(SAMPLE_DATA))
    parser.add_argument("--repeat", type=int, default=4, help="times the photo list is run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-cluster", action="store_true", help="skip the Dask figures")
    parser.add_argument("--no-large", action="store_true", help="skip the 12 MP photos")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    load_before = os.getloadavg()
    base = BaseNetwork.load()
    base.warm_up()
    photos = sorted(Path(args.data).rglob("*.jpg"))
    paths = photos * args.repeat
    engines = {
        "pipeline": pipeline(base, None),
        "pipeline_1": pipeline(base, 1),
        "pipeline_2": pipeline(base, 2),
        "serial": serial(base),
    }
    try:
        session = onnxruntime_session(base)
        engines["onnxruntime"] = onnxruntime_loop(base, session)
        engines["onnxruntime_input_pixels"] = onnxruntime_loop(base, session, draft=True)
    except ImportError:
        session = None
    started = time.perf_counter()
    timed(pipeline(base, 1), paths[:8])  # starts the kept decode processes
    pool_start = time.perf_counter() - started
    rounds = interleaved(engines, paths, args.rounds)
    rates = {name: statistics.median(values) for name, values in rounds.items()}
    ort = rates.get("onnxruntime")
    report = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": _version("onnxruntime"),
        "device": get_runtime().describe(),
        "cores": os.cpu_count(),
        "load_average": {"before": load_before[0]},
        "photos": len(paths),
        "rounds": args.rounds,
        "default_workers": default_workers(),
        "pool_start_s": pool_start,
        "photos_per_s": rates,
        "rounds_photos_per_s": rounds,
        "ratio_vs_onnxruntime": {n: v / ort for n, v in rates.items()} if ort else {},
        "stages": stage_costs(base, photos, session),
        "large": None
        if args.no_large or session is None
        else large_scene(base, session, photos, args.rounds),
        "cluster": None if args.no_cluster else cluster_rates(base, paths),
    }
    report["load_average"]["after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print_report(report)


def _version(package: str) -> str | None:
    try:
        return __import__(package).__version__
    except ImportError:
        return None


if __name__ == "__main__":
    main()
