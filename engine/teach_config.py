"""What a teach run uses: the options of `neuralpatch teach`, with the base loaded.

Built by the CLI (or by the camera screen's teach key) before the screen starts, and usable
from Python to run the same screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.camera_config import CameraConfig
from neuralpatch.engine.folder_source import DEFAULT_FOLDER_INTERVAL_S
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.snap_to_dataset import SnapTarget
from neuralpatch.engine.snapshot import SNAPSHOT_SUFFIX


@dataclass
class TeachConfig:
    """What the screen runs: the options of `neuralpatch teach`, with the base loaded."""

    base: BaseNetwork
    dataset: str | Path
    source: str = "0"
    patches: str | None = None
    resume: str | None = None
    out: str | None = None
    interval: float = DEFAULT_FOLDER_INTERVAL_S
    realtime: bool = True


def teach_config_for(
    camera: CameraConfig, system: PatchSystem, targets: list[SnapTarget]
) -> TeachConfig | None:
    """Teach mode from the camera screen: the dataset of a loaded patch (else the first
    --dataset), starting from that patch's snapshot when it sits beside it."""
    chosen = next((t for t in targets if t.patches), targets[0] if targets else None)
    if chosen is None:
        return None
    snapshots = [
        p.path.with_suffix(SNAPSHOT_SUFFIX)
        for p in system.patches
        if p.name in chosen.patches and p.path.with_suffix(SNAPSHOT_SUFFIX).is_file()
    ]
    resume = str(snapshots[0]) if snapshots else None
    return TeachConfig(
        camera.base, chosen.root, camera.source, camera.patches, resume, interval=camera.interval
    )
