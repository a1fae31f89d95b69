"""`train --trigger-top-k K` end to end on the command line: the plugin, its snapshot, a
resumed run and `dataset check --trigger-top-k K` agree on K, on the real sample photos."""

from __future__ import annotations

import json
import shutil

from neuralpatch.engine.dataset import MAP_NAME
from neuralpatch.engine.patch_file import load_patch
from neuralpatch.engine.snapshot import load_snapshot
from neuralpatch.main import main

REMOVED = ("n02123045", "n02123159", "n02124075", "n02129165", "n02128385")


def test_train_stores_k_and_resume_keeps_it(capsys, sample_data, tmp_path):
    data = tmp_path / "cats"
    shutil.copytree(sample_data, data)
    rows = (data / MAP_NAME).read_text().splitlines()
    (data / MAP_NAME).write_text("\n".join(r for r in rows if r.split()[0] not in REMOVED) + "\n")
    assert main(["dataset", "check", str(data), "--json", "--trigger-top-k", "5"]) == 0
    five = json.loads(capsys.readouterr().out)["trigger_coverage"]
    assert main(["dataset", "check", str(data), "--json"]) == 0
    one = json.loads(capsys.readouterr().out)["trigger_coverage"]
    assert five["top_k"] == 5 and one["top_k"] == 1 and five["covered"] > one["covered"]
    domestic = [
        o["coverage"] for c in (one, five) for o in c["outputs"] if o["name"] == "domestic_cat"
    ]
    assert domestic[0] < 0.9 <= domestic[1]
    assert main(["dataset", "check", str(data), "--trigger-top-k", "3"]) == 0
    assert "Trigger coverage (base top-3) " in capsys.readouterr().out
    out = tmp_path / "out"
    argv = ["train", str(data), "--headless", "--steps", "5", "--out", str(out)]
    assert main([*argv, "--trigger-top-k", "5"]) == 0
    warned = capsys.readouterr().err
    (plugin,) = out.glob("*.specialneurons")
    (snapshot,) = out.glob("*.npsnapshot")
    assert (
        load_patch(plugin).trigger_top_k == 5 and load_snapshot(snapshot).patch.trigger_top_k == 5
    )
    # Top-5 covers these photos; top-1 would warn about the domestic cats (see one above).
    assert "trigger coverage" not in warned
    resumed = tmp_path / "resumed"
    assert (
        main(
            [
                "train",
                str(data),
                "--headless",
                "--steps",
                "5",
                "--out",
                str(resumed),
                "--resume",
                str(snapshot),
            ]
        )
        == 0
    )
    (again,) = resumed.glob("*.specialneurons")
    assert load_patch(again).trigger_top_k == 5
    assert main([*argv, "--trigger-top-k", "11"]) == 2
    assert "--trigger-top-k must be a whole number from 1 to 10" in capsys.readouterr().err
