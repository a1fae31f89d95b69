"""Publishing plugin files into a catalogue folder.

Each file is loaded (so only a valid plugin is ever listed), checked for what a market entry
needs (a description and an icon, beyond what every plugin has), copied in under a versioned,
content-addressed name that is never reused, and listed in `index.json`, which is rewritten
atomically last: a reader sees the old index or the new one, and every file an index names
is already whole. Older versions stay listed; publishing the same bytes again changes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.catalogue import (
    INDEX_NAME,
    Catalogue,
    CatalogueError,
    Entry,
    check_name,
    read_catalogue_dir,
    write_index,
)
from neuralpatch.engine.classes import BaseClasses, imagenet_classes
from neuralpatch.engine.market_fetch import patch_from_bytes
from neuralpatch.engine.market_signing import sign_entry
from neuralpatch.engine.patch_file import PATCH_SUFFIX, PatchFile, load_patch, now_iso, safe_name

PATCH_FOLDER = "patches"
ICON_FOLDER = "icons"
LOCK_NAME = ".publish.lock"  # hidden: the server never serves it


@dataclass(frozen=True)
class Published:
    """One file's outcome: its entry, and whether it is new (False: already listed)."""

    source: Path
    entry: Entry
    new: bool


def market_problems(patch: PatchFile) -> list[str]:
    """What a valid plugin still lacks to be a market entry (the seeds: a valid icon)."""
    problems = []
    if not patch.description.strip():
        problems.append("a description (train with --description)")
    if patch.icon_png is None:
        problems.append("an icon (train with --icon PNG)")
    name_problem = check_name(patch.name)
    if name_problem:
        problems.append(f"a usable name: {name_problem}")
    return problems


def publish(
    paths: Iterable[str | Path],
    catalogue_dir: str | Path,
    *,
    key: Ed25519PrivateKey | None = None,
    classes: BaseClasses | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Published]:
    """Add the plugin files to the catalogue in `catalogue_dir` (created if missing).

    All files are checked before anything is written, so one bad file publishes nothing.
    `classes` names the trigger tags the base network knows (default: the ImageNet classes of
    the packaged base network); other tags are named after the catalogue's outputs that
    answer them (a slave patch's master).
    """
    classes = classes or imagenet_classes()
    folder = Path(catalogue_dir)
    paths = [Path(p) for p in paths]
    loaded: list[tuple[Path, bytes, PatchFile]] = []
    for path in paths:
        load_patch(path)  # size and kind checked before reading; the error names the file
        data = path.read_bytes()
        patch = patch_from_bytes(data, str(path))  # the very bytes that are copied
        problems = market_problems(patch)
        if problems:
            raise CatalogueError(f"{path}: a market entry needs {'; '.join(problems)}")
        loaded.append((path, data, patch))
    if folder.exists() and not folder.is_dir():
        raise CatalogueError(f"{folder}: not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    with _publish_lock(folder):
        return _publish_loaded(folder, loaded, key, classes, on_progress)


@contextlib.contextmanager
def _publish_lock(folder: Path) -> Iterator[None]:
    """Two publishers at once would each rewrite the index and lose the other's entry."""
    with open(folder / LOCK_NAME, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _publish_loaded(
    folder: Path,
    loaded: list[tuple[Path, bytes, PatchFile]],
    key: Ed25519PrivateKey | None,
    classes: BaseClasses,
    on_progress: Callable[[int, int], None] | None,
) -> list[Published]:
    catalogue = read_catalogue_dir(folder)
    names = _output_names(catalogue, [p for _, _, p in loaded])
    results = []
    for i, (path, data, patch) in enumerate(loaded):
        digest = hashlib.sha256(data).hexdigest()
        listed = next((e for e in catalogue.versions(patch.name) if e.sha256 == digest), None)
        if listed is not None:
            results.append(Published(path, listed, new=False))
            continue
        entry = _entry_for(catalogue, patch, data, digest, classes, names)
        (folder / PATCH_FOLDER).mkdir(parents=True, exist_ok=True)
        write_atomic(folder / entry.file, data)
        if patch.icon_png is not None and entry.icon is not None:
            (folder / ICON_FOLDER).mkdir(exist_ok=True)
            write_atomic(folder / entry.icon, patch.icon_png)
        if key is not None:
            entry = replace(entry, signature=sign_entry(entry, key))
        catalogue.entries.append(entry)
        results.append(Published(path, entry, new=True))
        if on_progress is not None:
            on_progress(i + 1, len(loaded))
    if any(r.new for r in results) or not (folder / INDEX_NAME).exists():
        write_index(folder, catalogue)
    return results


def _entry_for(
    catalogue: Catalogue,
    patch: PatchFile,
    data: bytes,
    digest: str,
    classes: BaseClasses,
    output_names: dict[int, str],
) -> Entry:
    previous = catalogue.latest(patch.name)
    version = previous.version + 1 if previous else 1
    stem = f"{safe_name(patch.name)}-{version}-{digest[:12]}"
    icon = patch.icon_png
    icon_sha = hashlib.sha256(icon).hexdigest() if icon is not None else None

    def trigger_name(tag: str) -> str | None:
        return classes.name_of_tag(tag) or output_names.get(int(tag[1:]))

    return Entry(
        name=patch.name,
        version=version,
        description=patch.description,
        created=patch.created,
        published=now_iso(),
        outputs=tuple((o.tag, o.name) for o in patch.outputs),
        triggers=tuple((t, trigger_name(t)) for t in patch.triggers),
        base_fingerprint=patch.base_fingerprint,
        feature_dim=patch.feature_dim,
        file=f"{PATCH_FOLDER}/{stem}{PATCH_SUFFIX}",
        size=len(data),
        sha256=digest,
        icon=f"{ICON_FOLDER}/{icon_sha[:16]}.png" if icon_sha else None,
        icon_size=len(icon) if icon is not None else None,
        icon_sha256=icon_sha,
    )


def _output_names(catalogue: Catalogue, patches: list[PatchFile]) -> dict[int, str]:
    """Tag number -> output name over the catalogue and the files being published."""
    names = {int(t[1:]): n for e in catalogue.entries for t, n in e.outputs}
    names |= {int(o.tag[1:]): o.name for p in patches for o in p.outputs}
    return names
