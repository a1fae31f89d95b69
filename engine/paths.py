"""Where Neuralpatch keeps converted weights, kernel builds and feature caches."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir(*parts: str) -> Path:
    """The user cache folder (or `$NEURALPATCH_CACHE_DIR`), with `parts` below it, created."""
    root = os.environ.get("NEURALPATCH_CACHE_DIR") or platformdirs.user_cache_dir("neuralpatch")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
