"""The patch system loading real patch files: trigger cycles, refused and superseded files, a bad
file never replacing the running version, patches swapped while a camera thread classifies."""

from __future__ import annotations

import threading
from dataclasses import replace

from patch_system_helpers import DOMESTIC, UPRIGHT, tree

from neuralpatch.engine.patch_file import save_patch
from neuralpatch.engine.patch_system import PatchSystem


def test_a_trigger_cycle_is_reported_and_the_rest_still_runs(
    base_network, master, slave, frames, tmp_path
):
    system = PatchSystem.for_base(base_network)
    looping = replace(master, triggers=[*master.triggers, UPRIGHT])  # wakes on the slave's output
    save_patch(looping, tmp_path / "a.specialneurons")
    save_patch(slave, tmp_path / "b.specialneurons")
    save_patch(replace(master, name="cats again"), tmp_path / "c.specialneurons")
    events = system.load_dir(tmp_path)
    disabled = [e for e in events if e.kind == "disabled"]
    assert [e.name for e in disabled] == ["felix cats", "cat orientation"]
    for e in disabled:
        assert "trigger cycle felix cats → cat orientation → felix cats" in e.reason
    assert system.index.cycles == (("felix cats", "cat orientation", "felix cats"),)
    assert tree(system.classify(*frames["chelsea"])) == [(0, "cats again", "domestic_cat")]
    events = system.remove(tmp_path / "a.specialneurons")
    assert [(e.kind, e.name) for e in events] == [
        ("removed", "felix cats"),
        ("enabled", "cat orientation"),
    ]
    assert system.index.cycles == ()
    assert tree(system.classify(*frames["chelsea"])) == [
        (0, "cats again", "domestic_cat"),
        (1, "cat orientation", "upright"),
    ]


def test_a_patch_answering_its_own_trigger_is_no_cycle(base_network, master, frames):
    system = PatchSystem.for_base(base_network)
    system.add("own.specialneurons", replace(master, triggers=[*master.triggers, DOMESTIC]))
    assert system.index.cycles == () and system.patches[0].disabled is None
    assert tree(system.classify(*frames["chelsea"])) == [(0, "felix cats", "domestic_cat")]


def test_another_base_network_is_refused_saying_so(base_network, master, tmp_path):
    system = PatchSystem.for_base(base_network)
    save_patch(
        replace(master, base_fingerprint="0123456789abcdef"), tmp_path / "old.specialneurons"
    )
    save_patch(
        replace(master, weights=master.weights[:, :640].copy()), tmp_path / "small.specialneurons"
    )
    events = {e.path.name: e for e in system.load_dir(tmp_path)}
    assert {e.kind for e in events.values()} == {"rejected"} and system.patches == ()
    reason = events["old.specialneurons"].reason
    assert "different base network" in reason and "0123456789abcdef" in reason
    assert base_network.fingerprint in reason
    assert "reads 640 features but the base network gives 1280" in (
        events["small.specialneurons"].reason
    )
    assert set(system.rejected) == {
        tmp_path / "old.specialneurons",
        tmp_path / "small.specialneurons",
    }


def test_a_bad_file_never_replaces_the_running_version(cascade, master, frames, tmp_path):
    path = tmp_path / "felix_cats.specialneurons"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    (event,) = cascade.refresh([path])
    assert event.kind == "rejected" and "previous version keeps running" in event.reason
    assert cascade.rejected[path].startswith("truncated")
    assert tree(cascade.classify(*frames["chelsea"]))[0] == (0, "felix cats", "domestic_cat")
    assert cascade.refresh([path]) == []  # the same bad bytes are not reported twice
    path.write_bytes(good)
    assert [e.kind for e in cascade.refresh([path])] == ["replaced"]
    assert cascade.rejected == {}


def test_a_newer_file_with_the_same_name_supersedes(base_network, master, tmp_path):
    system = PatchSystem.for_base(base_network)
    for name, created in (
        ("old", "2024-01-01T00:00:00+00:00"),
        ("new", "2025-01-01T00:00:00+00:00"),
    ):
        save_patch(replace(master, created=created), tmp_path / f"{name}.specialneurons")
    system.load_dir(tmp_path)
    old, new = sorted(system.patches, key=lambda p: p.path.name, reverse=True)
    assert new.disabled is None and old.disabled.startswith("superseded by new.specialneurons")
    assert system.index.enabled == (new,)


def test_classifying_while_patches_are_swapped(cascade, slave, frames, tmp_path):
    """A camera thread classifies while another thread swaps the slave in and out."""
    path = tmp_path / "cat_orientation.specialneurons"
    stop, seen, errors = threading.Event(), set(), []

    def camera() -> None:
        while not stop.is_set():
            try:
                seen.add(tuple(tree(cascade.classify(*frames["chelsea"]))))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

    worker = threading.Thread(target=camera)
    worker.start()
    for _ in range(30):
        cascade.remove(path)
        cascade.add(path, slave)
    stop.set()
    worker.join()
    assert errors == []
    assert seen <= {
        ((0, "felix cats", "domestic_cat"),),
        ((0, "felix cats", "domestic_cat"), (1, "cat orientation", "upright")),
    }
