"""Text from files (patch names, output names, map rows, photo file names) made safe to print.

A shared `.specialneurons` file or a photo's file name can hold terminal control sequences
(a window-title escape, a cursor move, a bell) or lone surrogates that crash an encoder. Every
text output passes file-supplied strings through `printable` at the point of printing; JSON
output stays as it is (its encoder escapes control characters) but goes through `json_text`,
which refuses NaN and infinity rather than write invalid JSON.
"""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path
from typing import Any

# Categories that move the cursor, change modes or hide text: Cc (C0/C1 controls, DEL),
# Cf (format: bidi overrides, zero-width joiners), Cs (lone surrogates), Co/Cn (private or
# unassigned), Zl/Zp (line and paragraph separators).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object) -> str:
    """`text` (or a path) with every control, format or unpaired surrogate escaped as `\\xNN`.

    Ordinary letters, digits, punctuation and spaces in any script pass unchanged, so a
    name in Japanese or with accents reads as written; a tab or newline inside a name is
    escaped too, since one name must stay on one line.
    """
    if isinstance(text, Path):
        text = str(text)
    elif not isinstance(text, str):
        text = str(text)
    if text.isprintable() and text.isascii():
        return text  # the common case, without a per-character look-up
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in text)


def _finite(value: Any) -> Any:
    """Replace non-finite floats with None so the result is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_text(value: Any, *, indent: int | None = None) -> str:
    """Strict JSON for `--json` output: NaN or infinity become null, never bare `NaN`.

    `ensure_ascii` keeps lone surrogates (and every other non-ASCII character) as `\\uXXXX`
    escapes, so the line always encodes, whatever the terminal's encoding.
    """
    try:
        return json.dumps(value, indent=indent, allow_nan=False)
    except ValueError:  # a non-finite float somewhere: rare, so only then walk the value
        return json.dumps(_finite(value), indent=indent, allow_nan=False)
