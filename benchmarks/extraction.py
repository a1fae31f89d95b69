"""Feature extraction in photos/s: our pipeline against an onnxruntime loop, in the same run.

Usage: python benchmarks/extraction.py [DATA] [--repeat 4] [--rounds 5] [--no-cluster] [--json]

Every engine does the same job on the same photos (the JPEGs of DATA, default `sample_data/`,
listed `--repeat` times): read each file, hash it (the cache key), decode it, centre-crop and
resize it, run the base pass, write a cache entry into a fresh temp folder. Engines:

- `pipeline`: `feature_pipeline.extract` with the default decode workers (processes started
  once per process and kept, as in a long session; their start-up is reported apart).
- `pipeline_thread`, `pipeline_2`: the same with one decode thread, and with 2 processes.
- `serial`: the extraction as it was (decode, `BaseNetwork.run` per 16 photos, an fsync per
  entry), for before/after.
- `onnxruntime`: a plain loop with the same preprocessing (`decode_image`, `to_input`) and
  the same network exported by `engine/onnx_export.py`, batches of 32, default threads.

Rounds are interleaved (each round runs every engine once, in a rotated order, with an idle
gap between), and each figure is the median round. With Dask installed, the cluster path
(`feature_cluster.extract_on_cluster`) runs on a LocalCluster of 1 and then 2 worker
processes (one thread each) on the same photos; a 2-core machine has no spare core for the
second worker, so expect little scaling here. Timing never fails anything.

`--json` prints one object:

    {
      "python": str, "numpy": str, "onnxruntime": str|null, "device": {...},
      "photos": int, "rounds": int, "default_workers": int, "pool_start_s": float,
      "photos_per_s": {engine: float},          # median over rounds
      "rounds_photos_per_s": {engine: [float]},
      "ratio_vs_onnxruntime": {engine: float},  # > 1: faster than the onnxruntime loop
      "cluster": {"1": float, "2": float, "scaling": float} | null   # photos/s
    }
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.feature_entry import encode_entry, write_entry
from neuralpatch.engine.feature_pipeline import default_workers, extract
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.opencl_runtime import get_runtime
from neuralpatch.engine.preprocess import to_input

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
IDLE_GAP_S = 0.5
ORT_BATCH = 32
SERIAL_BATCH = 16


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


def onnxruntime_loop(base: BaseNetwork):
    import onnxruntime

    from neuralpatch.engine.onnx_export import build_onnx_model

    session = onnxruntime.InferenceSession(
        build_onnx_model(base.files).SerializeToString(), providers=["CPUExecutionProvider"]
    )

    def run(paths: list[Path], folder: Path) -> None:
        for start in range(0, len(paths), ORT_BATCH):
            chunk = [(p, p.read_bytes()) for p in paths[start : start + ORT_BATCH]]
            digests = [hashlib.sha256(data).hexdigest() for _, data in chunk]
            batch = to_input([decode_image(p, data) for p, data in chunk], base.topology)
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
    for workers in (1, 2):
        with (
            distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            with tempfile.TemporaryDirectory() as folder:  # warm up: kernels, weights
                list(extract_on_cluster(base, paths[:8], client, cache_folder=Path(folder)))
            with tempfile.TemporaryDirectory() as folder:
                started = time.perf_counter()
                list(extract_on_cluster(base, paths, client, cache_folder=Path(folder)))
                rates[str(workers)] = len(paths) / (time.perf_counter() - started)
    rates["scaling"] = rates["2"] / rates["1"]
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(SAMPLE_DATA))
    parser.add_argument("--repeat", type=int, default=4, help="times the photo list is run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-cluster", action="store_true", help="skip the Dask figures")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    base = BaseNetwork.load()
    base.warm_up()
    paths = sorted(Path(args.data).rglob("*.jpg")) * args.repeat
    engines = {
        "pipeline": pipeline(base, None),
        "pipeline_thread": pipeline(base, 0),
        "pipeline_2": pipeline(base, 2),
        "serial": serial(base),
    }
    try:
        engines["onnxruntime"] = onnxruntime_loop(base)
    except ImportError:
        pass
    started = time.perf_counter()
    timed(pipeline(base, default_workers()), paths[:8])  # starts the kept decode processes
    pool_start = time.perf_counter() - started
    for run in engines.values():
        timed(run, paths[:8])  # warm up
    rounds: dict[str, list[float]] = {name: [] for name in engines}
    names = list(engines)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            time.sleep(IDLE_GAP_S)
            rounds[name].append(timed(engines[name], paths))
    rates = {name: statistics.median(values) for name, values in rounds.items()}
    ort = rates.get("onnxruntime")
    report = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": _version("onnxruntime"),
        "device": get_runtime().describe(),
        "photos": len(paths),
        "rounds": args.rounds,
        "default_workers": default_workers(),
        "pool_start_s": pool_start,
        "photos_per_s": rates,
        "rounds_photos_per_s": rounds,
        "ratio_vs_onnxruntime": {n: v / ort for n, v in rates.items()} if ort else {},
        "cluster": None if args.no_cluster else cluster_rates(base, paths),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"feature extraction, {len(paths)} photos a round, median of {args.rounds} interleaved "
        f"rounds; decode processes started once in {pool_start:.2f} s"
    )
    print(f"{'engine':>16} {'photos/s':>9} {'x onnxruntime':>14}")
    for name, rate in rates.items():
        ratio = report["ratio_vs_onnxruntime"].get(name)
        print(f"{name:>16} {rate:9.1f} {'' if ratio is None else f'{ratio:14.2f}'}")
    if report["cluster"]:
        c = report["cluster"]
        print(
            f"dask LocalCluster: 1 worker {c['1']:.1f} photos/s, 2 workers {c['2']:.1f} "
            f"({c['scaling']:.2f}x)"
        )


def _version(package: str) -> str | None:
    try:
        return __import__(package).__version__
    except ImportError:
        return None


if __name__ == "__main__":
    main()
