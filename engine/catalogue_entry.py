"""One catalogue entry: a published version of a patch, and the rules an index entry obeys.

Parsing raises ValueError with the reason, which `catalogue.parse_index` turns into a
problem naming the entry; the entry is then set aside, never installed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.patch_file import (
    MAX_DESCRIPTION_LEN,
    MAX_ICON_BYTES,
    MAX_NAME_LEN,
    MAX_PATCH_BYTES,
    PATCH_SUFFIX,
)
from neuralpatch.engine.safe_text import printable

MAX_PATH_LEN = 512
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_PATH_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_NAME_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")


class CatalogueError(NeuralpatchError):
    """A catalogue, an index entry or a download that cannot be used; nothing was written."""


@dataclass(frozen=True)
class Signature:
    """An Ed25519 signature of an entry's signed message (see `market_signing`)."""

    key_id: str
    value: str  # base64 of the 64 signature bytes

    def to_dict(self) -> dict[str, str]:
        return {"algorithm": "ed25519", "key_id": self.key_id, "value": self.value}


@dataclass(frozen=True)
class Entry:
    """One published version of a patch, as `index.json` lists it."""

    name: str
    version: int
    description: str
    created: str
    published: str
    outputs: tuple[tuple[str, str], ...]  # (tag, name), in neuron order
    triggers: tuple[tuple[str, str | None], ...]  # (tag, name when known)
    base_fingerprint: str
    feature_dim: int
    file: str  # relative to the catalogue root
    size: int
    sha256: str
    icon: str | None = None
    icon_size: int | None = None
    icon_sha256: str | None = None
    signature: Signature | None = None

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "created": self.created,
            "published": self.published,
            "outputs": [{"tag": t, "name": n} for t, n in self.outputs],
            "triggers": [{"tag": t, "name": n} for t, n in self.triggers],
            "base_fingerprint": self.base_fingerprint,
            "feature_dim": self.feature_dim,
            "file": self.file,
            "size": self.size,
            "sha256": self.sha256,
            "icon": self.icon,
            "icon_size": self.icon_size,
            "icon_sha256": self.icon_sha256,
            "signature": self.signature.to_dict() if self.signature else None,
        }

    def matches(self, query: str) -> bool:
        """Every word of `query` appears in the name, description, outputs or triggers."""
        text = " ".join(
            [self.name, self.description]
            + [f"{t} {n}" for t, n in self.outputs]
            + [f"{t} {n or ''}" for t, n in self.triggers]
        ).casefold()
        return all(word in text for word in query.casefold().split())


def check_name(name: str) -> str | None:
    """Why `name` cannot be an index entry's name, or None: it must not look like a path."""
    if not name or len(name) > MAX_NAME_LEN:
        return f"the name must be 1-{MAX_NAME_LEN} characters"
    if _NAME_FORBIDDEN.search(name) or name.strip() in (".", ".."):
        return "the name contains a path separator or a control character"
    if printable(name) != name:  # it is shown in every listing and message: keep it plain
        return "the name contains control or format characters"
    return None


def check_relative(path: Any, suffix: str) -> str | None:
    """Why `path` is not a safe file path inside a catalogue, or None.

    Relative, `/`-separated, plain ASCII parts (no `..`, no hidden parts, no drive or
    scheme), ending in `suffix`: so no reader can be led outside the catalogue folder.
    """
    if not isinstance(path, str) or not 0 < len(path) <= MAX_PATH_LEN:
        return f"is not a path of 1-{MAX_PATH_LEN} characters"
    parts = path.split("/")
    if not all(_PATH_PART.fullmatch(p) for p in parts):
        return f"{path[:80]!r} is not a relative path of plain names inside the catalogue"
    if not path.endswith(suffix):
        return f"{path[:80]!r} does not end in {suffix}"
    return None


# -- parsing one entry (raises ValueError with the reason) ------------------------------
def parse_entry(item: Any) -> Entry:
    if not isinstance(item, dict):
        raise ValueError("is not an object")
    name = _get(item, "name", str)
    problem = check_name(name)
    if problem:
        raise ValueError(problem)
    file, icon = _get(item, "file", str), _get(item, "icon", (str, type(None)))
    for key, path, suffix in (("file", file, PATCH_SUFFIX), ("icon", icon, ".png")):
        problem = None if path is None else check_relative(path, suffix)
        if problem:
            raise ValueError(f"{key} {problem}")
    size = _get(item, "size", int)
    if not 12 <= size <= MAX_PATCH_BYTES:
        raise ValueError(f"size {size} is outside [12, {MAX_PATCH_BYTES}]")
    icon_size = _get(item, "icon_size", (int, type(None)))
    icon_sha = _get(item, "icon_sha256", (str, type(None)))
    if icon is not None and (icon_size is None or not 0 < icon_size <= MAX_ICON_BYTES):
        raise ValueError(f"icon_size must be 1-{MAX_ICON_BYTES} when there is an icon")
    if (icon is None) != (icon_sha is None) or (icon_sha and not _HEX64.fullmatch(icon_sha)):
        raise ValueError("icon_sha256 must be 64 lowercase hex digits exactly when icon is set")
    return Entry(
        name=name,
        version=_bounded(_get(item, "version", int), "version", 1, 10**9),
        description=_text(item, "description", MAX_DESCRIPTION_LEN, empty=True),
        created=_text(item, "created", 64),
        published=_text(item, "published", 64),
        outputs=tuple(_pairs(item, "outputs", required_names=True)),
        triggers=tuple(_pairs(item, "triggers", required_names=False)),
        base_fingerprint=_text(item, "base_fingerprint", 256),
        feature_dim=_bounded(_get(item, "feature_dim", int), "feature_dim", 1, 1 << 16),
        file=file,
        size=size,
        sha256=_hex(item, "sha256"),
        icon=icon,
        icon_size=icon_size,
        icon_sha256=icon_sha,
        signature=_signature(_get(item, "signature", (dict, type(None)))),
    )


def _get(obj: dict[str, Any], key: str, kinds: type | tuple[type, ...]) -> Any:
    if key not in obj:
        raise ValueError(f"missing field {key!r}")
    value = obj[key]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ValueError(f"field {key!r} has the wrong type ({type(value).__name__})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"field {key!r} is not finite")
    return value


def _text(obj: dict[str, Any], key: str, limit: int, empty: bool = False) -> str:
    value = _get(obj, key, str)
    if (not value and not empty) or len(value) > limit:
        raise ValueError(f"field {key!r} must be {0 if empty else 1}-{limit} characters")
    return value


def _bounded(value: int, key: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"field {key!r} = {value} is outside [{low}, {high}]")
    return value


def _hex(obj: dict[str, Any], key: str) -> str:
    value = _get(obj, key, str)
    if not _HEX64.fullmatch(value):
        raise ValueError(f"field {key!r} must be 64 lowercase hex digits")
    return value


def _pairs(obj: dict[str, Any], key: str, required_names: bool) -> Iterable[tuple[str, Any]]:
    items = _get(obj, key, list)
    if not items:
        raise ValueError(f"field {key!r} is empty")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{key}[{i}] is not an object")
        tag = _text(item, "tag", 64)
        name = _get(item, "name", str if required_names else (str, type(None)))
        yield tag, name


def _signature(raw: dict[str, Any] | None) -> Signature | None:
    if raw is None:
        return None
    if raw.get("algorithm") != "ed25519":
        raise ValueError("signature.algorithm must be 'ed25519'")
    key_id, value = _get(raw, "key_id", str), _get(raw, "value", str)
    if not _HEX16.fullmatch(key_id) or len(value) > 200:
        raise ValueError("signature.key_id must be 16 lowercase hex digits")
    return Signature(key_id, value)
