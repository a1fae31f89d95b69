"""Pipelined extraction: photos decoded in worker processes while the base pass runs.

Worker processes read each photo once, hash it once (the cache key), look it up in the feature
cache and, if it is not there, decode it and crop/resize it to the input size
(engine/input_pixels.py: JPEG DCT scaling where it gives the same pixels). This thread runs
the OpenCL base pass on batches of the decoded photos and writes the cache meanwhile. At most
`PREFETCH` chunks are in flight, so memory holds a few batches, never the dataset. Small jobs
skip the worker start-up: one helper thread decodes (Pillow releases the GIL while decoding
and resizing, so it still overlaps the base pass).

`extract` serves `FeatureCache.features_for` (training, teach mode's backlog, `features`);
`base_passes` yields probabilities and features for callers that need the base network's
answer too (`classify` over many files, evaluation).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import IMAGE_EXTENSIONS
from neuralpatch.engine.feature_entry import write_entry
from neuralpatch.engine.photo_loader import LoadedPhoto, LoadSpec, load_chunk
from neuralpatch.engine.preprocess import to_input
from neuralpatch.engine.rate_clock import Progress, RateClock

BATCH = 32  # photos per base pass
CHUNK = 8  # photos per worker job
PREFETCH = 8  # worker jobs in flight: two batches decoded ahead of the base pass
# Fewer photos than this are not worth starting processes for: two take 0.65 s to start and
# save ~2 ms a photo against the decode thread, so they pay off from about 320 photos.
MIN_POOL_PHOTOS = 10 * BATCH

_pools: dict[int, Executor] = {}
_pools_lock = threading.Lock()


@dataclass
class Extracted:
    """One photo's result: features (and probabilities, from `base_passes`) or an error."""

    path: Path
    features: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    error: str | None = None
    computed: int = 0  # 1 if it went through the base pass in this run
    repaired: int = 0  # 1 if its cache entry was damaged and has been rewritten


def default_workers() -> int:
    """Decode processes to start for a big job (`workers_for` keeps small ones on a thread).

    On 2 cores, two decode processes beat one decode thread in both interleaved runs of
    benchmarks/extraction.py on a quiet host (1.20x and 1.15x the onnxruntime loop against
    1.06x and 1.04x, docs/scaling.md); a decode thread shares this process's GIL with the
    base pass and the cache writer, processes do not. With more cores, one is left to the
    base pass's own threads.
    """
    cores = os.cpu_count() or 2
    return min(4, max(2, cores - 1))


def workers_for(workers: int | None, photos: int) -> int:
    """Decode processes `extract` starts for this many photos (0: one helper thread).

    An explicit count is honoured; by default, small jobs are not worth a process start.
    """
    if workers is not None:
        return max(0, workers)
    return default_workers() if photos >= MIN_POOL_PHOTOS else 0


def photo_files(roots: Iterable[str | Path]) -> list[Path]:
    """Every photo below each root (or the root itself), sorted, regular files only.

    Hidden files and folders are skipped (temp files of atomic writes, `.git`), symlinked
    folders are not followed, and FIFOs or devices are never listed, so nothing blocks.
    """
    found: set[Path] = set()
    for root in map(Path, roots):
        if root.is_file():
            found.add(root)
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                path = Path(folder) / name
                if (
                    not name.startswith(".")
                    and path.suffix.lower() in IMAGE_EXTENSIONS
                    and path.is_file()
                ):
                    found.add(path)
    return sorted(found)


def base_passes(
    base: BaseNetwork,
    paths: Sequence[str | Path],
    *,
    cache_folder: Path | None = None,
    workers: int | None = None,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Iterator[Extracted]:
    """Probabilities and features of every photo, in the order given; bad photos carry
    `error`. With `cache_folder` the features are also written to the cache."""
    return extract(
        base,
        paths,
        cache_folder=cache_folder,
        use_cache=False,
        workers=workers,
        on_progress=on_progress,
        stop=stop,
        probabilities=True,
    )


def extract(
    base: BaseNetwork,
    paths: Sequence[str | Path],
    *,
    cache_folder: Path | None = None,
    use_cache: bool = True,
    workers: int | None = None,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
    probabilities: bool = False,
) -> Iterator[Extracted]:
    """Features of every photo, in the order given, from the cache or the base pass.

    `workers`: decode processes (None: `default_workers()` for big jobs, else none; 0: one
    helper thread, no processes). Worker processes start from a fresh interpreter that
    imports the caller's `__main__` module, so a script calling this needs the usual
    `if __name__ == "__main__":` guard (the `neuralpatch` command has it).
    `on_progress(done, total, text)` is called as photos finish; the text gives the rate and
    the time left. Stops early, without error, when `stop` is set.
    """
    paths = [Path(p) for p in paths]
    use_cache = use_cache and cache_folder is not None and not probabilities
    spec = LoadSpec(
        (base.topology.height, base.topology.width),
        str(cache_folder) if use_cache else None,
        base.feature_dim,
    )
    run = _Run(base, paths, cache_folder, probabilities, on_progress)
    pool = _executor(workers_for(workers, len(paths)))
    inflight: deque[Future] = deque()
    chunks = (
        [(i, str(paths[i])) for i in range(s, min(s + CHUNK, len(paths)))]
        for s in range(0, len(paths), CHUNK)
    )
    try:
        for jobs in chunks:
            inflight.append(pool.submit(load_chunk, jobs, spec))
            if len(inflight) < PREFETCH:
                continue
            yield from run.take(inflight.popleft().result())
            if stop is not None and stop.is_set():
                return
        while inflight:
            yield from run.take(inflight.popleft().result())
            if stop is not None and stop.is_set():
                return
        yield from run.flush()
    except BrokenProcessPool:
        _forget(pool)  # a worker died (killed, out of memory): the next run starts afresh
        raise
    finally:
        for future in inflight:  # only ours: the pool may serve another run too
            future.cancel()
        wait(inflight)
        run.written()  # the cache holds every entry once the caller has the last result


def _executor(workers: int) -> Executor:
    """The process's decode pool of this size, started on first use and kept: a second
    extraction in the same process (prepare, then eval, then teach) starts no processes."""
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = _new_executor(workers)
        return pool


def _forget(pool: Executor) -> None:
    with _pools_lock:
        for key, known in list(_pools.items()):
            if known is pool:
                del _pools[key]
    pool.shutdown(wait=False, cancel_futures=True)


def _new_executor(workers: int) -> Executor:
    if workers == -1:
        return ThreadPoolExecutor(1, thread_name_prefix="neuralpatch-cache-write")
    if workers == 0:
        return ThreadPoolExecutor(1, thread_name_prefix="neuralpatch-decode")
    # forkserver: the workers are forked from a clean server process, never from this one,
    # whose OpenCL and BLAS threads a fork would leave in an undefined state.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["neuralpatch.engine.photo_loader"])
    return ProcessPoolExecutor(workers, mp_context=context)


class _Run:
    """Batches decoded photos for the base pass and hands out results in input order."""

    def __init__(
        self,
        base: BaseNetwork,
        paths: list[Path],
        cache_folder: Path | None,
        probabilities: bool,
        on_progress: Progress | None,
    ):
        self.base, self.paths, self.cache_folder = base, paths, cache_folder
        self.probabilities = probabilities
        self.clock = RateClock(len(paths), on_progress)
        self.pending: list[LoadedPhoto] = []
        self.to_compute = 0
        self.writes: deque[Future] = deque()  # cache writes of the last batches

    def _write(self, entries: list[tuple[str, np.ndarray]]) -> None:
        """Write a batch's entries on the writer thread, overlapping the next base pass; at
        most two batches wait, so their features are never held for long."""
        self.writes.append(_writer().submit(_write_entries, self.cache_folder, entries))
        while len(self.writes) > 2:
            self.writes.popleft().result()

    def written(self) -> None:
        while self.writes:
            self.writes.popleft().result()

    def take(self, loaded: list[LoadedPhoto]) -> Iterator[Extracted]:
        self.pending += loaded
        self.to_compute += sum(p.pixels is not None for p in loaded)
        if self.to_compute >= BATCH or len(self.pending) >= 4 * BATCH:
            yield from self.flush()

    def flush(self) -> Iterator[Extracted]:
        pending, self.pending, self.to_compute = self.pending, [], 0
        batch = [p for p in pending if p.pixels is not None]
        computed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if batch:
            out = self.base.run_tensor(to_input([p.pixels for p in batch], self.base.topology))
            for photo, probs, features in zip(batch, out.probabilities, out.features, strict=True):
                computed[photo.index] = (probs, features)
            if self.cache_folder is not None:
                self._write(
                    [(p.digest, f) for p, f in zip(batch, out.features, strict=True) if p.digest]
                )
        for photo in pending:
            path = self.paths[photo.index]
            if photo.error is not None:
                item = Extracted(path, error=photo.error)
            elif photo.index in computed:
                probs, features = computed[photo.index]
                item = Extracted(
                    path,
                    features,
                    probs if self.probabilities else None,
                    computed=1,
                    repaired=int(photo.damaged),
                )
            else:
                item = Extracted(path, photo.features)
            yield self.clock.tick(item)


def _writer() -> Executor:
    """The process's cache-writing thread (the file system calls release the GIL)."""
    return _executor(-1)


def _write_entries(folder: Path, entries: list[tuple[str, np.ndarray]]) -> None:
    for digest, features in entries:
        write_entry(folder, digest, features)
