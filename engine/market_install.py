"""Installing catalogue entries into a patch folder, and upgrading the installed ones.

A download is verified and validated in memory first (`market_fetch.download_entry`), then
checked against the running base network (`PatchSystem.refusal`), then written with one
atomic rename into the folder, so a running camera or teach screen hot-reloads it at once
and nothing is written at all when any check fails. One version of a patch is installed at
a time: a newer (or older) version of a patch installed from a catalogue replaces its file,
as pip replaces a package; a file the catalogue does not know is never overwritten.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.catalogue import Catalogue, CatalogueError, Entry
from neuralpatch.engine.errors import PatchFormatError
from neuralpatch.engine.market_fetch import TIMEOUT_S, Location, Progress, download_entry
from neuralpatch.engine.market_signing import verify_entry
from neuralpatch.engine.patch_file import PATCH_SUFFIX, load_patch, safe_name
from neuralpatch.engine.patch_system import PatchSystem, is_patch_file


@dataclass(frozen=True)
class InstalledFile:
    """A patch file in a patch folder: its path, patch name and sha256."""

    path: Path
    name: str
    sha256: str


@dataclass(frozen=True)
class Installed:
    """What `install` did: the entry, the file it is in, and the file it replaced."""

    entry: Entry
    path: Path
    replaced: InstalledFile | None = None
    already: bool = False  # the same bytes were installed already: nothing was written
    verified_key: str | None = None  # key id of the trusted signature checked
    # Other files holding a patch of the same name (e.g. trained here): the patch system runs
    # only the newest of them, so the user should hear about it.
    same_name: tuple[Path, ...] = ()


def installed_files(folder: str | Path) -> list[InstalledFile]:
    """The valid patch files directly in `folder` (others cannot be market installs)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for name in sorted(os.listdir(folder)):
        path = folder / name
        if not is_patch_file(name):
            continue
        try:
            patch = load_patch(path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except (PatchFormatError, OSError):
            continue
        found.append(InstalledFile(path, patch.name, digest))
    return found


def best_entry(catalogue: Catalogue, name: str, version: int | None, system: PatchSystem) -> Entry:
    """The version asked for, else the newest version that fits the base network (else the
    newest, so the refusal names what does not fit)."""
    if version is not None:
        return catalogue.find(name, version)
    catalogue.find(name)  # a clear error when the name is unknown or refused
    fitting = [e for e in catalogue.versions(name) if fits(e, system)]
    return fitting[-1] if fitting else catalogue.versions(name)[-1]


def fits(entry: Entry, system: PatchSystem) -> bool:
    """Whether the index says the entry was trained on this base network."""
    return (
        entry.base_fingerprint == system.base_fingerprint
        and entry.feature_dim == system.feature_dim
    )


def install(
    location: Location,
    catalogue: Catalogue,
    name: str,
    patch_dir: str | Path,
    system: PatchSystem,
    *,
    version: int | None = None,
    trusted: Ed25519PublicKey | None = None,
    timeout: float = TIMEOUT_S,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Installed:
    """Download, verify and install `name` (newest fitting version, or `version`)."""
    entry = best_entry(catalogue, name, version, system)
    return install_entry(
        location,
        catalogue,
        entry,
        patch_dir,
        system,
        trusted=trusted,
        timeout=timeout,
        on_progress=on_progress,
        stop=stop,
    )


def install_entry(
    location: Location,
    catalogue: Catalogue,
    entry: Entry,
    patch_dir: str | Path,
    system: PatchSystem,
    *,
    trusted: Ed25519PublicKey | None = None,
    timeout: float = TIMEOUT_S,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Installed:
    folder = Path(os.path.abspath(patch_dir))
    if folder.exists() and not folder.is_dir():
        raise CatalogueError(f"{folder}: not a folder")
    present = installed_files(folder)
    key = entry.signature.key_id if trusted is not None and entry.signature else None
    same = next((f for f in present if f.sha256 == entry.sha256), None)
    if same is not None:  # these very bytes are installed: only the signature is left to check
        if trusted is not None:
            verify_entry(entry, trusted)
        return Installed(entry, same.path, already=True, verified_key=key)
    target, replaced = _target(folder, entry, catalogue, present)
    if not fits(entry, system):  # known from the index: spare the download
        raise CatalogueError(
            f"{entry.spec}: cannot run here: it was trained on a different base network "
            f"(fingerprint {entry.base_fingerprint}, {entry.feature_dim} features; the running "
            f"base network is {system.base_fingerprint}, {system.feature_dim}); not installed"
        )
    data, patch = download_entry(
        location, entry, trusted=trusted, timeout=timeout, on_progress=on_progress, stop=stop
    )
    refusal = system.refusal(patch)
    if refusal is not None:
        raise CatalogueError(f"{entry.spec}: cannot run here: {refusal}; not installed")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data)
    others = tuple(f.path for f in present if f.name == entry.name and f.path != target)
    return Installed(entry, target, replaced, verified_key=key, same_name=others)


def _target(
    folder: Path, entry: Entry, catalogue: Catalogue, present: list[InstalledFile]
) -> tuple[Path, InstalledFile | None]:
    """Where the entry goes: over an installed version of it, else `<safe name>.specialneurons`."""
    known = {e.sha256 for e in catalogue.versions(entry.name)}
    for f in present:
        if f.name == entry.name and f.sha256 in known:
            return f.path, f
    target = folder / (safe_name(entry.name) + PATCH_SUFFIX)
    if target.parent != folder or not is_patch_file(target.name):  # safe_name ensures it
        raise CatalogueError(f"index entry {entry.name!r} would write outside {folder}; refused")
    if target.exists():
        holder = next((f for f in present if f.path == target), None)
        what = f"patch {holder.name!r}" if holder else "a file that is not a valid patch"
        raise CatalogueError(
            f"{target}: already holds {what}, not installed from this catalogue; "
            "move it away to install here"
        )
    return target, None


@dataclass(frozen=True)
class Upgrade:
    """An installed file with a newer version in the catalogue (`current` is its version)."""

    file: InstalledFile
    current: Entry
    newer: Entry


def plan_updates(
    catalogue: Catalogue, patch_dir: str | Path, system: PatchSystem
) -> tuple[list[Upgrade], list[tuple[InstalledFile, Entry]]]:
    """(upgrades available, files already at their newest fitting version).

    Only files whose bytes are a version of the catalogue count as installed from it; a
    locally trained patch of the same name is left alone.
    """
    by_sha = {e.sha256: e for e in catalogue.entries}
    upgrades, current = [], []
    for f in installed_files(patch_dir):
        entry = by_sha.get(f.sha256)
        if entry is None or entry.name != f.name:
            continue
        newer = [
            e for e in catalogue.versions(f.name) if e.version > entry.version and fits(e, system)
        ]
        if newer:
            upgrades.append(Upgrade(f, entry, newer[-1]))
        else:
            current.append((f, entry))
    return upgrades, current


@dataclass(frozen=True)
class EntryStatus:
    """How a catalogue entry stands here: fit with the base network, and what is installed."""

    entry: Entry
    fits: bool
    installed: InstalledFile | None = None  # a file holding a patch of this name
    installed_entry: Entry | None = None  # the catalogue version that file is, if any
    newest_fitting: Entry | None = None

    @property
    def update_available(self) -> bool:
        return (
            self.installed_entry is not None
            and self.newest_fitting is not None
            and self.newest_fitting.version > self.installed_entry.version
        )


def entry_statuses(
    catalogue: Catalogue, entries: list[Entry], files: list[InstalledFile], system: PatchSystem
) -> list[EntryStatus]:
    """The status of each entry (typically `catalogue.search(query)`) against `files`."""
    by_sha = {e.sha256: e for e in catalogue.entries}
    statuses = []
    for entry in entries:
        fitting = [e for e in catalogue.versions(entry.name) if fits(e, system)]
        mine = [f for f in files if f.name == entry.name]
        known = next(
            (f for f in mine if f.sha256 in by_sha and by_sha[f.sha256].name == entry.name), None
        )
        installed = known or (mine[0] if mine else None)
        statuses.append(
            EntryStatus(
                entry,
                fits(entry, system),
                installed,
                by_sha.get(installed.sha256) if known else None,
                fitting[-1] if fitting else None,
            )
        )
    return statuses
