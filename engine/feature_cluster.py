"""Feature extraction spread over a Dask distributed cluster.

The client (this process) reads every photo once, hashes it (the cache key) and skips those
already cached; the rest go to the workers in batches of their bytes, so workers need no
access to the photos' file system, only the package and the same base network. A worker
decodes, crops and runs the base pass exactly as a local run would (engine/input_pixels.py,
the OpenCL base pass) and returns the features; the client checks and writes the cache. The
key is the photo's content, so a local run afterwards finds every photo. One batch per worker
thread plus one per worker are in flight, so the client's memory holds a few batches, never
the dataset.

Needs `pip install "neuralpatch[cluster]"` (dask[distributed]); docs/scaling.md tells how to
start a scheduler and workers, and how the same design maps to Ray.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.errors import (
    BaseNetworkError,
    ImageError,
    MissingPackageError,
    SettingError,
)
from neuralpatch.engine.feature_entry import read_entry, write_entry
from neuralpatch.engine.feature_pipeline import BATCH, Extracted
from neuralpatch.engine.input_pixels import input_pixels
from neuralpatch.engine.photo_loader import read_photo
from neuralpatch.engine.preprocess import to_input
from neuralpatch.engine.rate_clock import Progress, RateClock

CONNECT_TIMEOUT_S = 20

_worker_bases: dict[str | None, BaseNetwork] = {}
_worker_lock = threading.Lock()  # one base pass (or network load) at a time per worker


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise MissingPackageError(
            'a cluster run needs Dask distributed: pip install "neuralpatch[cluster]"'
        ) from exc
    return distributed


def connect(scheduler: str):
    """A Dask client for `scheduler` (tcp://HOST:PORT); a clear error if it cannot be reached."""
    distributed = _distributed()
    try:
        return distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SettingError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc


def worker_count(client) -> int:
    return len(client.scheduler_info().get("workers", {}))


def batches_in_flight(client) -> int:
    """One batch per worker thread plus one waiting per worker, so no thread idles while
    the client reads the next batch, and the client holds only a few batches."""
    threads = client.nthreads()
    return max(2, sum(threads.values()) + len(threads))


def cluster_batch(
    photos: list[tuple[str, bytes]], base_path: str | None, fingerprint: str
) -> tuple[np.ndarray, dict[int, str]]:
    """Runs on a worker: (features of the photos that decoded, in order; {position: error}).

    Only loading the network and the base pass hold the worker's lock: with two threads a
    worker decodes the next batch while this one's pass runs.
    """
    with _worker_lock:
        base = _worker_bases.get(base_path)
        if base is None:
            base = _worker_bases[base_path] = BaseNetwork.load(base_path)
    if base.fingerprint != fingerprint:
        raise BaseNetworkError(
            f"this worker's base network is {base.fingerprint}, the client's {fingerprint}"
            " (install the same package version, or give a --base both can read)",
            base_path,
        )
    size = (base.topology.height, base.topology.width)
    pixels, errors = [], {}
    for position, (name, data) in enumerate(photos):
        try:
            pixels.append(input_pixels(name, data, size))
        except ImageError as exc:
            errors[position] = exc.message
    if not pixels:
        return np.zeros((0, base.feature_dim), np.float32), errors
    batch = to_input(pixels, base.topology)
    with _worker_lock:
        features = base.run_tensor(batch).features
    return np.ascontiguousarray(features, np.float32), errors


def extract_on_cluster(
    base: BaseNetwork,
    paths: Sequence[str | Path],
    client,
    *,
    cache_folder: Path,
    use_cache: bool = True,
    base_path: str | None = None,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
    batch: int = BATCH,
) -> Iterator[Extracted]:
    """Features of every photo, computed on the cluster `client` is connected to; results
    come as batches finish (not in the order given). `base_path`: the --base the workers
    load (None: the packaged network); its fingerprint must equal `base`'s."""
    distributed = _distributed()
    paths = [Path(p) for p in paths]
    clock = RateClock(len(paths), on_progress)
    limit = batches_in_flight(client)
    running = distributed.as_completed(loop=client.loop, with_results=True)
    jobs: dict[object, list[tuple[Path, str, bool]]] = {}
    photos: list[tuple[str, bytes]] = []
    meta: list[tuple[Path, str, bool]] = []

    def submit() -> None:
        future = client.submit(cluster_batch, photos[:], base_path, base.fingerprint, pure=False)
        jobs[future] = meta[:]
        running.add(future)
        photos.clear()
        meta.clear()

    def finish(future, result) -> Iterator[Extracted]:
        features, errors = result
        rows = iter(features)
        for position, (path, digest, damaged) in enumerate(jobs.pop(future)):
            if position in errors:
                yield clock.tick(Extracted(path, error=errors[position]))
                continue
            vector = next(rows)
            write_entry(cache_folder, digest, vector)
            yield clock.tick(Extracted(path, vector, computed=1, repaired=int(damaged)))

    try:
        for path in paths:
            if stop is not None and stop.is_set():
                return
            try:
                data, digest = read_photo(path)
            except ImageError as exc:
                yield clock.tick(Extracted(path, error=exc.message))
                continue
            damaged = False
            if use_cache:
                cached, damaged = read_entry(cache_folder, digest, base.feature_dim)
                if cached is not None:
                    yield clock.tick(Extracted(path, cached))
                    continue
            photos.append((str(path), data))
            meta.append((path, digest, damaged))
            if len(photos) >= batch:
                submit()
            while len(jobs) >= limit:
                yield from finish(*next(running))
        if photos:
            submit()
        for future, result in running:
            if stop is not None and stop.is_set():
                return
            yield from finish(future, result)
    finally:
        for future in jobs:
            future.cancel()
