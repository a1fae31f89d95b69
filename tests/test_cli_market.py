"""`neuralpatch market` as a user runs it: keygen, publish, a real `serve` subprocess on a free
port, search, install, and the installed patch firing in `classify --patches` on a real cat.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from market_helpers import train_patch
from PIL import Image

from neuralpatch.engine.patch_file import load_patch, save_patch
from neuralpatch.main import main


@pytest.fixture(scope="module")
def trained(base_network, sample_data, tmp_path_factory) -> Path:
    return train_patch(base_network, sample_data, tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="module")
def cat_photo(tmp_path_factory, photos) -> Path:
    path = tmp_path_factory.mktemp("photo") / "chelsea.jpg"
    Image.fromarray(photos["chelsea"]).save(path, quality=92)
    return path


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch) -> Path:
    """A private market config, so no test reads or writes the user's."""
    monkeypatch.setenv("NEURALPATCH_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture
def published(trained, tmp_path, capsys) -> tuple[Path, Path]:
    """(catalogue folder, private key): the trained patch published and signed."""
    key = tmp_path / "keys" / "publisher"
    key.parent.mkdir()
    assert main(["market", "keygen", str(key)]) == 0
    assert (
        main(["market", "publish", str(trained), "--to", str(tmp_path / "cat"), "--key", str(key)])
        == 0
    )
    capsys.readouterr()
    return tmp_path / "cat", key


@pytest.fixture
def served(published):
    """`neuralpatch market serve` itself, on a free port; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "neuralpatch", "market", "serve", str(published[0]), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving ") and " at http://127.0.0.1:" in line, line
        yield line.split(" at ")[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(10)


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def refused(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neuralpatch: error: ")
    return lines[0]


def test_publish_serve_search_install_classify(
    capsys, published, served, trained, cat_photo, tmp_path
):
    patches = tmp_path / "patches"
    found = run_json(capsys, "market", "search", served, "small wild", "--patches", str(patches))
    (entry,) = found["entries"]
    assert entry["name"] == "felix cats" and entry["fits"] and entry["installed"] is None
    assert entry["signed"] and {"tag": "n02123045", "name": "tabby"} in entry["triggers"]
    assert run_json(capsys, "market", "search", served, "espresso")["entries"] == []

    pub = f"{published[1]}.pub"
    done = run_json(
        capsys, "market", "install", served, "felix cats", "--to", str(patches), "--trust", pub
    )
    assert done["version"] == 1 and not done["already_installed"] and done["verified_key"]
    assert Path(done["file"]).read_bytes() == trained.read_bytes()

    listed = run_json(capsys, "market", "search", served, "--patches", str(patches))["entries"][0]
    assert listed["installed"] == {"file": done["file"], "version": 1}

    out = run_json(capsys, "classify", str(cat_photo), "--patches", str(patches))
    fired = out["images"][0]["patches"]
    assert [p["name"] for p in fired] == ["felix cats"]
    assert fired[0]["output"]["name"] == "domestic_cat"  # chelsea is a tabby: a domestic cat


def test_text_output_shows_fit_install_state_and_signature(capsys, published, tmp_path):
    patches = tmp_path / "patches"
    assert main(["market", "install", str(published[0]), "felix cats@1", "--to", str(patches)]) == 0
    assert "installed felix cats@1 as" in capsys.readouterr().out
    assert main(["market", "search", str(published[0]), "--patches", str(patches)]) == 0
    text = capsys.readouterr().out
    assert "felix cats 1  [fits this base network · installed v1 · signed by" in text
    assert "triggers  tabby, tiger_cat" in text


def _flip(folder: Path) -> None:
    path = next((folder / "patches").iterdir())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def _unsign(folder: Path) -> None:
    doc = json.loads((folder / "index.json").read_text())
    doc["entries"][0]["signature"] = None
    (folder / "index.json").write_text(json.dumps(doc))


def _escape(folder: Path) -> None:
    doc = json.loads((folder / "index.json").read_text())
    doc["entries"][0]["name"] = "../../x.specialneurons"
    (folder / "index.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("spoil", "name", "expected"),
    [
        (_flip, "felix cats", "sha256 does not match the index"),
        (_unsign, "felix cats", "is not signed, and a trusted key was given"),
        (_escape, "../../x.specialneurons", "contains a path separator"),
    ],
)
def test_refused_installs_are_one_line_and_write_nothing(
    capsys, published, served, tmp_path, spoil, name, expected
):
    spoil(published[0])
    patches = tmp_path / "patches"
    patches.mkdir()
    args = [
        "market",
        "install",
        served,
        name,
        "--to",
        str(patches),
        "--trust",
        f"{published[1]}.pub",
    ]
    assert expected in refused(capsys, *args)
    assert list(patches.iterdir()) == [] and not (tmp_path.parent / "x.specialneurons").exists()


def test_update_upgrades_an_installed_patch(capsys, published, trained, tmp_path):
    folder, key = published
    patches = tmp_path / "patches"
    assert main(["market", "install", str(folder), "felix cats", "--to", str(patches)]) == 0
    newer = load_patch(trained)
    newer.bias = newer.bias * 0.5
    newer.created = "2031-01-01T00:00:00+00:00"
    v2 = save_patch(newer, tmp_path / "v2.specialneurons")
    assert main(["market", "publish", str(v2), "--to", str(folder), "--key", str(key)]) == 0
    capsys.readouterr()
    out = run_json(capsys, "market", "update", str(folder), "--to", str(patches))
    assert [(u["from_version"], u["version"]) for u in out["updated"]] == [(1, 2)]
    assert (patches / "felix_cats.specialneurons").read_bytes() == v2.read_bytes()
    assert run_json(capsys, "market", "update", str(folder), "--to", str(patches))["updated"] == []


def test_publish_names_what_a_market_entry_lacks(capsys, trained, tmp_path):
    bare = load_patch(trained)
    bare.icon_png = None
    path = save_patch(bare, tmp_path / "bare.specialneurons")
    line = refused(capsys, "market", "publish", str(path), "--to", str(tmp_path / "cat"))
    assert "bare.specialneurons: a market entry needs an icon" in line
    assert not (tmp_path / "cat").exists()


def test_catalogues_config(capsys, published, config_dir):
    out = run_json(
        capsys, "market", "catalogues", "--add", str(published[0]), "--trust", f"{published[1]}.pub"
    )
    assert out["catalogues"] == [{"url": str(published[0]), "trust": f"{published[1]}.pub"}]
    assert (config_dir / "market.toml").is_file()
    _unsign(published[0])  # the configured key applies without --trust, however it is spelt
    line = refused(
        capsys,
        "market",
        "install",
        str(published[0] / "index.json"),
        "felix cats",
        "--to",
        str(config_dir / "p"),
    )
    assert "is not signed" in line


def test_hostile_index_text_never_reaches_the_terminal_raw(capsys, published):
    folder = published[0]
    doc = json.loads((folder / "index.json").read_text())
    evil = dict(doc["entries"][0], name="evil\x1b]0;pwned\x07\u202e", version=1)
    doc["entries"].append(evil)
    doc["entries"][0]["description"] = "\x1b[2Jcleared"
    (folder / "index.json").write_text(json.dumps(doc))
    assert main(["market", "search", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "\u202e" not in captured.err
    assert "\\x1b[2Jcleared" in captured.out
    assert "evil\\x1b]0;pwned\\x07" in captured.err and "skipped" in captured.err
    line = refused(capsys, "market", "install", str(folder), evil["name"], "--to", "x")
    assert "\x1b" not in line and "is refused" in line


def test_big_downloads_show_progress_on_stderr_small_ones_do_not(capsys):
    from neuralpatch.commands.market_output import download_bar

    with download_bar("small") as update:
        update(10_000, 16_470)
    with download_bar("big") as update:
        update(3 << 20, 8 << 20)
        update(8 << 20, 8 << 20)
    captured = capsys.readouterr()
    assert captured.out == "" and "small" not in captured.err
    assert "downloading big" in captured.err and "8,192/8,192 KiB" in captured.err
