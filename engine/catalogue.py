"""A patch catalogue: a static folder with `index.json`, the plugin files and their icons.

Any web server, object store or file share can host one (the format is in docs/market.md).
The index lists every published version of every patch with its sha256, size and optional
Ed25519 signature, so a client can check a download before anything is written. An entry
that breaks a rule is set aside with the reason (`Catalogue.problems`) and can never be
installed; the rest of the index stays usable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.catalogue_entry import (
    CatalogueError,
    Entry,
    Signature,
    check_name,
    check_relative,
    parse_entry,
)
from neuralpatch.engine.patch_file import now_iso

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Entry",
    "Signature",
    "check_name",
    "check_relative",
    "parse_index",
]

INDEX_NAME = "index.json"
FORMAT = "neuralpatch-catalogue"
FORMAT_VERSION = 1
MAX_INDEX_BYTES = 16 << 20
MAX_ENTRIES = 100_000


@dataclass
class Catalogue:
    """The usable entries of an index, and why the others were set aside."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # entry name -> reason
    updated: str = ""

    def versions(self, name: str) -> list[Entry]:
        """Every version of `name`, oldest first."""
        return sorted((e for e in self.entries if e.name == name), key=lambda e: e.version)

    def latest(self, name: str) -> Entry | None:
        found = self.versions(name)
        return found[-1] if found else None

    def search(self, query: str = "") -> list[Entry]:
        """The newest version of each patch matching `query`, sorted by name."""
        newest: dict[str, Entry] = {}
        for e in self.entries:
            if e.matches(query) and (e.name not in newest or e.version > newest[e.name].version):
                newest[e.name] = e
        return sorted(newest.values(), key=lambda e: (e.name.casefold(), e.name))

    def find(self, name: str, version: int | None = None) -> Entry:
        """The entry `name` (newest, or `version`); an error says what exists instead."""
        found = self.versions(name)
        if not found and name in self.refused:
            raise CatalogueError(f"index entry {name!r} is refused: {self.refused[name]}")
        if not found:
            raise CatalogueError(f"no patch named {name!r} in the catalogue")
        if version is None:
            return found[-1]
        for e in found:
            if e.version == version:
                return e
        listed = ", ".join(str(e.version) for e in found)
        raise CatalogueError(f"{name!r} has no version {version} (versions: {listed})")


def parse_spec(spec: str) -> tuple[str, int | None]:
    """`NAME[@VERSION]`; an `@` not followed by digits only belongs to the name."""
    name, at, version = spec.rpartition("@")
    if at and name and version.isdigit():
        return name, int(version)
    return spec, None


def parse_index(data: bytes, where: str) -> Catalogue:
    """Read `index.json` bytes; `where` names it in errors (a path or a URL)."""
    try:
        doc = json.loads(
            data.decode("utf-8"),
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CatalogueError(f"{where}: not a valid JSON index: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CatalogueError(f"{where}: not a neuralpatch catalogue (format must be {FORMAT!r})")
    version = doc.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise CatalogueError(
            f"{where}: unknown format_version {version!r} (this version reads {FORMAT_VERSION})"
        )
    raw = doc.get("entries")
    if not isinstance(raw, list) or len(raw) > MAX_ENTRIES:
        raise CatalogueError(f"{where}: entries must be a list of at most {MAX_ENTRIES}")
    catalogue = Catalogue(updated=doc.get("updated") if isinstance(doc.get("updated"), str) else "")
    seen: set[tuple[str, int]] = set()
    for i, item in enumerate(raw):
        label = item.get("name") if isinstance(item, dict) else None
        label = label if isinstance(label, str) else f"#{i}"
        try:
            entry = parse_entry(item)
            if (entry.name, entry.version) in seen:
                raise ValueError(f"version {entry.version} is listed twice")
        except ValueError as exc:
            catalogue.problems.append(f"{where}: entry {label!r}: {exc}")
            catalogue.refused[label] = str(exc)
            continue
        seen.add((entry.name, entry.version))
        catalogue.entries.append(entry)
    return catalogue


def index_bytes(catalogue: Catalogue) -> bytes:
    """The index as written: entries by name, then version; strict JSON, UTF-8."""
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "updated": catalogue.updated or now_iso(),
        "entries": [
            e.to_dict() for e in sorted(catalogue.entries, key=lambda e: (e.name, e.version))
        ],
    }
    return (json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode()


def read_catalogue_dir(folder: Path) -> Catalogue:
    """The index of a local catalogue folder; an empty catalogue if it has none yet."""
    path = folder / INDEX_NAME
    if not path.exists():
        return Catalogue()
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_INDEX_BYTES + 1)
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read: {exc.strerror}") from exc
    if len(data) > MAX_INDEX_BYTES:
        raise CatalogueError(f"{path}: over the {MAX_INDEX_BYTES} byte limit")
    return parse_index(data, str(path))


def write_index(folder: Path, catalogue: Catalogue) -> Path:
    """Write `index.json` atomically: readers see the old or the new index, never half."""
    catalogue.updated = now_iso()
    return write_atomic(folder / INDEX_NAME, index_bytes(catalogue))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result
