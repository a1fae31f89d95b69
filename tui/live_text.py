"""The words and badges a live screen shows for one pass: frame title, speed, icon overlays."""

from __future__ import annotations

import itertools

from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.safe_text import printable
from neuralpatch.tui.image_view import Overlay


def stats_line(result: LiveResult) -> str:
    return (
        f"{result.fps:.1f} fps · base {result.base_ms:.1f} ms + patches "
        f"{result.patches_ms:.2f} ms · total {result.total_ms:.1f} ms"
    )


def frame_title(result: LiveResult) -> str:
    """`tree.avi · frame 70 · ↻ loop 2`: a file source that started again says so."""
    frame = result.frame
    title = f"{printable(frame.label)} · frame {frame.number:,}"
    return title + (f" · ↻ loop {frame.loop + 1}" if frame.loop else "")


MAX_OVERLAYS = 12  # icons stack in the corners and badges share one row: more never fit


def overlays_for(result: LiveResult, limit: int = MAX_OVERLAYS) -> list[Overlay]:
    """Each patch that ran (the first `limit`): its icon over the frame, or its name in a
    badge without one."""
    return [
        Overlay(icon=r.icon_rgba) if r.icon_rgba is not None else Overlay(label=printable(r.name))
        for _, r in itertools.islice(result.result.walk(), limit)
    ]
