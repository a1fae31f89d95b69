"""What a live-testing run uses: the options of `neuralpatch camera`, with the base loaded.

Built by the CLI before the screen starts (the screen never sees argparse), and usable from
Python to run the same screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.folder_source import DEFAULT_FOLDER_INTERVAL_S


@dataclass
class CameraConfig:
    """What the screen runs: the options of `neuralpatch camera`, with the base loaded."""

    base: BaseNetwork
    source: str = "0"
    patches: str | None = None
    datasets: list[str] = field(default_factory=list)
    min_probability: float = 0.0
    min_confidence: float | None = None  # overrides the patches' own thresholds
    top_k: int = 5
    interval: float = DEFAULT_FOLDER_INTERVAL_S
    realtime: bool = True
