"""Numbers read by people carry thousands separators; `classify` prints aligned columns even
for wide (CJK) and escaped output names; `--json` keeps plain numbers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from neuralpatch.engine.number_text import cells, columns, count, fraction, rate
from neuralpatch.engine.trainer import StepReport
from neuralpatch.main import main
from neuralpatch.tui.loss_log import report_line
from neuralpatch.tui.status_bar import format_report

NAMES = {"n02121808": "家猫", "n02124623": "wild\x1bcat", "n02127808": "big_cat_of_the_plains"}


def test_separators_and_cell_widths():
    assert count(104943) == "104,943" and count(999) == "999" and count(1_000_000) == "1,000,000"
    assert fraction(1234, 5678) == "1,234/5,678"
    assert rate(12345.6) == "12,346" and rate(12.34) == "12.3"
    assert cells("家猫") == 4 and cells("e\u0301") == 1
    lines = columns([["家猫", "1.5%"], ["wild", "100.0%"]], right=(1,))
    assert [cells(line) for line in lines] == [12, 12]  # same width in terminal cells
    assert all(not line.endswith(" ") for line in columns([["a", "b"], ["ccc", "d"]]))


def test_training_status_and_log_lines_separate_thousands():
    report = StepReport(
        step=104943, loss=0.1, rolling_loss=0.1, images_per_s=23456.0, elapsed_s=3700.0,
        epoch=1.0, val_accuracy=0.5, val_when_triggered=0.6,
    )  # fmt: skip
    status = format_report(report, "training")
    assert "step 104,943" in status and "23,456 img/s" in status
    assert "step 104,943" in report_line(report)


@pytest.fixture(scope="module")
def named_patch(sample_data, tmp_path_factory) -> tuple[Path, Path]:
    """A real patch whose outputs have a wide, an escaped and a long name."""
    root = tmp_path_factory.mktemp("names") / "cats"
    shutil.copytree(sample_data, root)
    rows = (root / "map_clsloc.txt").read_text().splitlines()
    rows = [f"{t} {i} {NAMES.get(t, n)}" for t, i, n in (r.split() for r in rows)]
    (root / "map_clsloc.txt").write_text("\n".join(rows) + "\n")
    out = root.parent / "out"
    assert main(["train", str(root), "--headless", "--steps", "40", "--out", str(out)]) == 0
    return root, out


def test_classify_columns_line_up(named_patch, capsys):
    root, patches = named_patch
    photos = [str(p) for p in sorted(root.glob("n021*_10[1-3].jpg"))]
    photos += [str(p) for p in sorted(root.glob("n02124623_2[01]*.jpg"))[:2]]
    capsys.readouterr()
    assert main(["classify", *photos, "--patches", str(patches), "--top", "4"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "wild\\x1bcat" in out
    blocks = out.split("\n" + str(root))
    for block in blocks:
        top = [line for line in block.splitlines() if re.match(r"\s+\d\.", line)]
        assert len(top) == 4
        # probabilities right-aligned: every row ends in the same terminal cell
        assert len({cells(line) for line in top}) == 1 and all(line.endswith("%") for line in top)
        tags = {cells(line[: line.index(" n0")]) for line in top}
        assert len(tags) == 1  # the tag column starts at one place whatever the name
    patch_rows = [line for line in out.splitlines() if "triggered by" in line]
    assert patch_rows and any("家猫" in r for r in patch_rows)
    starts = {cells(r[: r.index("%")]) for r in patch_rows}
    assert len(starts) <= len(blocks)  # aligned within each photo


def test_eval_text_separates_and_json_stays_plain(named_patch, capsys):
    root, patches = named_patch
    patch = str(next(patches.glob("*.specialneurons")))
    capsys.readouterr()
    assert main(["eval", patch, str(root)]) == 0
    text = capsys.readouterr().out
    assert "41 images" in text and "家猫" in text
    matrix = text[text.index("confusion") :].splitlines()[1:5]
    assert len({cells(line) for line in matrix}) == 1  # header and rows end together
    assert main(["eval", patch, str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 41 and isinstance(report["confusion"][0][0], int)


def test_headless_progress_line_separates_thousands(sample_data, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["train", str(sample_data), "--headless", "--steps", "1200", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr()
    err = printed.err
    assert "training 1,200/1,200 " in err and "step 1,200 " in printed.out
    speeds = re.findall(r"([\d,.]+) (?:img|photos)/s", err)
    assert speeds and all("," in s or float(s) < 1000 for s in speeds)
