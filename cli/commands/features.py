"""`neuralpatch features DATA...`: fill the feature cache for every photo under DATA.

Locally, photos are decoded in worker processes while the base pass runs; with `--scheduler`
the batches run on an existing Dask cluster and this process writes the cache. Either way a
later `train`, `eval` or teach session finds every photo's features in the cache.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from neuralpatch.commands.options import add_base_options, load_base
from neuralpatch.engine.number_text import count, rate

JSON_HELP = (
    "print one JSON object: images (photos found), extracted (went through the base pass "
    "now), cached (found in the cache), skipped (could not be read or decoded), repaired "
    "(damaged cache entries recomputed), workers (decode processes, 0 for one thread; with "
    "--scheduler the cluster's workers), seconds, images_per_s (images / seconds), cache "
    "(the cache folder), scheduler (address or null), errors: [{path, error}]"
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "features",
        help="fill the feature cache for every photo under DATA",
        description="Compute (or find in the cache) the base network's pooled features of every "
        "photo under DATA: dataset folders, photo folders or photo files. Photos that cannot be "
        "decoded are counted and named, not fatal.",
    )
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="decode processes beside the base pass (default: cores - 1, at least 2, at most 4; "
        "jobs under 320 photos use one decode thread; 0: always the thread); not with "
        "--scheduler",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the batches on this Dask distributed scheduler's workers (each needs "
        'neuralpatch installed; pip install "neuralpatch[cluster]"); this process reads the '
        "photos and writes the cache",
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    add_base_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from neuralpatch.commands.progress import ProgressLine
    from neuralpatch.engine.errors import SettingError
    from neuralpatch.engine.feature_cache import default_cache_folder
    from neuralpatch.engine.feature_pipeline import photo_files, workers_for
    from neuralpatch.engine.safe_text import json_text, printable

    if args.scheduler and args.workers is not None:
        raise SettingError("--workers is for local runs; a cluster uses its own workers")
    if args.workers is not None and args.workers < 0:
        raise SettingError("--workers must be 0 or more")
    for root in args.data:
        if not _exists(root):
            raise SettingError(f"{printable(root)}: no such file or folder")
    paths = photo_files(args.data)
    if not paths:
        raise SettingError(f"no photos under {' '.join(printable(d) for d in args.data)}")
    base = load_base(args)
    folder = default_cache_folder(base)
    started = time.perf_counter()
    with ProgressLine("extracting features") as bar:
        if args.scheduler:
            results, workers = _on_cluster(args, base, paths, folder, bar.update)
        else:
            from neuralpatch.engine.feature_pipeline import extract

            workers = workers_for(args.workers, len(paths))
            results = extract(
                base, paths, cache_folder=folder, workers=workers, on_progress=bar.update
            )
        counts = {"extracted": 0, "cached": 0, "skipped": 0, "repaired": 0}
        errors = []
        for item in results:
            if item.error is not None:
                counts["skipped"] += 1
                errors.append({"path": str(item.path), "error": item.error})
            else:
                counts["extracted" if item.computed else "cached"] += 1
                counts["repaired"] += item.repaired
    seconds = time.perf_counter() - started
    report = {
        "images": len(paths),
        **counts,
        "workers": workers,
        "seconds": seconds,
        "images_per_s": len(paths) / max(seconds, 1e-9),
        "cache": str(folder),
        "scheduler": args.scheduler,
        "errors": errors,
    }
    if args.json:
        print(json_text(report, indent=2))
        return 0
    for error in errors:
        print(f"skipped {printable(error['path'])}: {printable(error['error'])}", file=sys.stderr)
    print(
        f"{count(report['images'])} photos: {count(report['extracted'])} extracted, "
        f"{count(report['cached'])} already cached, {count(report['skipped'])} skipped, "
        f"{count(report['repaired'])} damaged entries repaired; {seconds:,.1f} s, "
        f"{rate(report['images_per_s'])} photos/s "
        f"({_workers_text(args, workers)})"
    )
    print(f"cache: {printable(folder)}")
    return 0


def _on_cluster(args, base, paths, folder, on_progress):
    from neuralpatch.engine.errors import SettingError
    from neuralpatch.engine.feature_cluster import connect, extract_on_cluster, worker_count

    client = connect(args.scheduler)
    workers = worker_count(client)
    if not workers:
        client.close()
        raise SettingError(f"the Dask scheduler at {args.scheduler} has no workers")
    base_path = str(Path(args.base).resolve()) if args.base else None

    def results():
        try:
            yield from extract_on_cluster(
                base,
                paths,
                client,
                cache_folder=folder,
                base_path=base_path,
                on_progress=on_progress,
            )
        finally:
            client.close()

    return results(), workers


def _workers_text(args, workers: int) -> str:
    if args.scheduler:
        return f"{workers} cluster workers at {args.scheduler}"
    return f"{workers} decode processes" if workers else "decoding in one thread"


def _exists(root: str) -> bool:
    return Path(root).exists()
