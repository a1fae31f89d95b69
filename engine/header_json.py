"""The JSON header of a container, parsed strictly: what one reader sees, every reader sees.

No NaN/Infinity, no number that overflows to infinity, no duplicate keys, and no lone
surrogate in any string (a `\\ud800` escape decodes to one; every encoder then fails).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from neuralpatch.engine.errors import PatchFormatError

_SURROGATE_RE = re.compile("[\\ud800-\\udfff]")
_ESCAPED_SURROGATE_RE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_header(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PatchFormatError(f"header is not UTF-8 (byte {exc.start})", path) from exc
    try:
        header = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique,
        )
    except (ValueError, RecursionError) as exc:
        raise PatchFormatError(f"header is not valid JSON: {exc}", path) from exc
    if not isinstance(header, dict):
        raise PatchFormatError(f"header is a JSON {type(header).__name__}, not an object", path)
    # UTF-8 cannot carry a surrogate: only a \uD8xx-\uDFxx escape makes one, so the walk is
    # needed only when the text holds such an escape (a conservative look).
    if _ESCAPED_SURROGATE_RE.search(text) and (where := _lone_surrogate(header)) is not None:
        raise PatchFormatError(
            f"header field {where} holds a lone surrogate (a \\ud800-style escape that is not "
            "text): refused, it cannot be printed or encoded",
            path,
        )
    return header


def _lone_surrogate(value: Any) -> str | None:
    """Where (`name`, `outputs[2].name`, a key) a string holds an unpaired surrogate, if any.

    UTF-8 cannot carry one, but a JSON `\\ud800` escape decodes to one, and every encoder
    (a terminal, a file name, a UTF-8 log) then fails. Iterative: headers nest deep.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE_RE.search(item):
                return where or "(top level)"
        elif isinstance(item, dict):
            for key, inner in item.items():
                name = f"{where}.{key}" if where else key
                if not key.isascii() and _SURROGATE_RE.search(key):
                    return f"{where or '(top level)'} key {ascii(key)}"
                stack.append((name, inner))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", inner) for i, inner in enumerate(item))
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    """JSON numbers such as 1e999 would read as infinity: refused like `Infinity` is."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not finite")
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate keys would let two readers see different values; refuse them."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result
