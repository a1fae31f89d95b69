"""`neuralpatch features`: locally and on a real local Dask cluster (scheduler + 2 processes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from neuralpatch.engine.paths import cache_dir
from neuralpatch.main import main


@pytest.fixture(scope="module")
def data(sample_data, tmp_path_factory) -> Path:
    """Six real photos in two folders and one corrupt JPEG."""
    root = tmp_path_factory.mktemp("data")
    (root / "more").mkdir()
    for i, path in enumerate(sorted(sample_data.glob("*.jpg"))[::7][:6]):
        shutil.copy(path, root / ("more" if i % 2 else ".") / path.name)
    (root / "more" / "n02121808_999.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return root


def fresh_cache(folder: Path, monkeypatch) -> Path:
    """An empty feature cache that reuses the converted base network and the kernel builds
    (a cold kernel cache costs every process a compile)."""
    shared = cache_dir()
    folder.mkdir()
    for part in ("base", "opencl"):
        (folder / part).symlink_to(shared / part, target_is_directory=True)
    monkeypatch.setenv("NEURALPATCH_CACHE_DIR", str(folder))
    return folder


def entries(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (cache / "features").rglob("*.feat")}


def features_json(capsys, *argv: str) -> dict:
    assert main(["features", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_features_fills_the_cache_then_finds_it(capsys, data, tmp_path, monkeypatch):
    cache = fresh_cache(tmp_path / "cache", monkeypatch)
    first = features_json(capsys, str(data), "--workers", "0")
    assert (first["images"], first["extracted"], first["cached"], first["skipped"]) == (7, 6, 0, 1)
    assert first["errors"][0]["path"].endswith("n02121808_999.jpg")
    assert first["workers"] == 0 and first["images_per_s"] > 0 and first["seconds"] > 0
    assert len(entries(cache)) == 6
    second = features_json(capsys, str(data / "more"), str(data))
    assert (second["extracted"], second["cached"], second["skipped"]) == (0, 6, 1)


def test_features_refuses_what_it_cannot_use(capsys, tmp_path):
    assert main(["features", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["features", str(tmp_path)]) == 2
    assert "no photos under" in capsys.readouterr().err
    assert main(["features", str(tmp_path), "--scheduler", "tcp://x:1", "--workers", "2"]) == 2


def test_a_dask_cluster_fills_the_same_cache_as_a_local_run(
    capsys, data, tmp_path, monkeypatch, base_network
):
    import distributed  # in the test extra (pyproject.toml)

    local = fresh_cache(tmp_path / "local", monkeypatch)
    assert features_json(capsys, str(data), "--workers", "2")["extracted"] == 6
    remote = fresh_cache(tmp_path / "remote", monkeypatch)  # workers inherit this
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        out = features_json(capsys, str(data), "--scheduler", cluster.scheduler_address)
        with distributed.Client(cluster.scheduler_address) as client:
            ran = client.run(lambda: __import__("os").getpid())
    assert len(set(ran.values())) == 2  # two worker processes besides this one
    assert (out["workers"], out["extracted"], out["skipped"]) == (2, 6, 1)
    assert out["scheduler"].startswith("tcp://")
    assert entries(remote) == entries(local)  # complete, and byte for byte the same
    after = features_json(capsys, str(data), "--workers", "0")
    assert (after["extracted"], after["cached"]) == (0, 6)  # a local run finds them all


def test_a_two_thread_worker_decodes_while_it_runs_a_pass_and_gets_the_same_features(
    data, tmp_path, monkeypatch, base_network
):
    """Batches of 2 on one worker with 2 threads: decoding overlaps the other thread's pass
    (only the pass holds the worker's lock), and every vector equals the local pipeline's."""
    import distributed

    from neuralpatch.engine.feature_cluster import batches_in_flight, extract_on_cluster
    from neuralpatch.engine.feature_pipeline import extract, photo_files

    fresh_cache(tmp_path / "cache", monkeypatch)
    paths = photo_files([data])
    local = {e.path: e for e in extract(base_network, paths, use_cache=False, workers=0)}
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert batches_in_flight(client) == 3
        remote = list(
            extract_on_cluster(base_network, paths, client, cache_folder=tmp_path / "out", batch=2)
        )
    assert sorted(e.path for e in remote) == sorted(paths)
    for got in remote:
        want = local[got.path]
        assert (got.error is None) == (want.error is None), got.path
        if want.error is None:
            assert got.features.tobytes() == want.features.tobytes(), got.path
