"""The one sanitiser for file-supplied text, and strict JSON output."""

from __future__ import annotations

import json
from pathlib import Path

from neuralpatch.engine.safe_text import json_text, printable


def test_control_sequences_are_escaped_and_letters_kept():
    hostile = "cat\x1b]0;pwned\x07\r\n\x9b2J é 猫 \u202eevil"
    shown = printable(hostile)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "\\x1b]0;pwned\\x07" in shown and "\\x9b" in shown and "\\u202e" in shown
    assert "é 猫" in shown


def test_lone_surrogate_and_paths_print_safely():
    shown = printable(Path("/tmp/n01_\ud800.jpg"))
    assert shown == "/tmp/n01_\\ud800.jpg"
    shown.encode("utf-8")  # would raise on a lone surrogate


def test_json_text_is_strict_json():
    text = json_text({"p": float("nan"), "q": [float("-inf"), 0.5], "name": "a\ud800"})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"p": None, "q": [None, 0.5], "name": "a\ud800"}
    text.encode("ascii")
