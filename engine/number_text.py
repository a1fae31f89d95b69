"""Numbers and columns for people: `step 104,943`, `1,234/5,678 photos`, aligned tables.

Every text output (the apps, the headless progress line, the commands' text) formats counts
through here, so a number above 999 always has its separators. `--json` keeps plain numbers
and never comes here. Column widths count terminal cells (a CJK letter is two), so names
in any script, and escaped ones, line up.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def count(value: int | float) -> str:
    """A whole number with thousands separators: `104,943`."""
    return f"{round(value):,}"


def fraction(done: int, total: int) -> str:
    """`1,234/5,678`."""
    return f"{count(done)}/{count(total)}"


def rate(per_second: float) -> str:
    """A speed: whole numbers from 100 up (`1,234`), one decimal below (`12.5`)."""
    return count(per_second) if abs(per_second) >= 100 else f"{per_second:.1f}"


def cells(text: str) -> int:
    """How many terminal cells `text` takes: wide letters two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(text: str, width: int, right: bool = False) -> str:
    """`text` padded with spaces to `width` cells, on the left when `right` aligns it."""
    fill = " " * max(0, width - cells(text))
    return fill + text if right else text + fill


def columns(rows: Sequence[Sequence[str]], right: Sequence[int] = (), gap: str = "  ") -> list[str]:
    """Rows of cells as aligned lines; columns listed in `right` are right-aligned (numbers).

    The last column is not padded when left-aligned, so lines carry no trailing spaces.
    """
    if not rows:
        return []
    n = max(len(row) for row in rows)
    widths = [max((cells(row[i]) for row in rows if i < len(row)), default=0) for i in range(n)]
    lines = []
    for row in rows:
        parts = [
            pad(cell, widths[i], i in right) if (i < n - 1 or i in right) else cell
            for i, cell in enumerate(row)
        ]
        lines.append(gap.join(parts).rstrip())
    return lines
