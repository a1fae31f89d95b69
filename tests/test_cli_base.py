"""`neuralpatch base profile`: per-kernel times on the real device, against the sgemm peak."""

from __future__ import annotations

import json

from neuralpatch.main import main


def test_base_profile_json_accounts_for_every_flop(capsys, base_network):
    assert main(["base", "profile", "--batch", "2", "--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    kernels = report["kernels"]
    assert report["batch"] == 2 and report["repeats"] == 1
    assert sum(k["flops"] for k in kernels) == report["flops"]
    assert report["flops"] == 2 * 2 * base_network.topology.macs_per_image()
    assert abs(sum(k["share"] for k in kernels) - 1) < 1e-6
    assert all(k["ms"] > 0 for k in kernels) and report["sgemm_gflops"] > 1
    fused = [k for k in kernels if k["kind"] == "dwproject"]
    assert fused and all("+" in k["layer"] for k in fused)
    assert report["wall_ms"] > 0 and 0 < report["peak_fraction"]


def test_base_profile_table_names_the_kernels(capsys, base_network):
    assert main(["base", "profile", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "of numpy sgemm" in out and "b1.dw+b1.project" in out and "head" in out


def test_warm_up_reports_program_builds_then_every_layer(base_network):
    from neuralpatch.engine.base_network import BaseNetwork

    fresh = BaseNetwork(base_network.files, base_network.classes)
    seen: list[tuple[int, int, str]] = []
    fresh.warm_up(lambda done, total, what: seen.append((done, total, what)))
    builds = [s for s in seen if s[2].startswith("building")]
    layers = [s for s in seen if s[2] == "compiling kernels"]
    assert builds and builds[-1][0] == builds[-1][1] >= 6
    assert [s[0] for s in layers] == list(range(1, fresh.layer_count + 1))
    assert seen.index(builds[-1]) < seen.index(layers[0])


def test_base_info_says_how_weights_are_stored(capsys, base_network):
    assert main(["base", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["weights"] == "float32" and info["compute"] == "float32"
    assert isinstance(info["device"]["cl_khr_fp16"], bool)
