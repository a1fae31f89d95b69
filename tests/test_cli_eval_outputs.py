"""`eval --json` keeps one per-class entry per output, even when two outputs share a name."""

from __future__ import annotations

import dataclasses
import json

from neuralpatch.engine.patch_file import PatchOutput, save_patch
from neuralpatch.main import main


def test_outputs_with_one_name_do_not_collapse(capsys, felix_patch, sample_data, tmp_path):
    domestic, wild, big = felix_patch.outputs
    renamed = dataclasses.replace(
        felix_patch,
        outputs=[PatchOutput(domestic.tag, "cat"), PatchOutput(wild.tag, "cat"), big],
    )
    path = save_patch(renamed, tmp_path / "cats.specialneurons")
    assert main(["eval", str(path), str(sample_data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    per_output = result["per_output"]
    assert [(o["tag"], o["name"]) for o in per_output] == [
        (domestic.tag, "cat"),
        (wild.tag, "cat"),
        (big.tag, big.name),
    ]
    confusion = result["confusion"]
    for k, entry in enumerate(per_output):
        assert entry["images"] == sum(confusion[k]) > 0
        assert entry["end_to_end_accuracy"] == confusion[k][k] / sum(confusion[k])
        assert entry["accuracy"] == confusion[k][k] / sum(confusion[k][:-1])
    assert result["per_class_accuracy"] == {
        f"cat ({domestic.tag})": per_output[0]["accuracy"],
        f"cat ({wild.tag})": per_output[1]["accuracy"],
        big.name: per_output[2]["accuracy"],  # a unique name keeps its documented key
    }
