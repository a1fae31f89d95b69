"""The patch market end to end in the engine: a real trained patch, a real HTTP server.

Publish → serve → fetch → install, and every way a download can be wrong is refused with
one clear line and nothing written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from market_helpers import train_patch

from neuralpatch.engine.catalogue import CatalogueError, read_catalogue_dir
from neuralpatch.engine.market_fetch import fetch_catalogue, fetch_icon
from neuralpatch.engine.market_install import install, plan_updates
from neuralpatch.engine.market_publish import publish
from neuralpatch.engine.market_server import serve_catalogue
from neuralpatch.engine.market_signing import generate_key, load_private_key, load_public_key
from neuralpatch.engine.patch_file import load_patch, save_patch
from neuralpatch.engine.patch_system import PatchSystem


@pytest.fixture(scope="module")
def trained(base_network, sample_data, tmp_path_factory) -> Path:
    return train_patch(base_network, sample_data, tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {
        "publisher": generate_key(folder / "publisher")[0],
        "other": generate_key(folder / "other")[0],
    }


@pytest.fixture
def catalogue_dir(trained, keys, tmp_path) -> Path:
    folder = tmp_path / "catalogue"
    publish([trained], folder, key=load_private_key(keys["publisher"]))
    return folder


@pytest.fixture
def server(catalogue_dir):
    with serve_catalogue(catalogue_dir, port=0, background=True) as running:
        yield running


@pytest.fixture
def system(base_network) -> PatchSystem:
    return PatchSystem.for_base(base_network)


def served_file(catalogue_dir: Path) -> Path:
    return catalogue_dir / read_catalogue_dir(catalogue_dir).entries[0].file


def test_publish_lists_everything_a_client_needs(trained, catalogue_dir, base_network):
    (entry,) = read_catalogue_dir(catalogue_dir).entries
    patch = load_patch(trained)
    data = trained.read_bytes()
    assert (entry.name, entry.version, entry.description) == ("felix cats", 1, patch.description)
    assert [t for t, _ in entry.outputs] == [o.tag for o in patch.outputs]
    assert dict(entry.triggers)["n02123045"] == "tabby"  # trigger names from the base classes
    assert entry.base_fingerprint == base_network.fingerprint
    assert entry.size == len(data) and entry.sha256 == hashlib.sha256(data).hexdigest()
    assert (catalogue_dir / entry.file).read_bytes() == data
    assert (catalogue_dir / entry.icon).read_bytes() == patch.icon_png
    assert entry.signature is not None and not entry.file.startswith(("/", ".."))


def test_publish_install_over_http_gives_identical_bytes(trained, server, keys, system, tmp_path):
    location, catalogue = fetch_catalogue(server.url)
    assert fetch_icon(location, catalogue.entries[0]) == load_patch(trained).icon_png
    seen = []
    done = install(
        location,
        catalogue,
        "felix cats",
        tmp_path / "patches",
        system,
        trusted=load_public_key(str(keys["publisher"]) + ".pub"),
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert done.path.read_bytes() == trained.read_bytes()
    assert done.verified_key == catalogue.entries[0].signature.key_id
    assert seen[-1] == (len(trained.read_bytes()), len(trained.read_bytes()))
    again = install(location, catalogue, "felix cats", tmp_path / "patches", system)
    assert again.already and sorted(p.name for p in (tmp_path / "patches").iterdir()) == [
        "felix_cats.specialneurons"
    ]


def _flip_byte(catalogue_dir: Path) -> None:
    path = served_file(catalogue_dir)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))


def _grow(catalogue_dir: Path) -> None:
    with open(served_file(catalogue_dir), "ab") as f:
        f.write(bytes(4096))


def _edit_entry(catalogue_dir: Path, **fields) -> None:
    index = catalogue_dir / "index.json"
    doc = json.loads(index.read_text())
    doc["entries"][0].update(fields)
    index.write_text(json.dumps(doc))


def _resign(catalogue_dir: Path, key: Path) -> None:
    """Sign the index entry again with another key (a host swapping in its own signature)."""
    from neuralpatch.engine.market_signing import sign_entry

    entry = read_catalogue_dir(catalogue_dir).entries[0]
    _edit_entry(catalogue_dir, signature=sign_entry(entry, load_private_key(key)).to_dict())


CASES = {
    "flipped byte": (_flip_byte, "sha256 does not match"),
    "oversized file": (_grow, "larger than the"),
    "name escaping": (
        lambda d: _edit_entry(d, name="../../x.specialneurons"),
        "path separator",
    ),
    "file escaping": (
        lambda d: _edit_entry(d, file="../../x.specialneurons"),
        "not a relative path",
    ),
    "changed version": (lambda d: _edit_entry(d, version=7), "signature does not match"),
    "unsigned": (lambda d: _edit_entry(d, signature=None), "is not signed"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_download_is_refused_and_writes_nothing(
    case, catalogue_dir, server, keys, system, tmp_path
):
    spoil, expected = CASES[case]
    spoil(catalogue_dir)
    patches = tmp_path / "patches"
    patches.mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    location, catalogue = fetch_catalogue(server.url)
    name = "../../x.specialneurons" if case == "name escaping" else "felix cats"
    trusted = load_public_key(str(keys["publisher"]) + ".pub")
    with pytest.raises(CatalogueError) as refused:
        install(location, catalogue, name, patches, system, trusted=trusted)
    message = str(refused.value)
    assert expected in message and "\n" not in message
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # not even a temp file
    assert not (tmp_path.parent / "x.specialneurons").exists()


def test_a_signature_by_another_key_is_refused(catalogue_dir, server, keys, system, tmp_path):
    _resign(catalogue_dir, keys["other"])
    location, catalogue = fetch_catalogue(server.url)
    with pytest.raises(CatalogueError, match="not by the trusted key"):
        install(
            location,
            catalogue,
            "felix cats",
            tmp_path / "p",
            system,
            trusted=load_public_key(str(keys["publisher"]) + ".pub"),
        )
    assert not (tmp_path / "p").exists()


def test_install_from_a_plain_folder(catalogue_dir, trained, system, tmp_path):
    location, catalogue = fetch_catalogue(str(catalogue_dir))
    done = install(location, catalogue, "felix cats", tmp_path / "p", system)
    assert done.path.read_bytes() == trained.read_bytes()


def test_a_patch_for_another_base_network_is_not_installed(trained, system, tmp_path):
    patch = load_patch(trained)
    patch.base_fingerprint = "0123456789abcdef"
    other = save_patch(patch, tmp_path / "other.specialneurons")
    publish([other], tmp_path / "cat")
    location, catalogue = fetch_catalogue(str(tmp_path / "cat"))
    with pytest.raises(CatalogueError, match="different base network"):
        install(location, catalogue, "felix cats", tmp_path / "p", system)
    assert not (tmp_path / "p").exists()


def test_versions_stay_listed_and_update_replaces_in_place(trained, system, tmp_path):
    v2 = load_patch(trained)
    v2.bias = v2.bias + 0.5
    v2.created = "2030-01-01T00:00:00+00:00"
    newer = save_patch(v2, tmp_path / "newer.specialneurons")
    folder = tmp_path / "cat"
    publish([trained], folder)
    location, catalogue = fetch_catalogue(str(folder))
    first = install(location, catalogue, "felix cats", tmp_path / "p", system, version=1)
    publish([newer], folder)
    location, catalogue = fetch_catalogue(str(folder))
    assert [e.version for e in catalogue.versions("felix cats")] == [1, 2]
    (upgrade,), current = plan_updates(catalogue, tmp_path / "p", system)
    assert (upgrade.current.version, upgrade.newer.version, current) == (1, 2, [])
    done = install(location, catalogue, "felix cats", tmp_path / "p", system)
    assert done.path == first.path and done.replaced is not None
    assert done.path.read_bytes() == newer.read_bytes()
    assert plan_updates(catalogue, tmp_path / "p", system)[0] == []


def test_publish_requires_an_icon_and_a_description(trained, tmp_path):
    patch = load_patch(trained)
    patch.icon_png, patch.description = None, ""
    bare = save_patch(patch, tmp_path / "bare.specialneurons")
    with pytest.raises(CatalogueError) as refused:
        publish([trained, bare], tmp_path / "cat")
    assert "bare.specialneurons" in str(refused.value)
    assert "a description" in str(refused.value) and "an icon" in str(refused.value)
    assert not (tmp_path / "cat").exists()  # the good file was not published either


def test_a_locally_trained_file_of_that_name_is_never_overwritten(
    trained, catalogue_dir, system, tmp_path
):
    patches = tmp_path / "p"
    patches.mkdir()
    local = load_patch(trained)
    local.bias = local.bias - 1
    save_patch(local, patches / "felix_cats.specialneurons")
    before = (patches / "felix_cats.specialneurons").read_bytes()
    location, catalogue = fetch_catalogue(str(catalogue_dir))
    with pytest.raises(CatalogueError, match="not installed from this catalogue"):
        install(location, catalogue, "felix cats", patches, system)
    assert (patches / "felix_cats.specialneurons").read_bytes() == before


def test_a_served_index_names_every_problem_and_keeps_good_entries(catalogue_dir, tmp_path):
    doc = json.loads((catalogue_dir / "index.json").read_text())
    doc["entries"].append(dict(doc["entries"][0], name="a/b", version=1))
    (catalogue_dir / "index.json").write_text(json.dumps(doc))
    _, catalogue = fetch_catalogue(str(catalogue_dir))
    assert [e.name for e in catalogue.entries] == ["felix cats"]
    assert len(catalogue.problems) == 1 and "'a/b'" in catalogue.problems[0]
    shutil.rmtree(catalogue_dir / "patches")
    (catalogue_dir / "index.json").write_text('{"format": "neuralpatch-catalogue", "x": NaN}')
    with pytest.raises(CatalogueError, match="not a valid JSON index"):
        fetch_catalogue(str(catalogue_dir))


def test_a_same_name_file_trained_here_is_kept_and_reported(
    trained, catalogue_dir, system, tmp_path
):
    patches = tmp_path / "p"
    patches.mkdir()
    local = load_patch(trained)
    local.bias = local.bias + 2
    save_patch(local, patches / "mine.specialneurons")
    location, catalogue = fetch_catalogue(str(catalogue_dir))
    done = install(location, catalogue, "felix cats", patches, system)
    assert done.same_name == (patches / "mine.specialneurons",)
    assert sorted(p.name for p in patches.iterdir()) == [
        "felix_cats.specialneurons",
        "mine.specialneurons",
    ]
