"""The dataset folder format (map_clsloc.txt + tagged images), its split and summary, on real
photos."""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path

import pytest
from PIL import Image

from neuralpatch.engine.classes import imagenet_classes
from neuralpatch.engine.dataset import MAP_NAME, load_dataset
from neuralpatch.engine.errors import DatasetError

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
PHOTOS = sorted(SAMPLE.glob("*.jpg"))
DOMESTIC, WILD, BIG = "n02121808", "n02124623", "n02127808"  # not ImageNet-1k classes
TABBY, PERSIAN, LION = "n02123045", "n02123394", "n02129165"  # ImageNet-1k classes


@cache
def imagenet_tags() -> dict[str, str]:
    """The packaged base network's mapping, as the CLI passes it: synset -> display name."""
    return imagenet_classes().tag_names()


def make(root: Path, map_text: str | None, images: dict[str, int]) -> Path:
    """A dataset folder: `images` maps a relative file name to the sample photo to copy."""
    root.mkdir(parents=True, exist_ok=True)
    if map_text is not None:
        (root / MAP_NAME).write_text(map_text)
    for rel, photo in images.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PHOTOS[photo], root / rel)
    return root


def load(root: Path):
    return load_dataset(root, imagenet_tags())


def test_the_sample_set_is_three_outputs_triggered_by_every_imagenet_cat():
    ds = load(SAMPLE)
    assert [c.tag for c in ds.outputs] == [DOMESTIC, WILD, BIG]
    assert [len(c.images) for c in ds.outputs] == [14, 13, 14]
    assert len(ds.triggers) == 13 and ds.triggers[0] == TABBY and LION in ds.triggers
    assert not {c.tag for c in ds.outputs} & set(ds.triggers)
    assert ds.problems == []
    samples = ds.samples()
    assert len(samples) == 41
    assert all(path.name.startswith(ds.outputs[k].tag + "_") for path, k in samples)


def test_output_neurons_follow_the_index_column_not_the_row_order(tmp_path):
    root = make(
        tmp_path,
        f"{BIG} 30 big\n{DOMESTIC} 10 dom\n{TABBY} 5 tabby\n{WILD} 20 wild\n",
        {f"{DOMESTIC}_a.jpg": 0, f"{WILD}_a.jpg": 15, f"{BIG}_a.jpg": 30},
    )
    ds = load(root)
    assert [c.tag for c in ds.outputs] == [DOMESTIC, WILD, BIG]
    assert [(p.name[:9], k) for p, k in ds.samples()] == [(DOMESTIC, 0), (WILD, 1), (BIG, 2)]
    assert ds.triggers == [TABBY]


def test_a_base_category_with_images_is_both_trigger_and_output(tmp_path):
    root = make(
        tmp_path,
        f"{TABBY} 1 tabby\n{PERSIAN} 2 persian\n{LION} 3 lion\n",
        {f"{TABBY}_1.jpg": 0, f"{TABBY}_2.jpg": 1, f"{PERSIAN}_1.jpg": 2},
    )
    ds = load(root)
    assert ds.triggers == [TABBY, PERSIAN, LION]
    assert [c.tag for c in ds.outputs] == [TABBY, PERSIAN]
    lines = "\n".join(ds.summary_lines())
    assert "also a trigger" in lines and "Persian_cat" in lines


def test_images_are_found_recursively_with_any_case_extension(tmp_path):
    root = make(
        tmp_path,
        f"{DOMESTIC} 1 dom\n{WILD} 2 wild\n{TABBY} 3 tabby\n",
        {
            f"dom/deep/er/{DOMESTIC}_x.JPG": 0,
            f"{DOMESTIC}_root.jpeg": 1,
            f"wild/{WILD}_1.jpg": 15,
            f".hidden/{WILD}_2.jpg": 16,
            f"wild/.{WILD}_3.jpg": 17,
        },
    )
    Image.open(PHOTOS[20]).crop((100, 100, 228, 228)).save(root / "wild" / f"{WILD}_crop.PNG")
    (root / "wild" / f"{WILD}_notes.txt").write_text("not an image")
    ds = load(root)
    dom, wild = ds.outputs
    assert [p.relative_to(root).as_posix() for p in dom.images] == [
        f"dom/deep/er/{DOMESTIC}_x.JPG",
        f"{DOMESTIC}_root.jpeg",
    ]
    assert [p.name for p in wild.images] == [f"{WILD}_1.jpg", f"{WILD}_crop.PNG"]
    assert ds.problems == []


def test_unknown_tags_and_untagged_files_are_skipped_and_counted(tmp_path):
    root = make(
        tmp_path,
        f"{DOMESTIC} 1 dom\n{WILD} 2 wild\n{TABBY} 3 tabby\n",
        {
            f"{DOMESTIC}_1.jpg": 0,
            f"{WILD}_1.jpg": 15,
            "n99999_stray.jpg": 1,
            "sub/holiday.jpg": 2,
            f"{DOMESTIC}x.jpg": 3,
        },
    )
    ds = load(root)
    assert len(ds.samples()) == 2
    assert len(ds.problems) == 3
    assert any("n99999" in p and "not in" in p for p in ds.problems)
    assert any(p.startswith("sub/holiday.jpg") for p in ds.problems)
    assert ds.to_summary()["problem_count"] == 3
    assert "Problems (3):" in ds.summary_lines()


def test_comments_and_blank_lines_are_ignored_but_line_numbers_still_count(tmp_path):
    text = f"# cats\n\n{DOMESTIC} 1 dom\n   \n# more\n{WILD} 2 wild\n{TABBY} 3 tabby\n"
    root = make(tmp_path, text, {f"{DOMESTIC}_1.jpg": 0, f"{WILD}_1.jpg": 15})
    ds = load(root)
    assert [c.line for c in ds.categories] == [3, 6, 7]


CAT_IMAGES = {f"{DOMESTIC}_1.jpg": 0, f"{WILD}_1.jpg": 15}


@pytest.mark.parametrize(
    ("map_text", "line", "words"),
    [
        (f"{DOMESTIC} 1 dom\n{WILD} 2 wild\n{DOMESTIC} 3 again\n{TABBY} 4 t\n", 3, "duplicate tag"),
        (f"{DOMESTIC} 1 dom\n{WILD} 2 wild\nn7 3 a\n{TABBY} 4 t\nn007 5 b\n", 5, "duplicate tag"),
        (f"{DOMESTIC} 1 dom\n{WILD} 1 wild\n{TABBY} 4 t\n", 2, "duplicate index"),
        (f"{DOMESTIC} 1 dom\nx02124623 2 wild\n", 2, "not 'n' followed by an integer"),
        (f"{DOMESTIC} 1 dom\nn0212a623 2 wild\n", 2, "not 'n' followed by an integer"),
        (f"{DOMESTIC} 1 dom\nn-5 2 wild\n", 2, "not 'n' followed by an integer"),
        (f"{DOMESTIC} 1 domestic cat\n", 1, "expected 3 columns"),
        (f"{DOMESTIC} 1 dom\n{WILD} 2\n", 2, "expected 3 columns"),
        (f"{DOMESTIC} one dom\n", 1, "is not an integer"),
        (f"{DOMESTIC} 1.5 dom\n", 1, "is not an integer"),
        (
            f"{DOMESTIC} 1 dom\n{WILD} 2 wild\n{TABBY} 3 t\nn90000001 4 new\n",
            4,
            "category n90000001 has no images and is not a base-network category",
        ),
    ],
)
def test_map_errors_name_the_file_and_line(tmp_path, map_text, line, words):
    root = make(tmp_path, map_text, CAT_IMAGES)
    with pytest.raises(DatasetError) as caught:
        load(root)
    assert caught.value.line == line
    assert caught.value.path == root / MAP_NAME
    assert words in str(caught.value)
    assert f"{MAP_NAME}:{line}:" in str(caught.value)


def test_a_missing_map_file_is_an_error_naming_it(tmp_path):
    root = make(tmp_path, None, CAT_IMAGES)
    with pytest.raises(DatasetError, match="missing map_clsloc.txt") as caught:
        load(root)
    assert caught.value.path == root / MAP_NAME


def test_without_any_base_category_the_patch_could_never_trigger(tmp_path):
    root = make(tmp_path, f"{DOMESTIC} 1 dom\n{WILD} 2 wild\n", CAT_IMAGES)
    with pytest.raises(DatasetError, match="no trigger category"):
        load(root)


def test_without_any_images_there_is_no_output(tmp_path):
    root = make(tmp_path, f"{TABBY} 1 tabby\n{LION} 2 lion\n", {"n5_unrelated.jpg": 0})
    with pytest.raises(DatasetError, match="no output category"):
        load(root)


def test_a_single_output_is_allowed_but_reported(tmp_path):
    root = make(tmp_path, f"{TABBY} 1 tabby\n{DOMESTIC} 2 dom\n", {f"{DOMESTIC}_1.jpg": 0})
    ds = load(root)
    assert [c.tag for c in ds.outputs] == [DOMESTIC]
    assert len(ds.problems) == 1 and "always answer it" in ds.problems[0]


def test_a_file_instead_of_a_folder_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        load(shutil.copy(PHOTOS[0], tmp_path))


def test_split_is_stratified_deterministic_and_complete():
    ds = load(SAMPLE)
    train, val = ds.split(0.2, seed=7)
    assert ds.split(0.2, seed=7) == (train, val)
    assert ds.split(0.2, seed=8) != (train, val)
    assert sorted(train + val) == sorted(ds.samples())
    assert not {p for p, _ in train} & {p for p, _ in val}
    for k, category in enumerate(ds.outputs):
        n_val = sum(1 for _, label in val if label == k)
        assert n_val == round(len(category.images) * 0.2)
    assert ds.split(0.0) == (ds.samples(), [])
    with pytest.raises(ValueError):
        ds.split(1.0)


def test_split_keeps_one_image_each_side_for_tiny_classes(tmp_path):
    root = make(
        tmp_path,
        f"{DOMESTIC} 1 dom\n{WILD} 2 wild\n{BIG} 3 big\n{TABBY} 4 t\n",
        {
            f"{DOMESTIC}_1.jpg": 0,
            f"{DOMESTIC}_2.jpg": 1,
            f"{WILD}_1.jpg": 15,
            f"{WILD}_2.jpg": 16,
            f"{WILD}_3.jpg": 17,
            f"{BIG}_1.jpg": 30,
        },
    )
    train, val = load(root).split(0.05, seed=0)
    assert sorted(k for _, k in val) == [0, 1]
    assert sorted(k for _, k in train) == [0, 1, 1, 2]
    train, val = load(root).split(0.9, seed=0)
    assert sorted(k for _, k in train) == [0, 1, 2]


def test_adding_images_to_one_class_leaves_the_other_split_alone(tmp_path):
    images = {f"{DOMESTIC}_{i}.jpg": i for i in range(6)}
    images.update({f"{WILD}_{i}.jpg": 14 + i for i in range(10)})
    root = make(tmp_path, f"{DOMESTIC} 1 dom\n{WILD} 2 wild\n{TABBY} 3 t\n", images)
    before = [p for p, k in load(root).split(0.3, seed=1)[1] if k == 1]
    make(root, None, {f"{DOMESTIC}_{i}.jpg": i for i in range(6, 12)})
    after = [p for p, k in load(root).split(0.3, seed=1)[1] if k == 1]
    assert before == after and len(before) == 3


def test_summary_is_json_and_names_outputs_triggers_and_base_names():
    ds = load(SAMPLE)
    summary = json.loads(json.dumps(ds.to_summary()))
    assert [(o["tag"], o["images"]) for o in summary["outputs"]] == [
        (DOMESTIC, 14),
        (WILD, 13),
        (BIG, 14),
    ]
    assert summary["triggers"] == ds.triggers and summary["problem_count"] == 0
    lines = ds.summary_lines()
    assert any("wildcat_small_non_domestic: 13 images" in line for line in lines)
    assert any(TABBY in line and "known as tabby" in line for line in lines)
    assert lines[-1] == "Problems: none"
