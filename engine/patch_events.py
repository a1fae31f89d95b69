"""What changed in a patch system: the events listeners and `patches --watch` see."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from neuralpatch.engine.patch_file import PATCH_SUFFIX

if TYPE_CHECKING:
    from neuralpatch.engine.patch_index import PatchIndex

EventKind = Literal["loaded", "replaced", "removed", "rejected", "disabled", "enabled"]


@dataclass(frozen=True)
class PatchEvent:
    """One change to the patch system, as listeners and `neuralpatch patches --watch` see it.

    `loaded`/`replaced`: the file now runs (a new path / a new version of a known path).
    `removed`: the file is gone and no longer runs. `rejected`: the file cannot be used
    (`reason` says why); a previous version of it, if any, keeps running. `disabled`/`enabled`:
    a loaded patch stopped or started running because of another one (a trigger cycle, or a
    newer file with the same patch name); `reason` says why.
    """

    kind: EventKind
    path: Path
    name: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "file": str(self.path),
            "name": self.name,
            "reason": self.reason,
        }


def is_patch_file(path: str | Path) -> bool:
    """A `*.specialneurons` name that is not hidden (write_atomic's temp files are)."""
    name = Path(path).name
    return name.endswith(PATCH_SUFFIX) and not name.startswith(".")


def status_changes(before: dict[Path, str | None], index: PatchIndex) -> list[PatchEvent]:
    """`disabled`/`enabled` events for patches whose running state changed."""
    events = []
    for p in index.patches:
        if p.disabled is not None and before.get(p.path) != p.disabled:
            events.append(PatchEvent("disabled", p.path, p.name, p.disabled))
        elif p.disabled is None and before.get(p.path) is not None:
            events.append(PatchEvent("enabled", p.path, p.name))
    return events
