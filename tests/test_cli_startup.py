"""A start imports only the sub-command it runs (every `classify` paid ~0.1 s for all of them),
while `--help` without a command still lists every command."""

from __future__ import annotations

import subprocess
import sys

from neuralpatch.main import COMMANDS, build_parser

PROBE = """
import sys
from neuralpatch.main import build_parser
args = build_parser(sys.argv[1]).parse_args(sys.argv[1:])
print(" ".join(sorted(m for m in sys.modules if m.startswith("neuralpatch.commands."))))
"""


def test_only_the_chosen_command_is_imported():
    run = subprocess.run(
        [sys.executable, "-c", PROBE, "classify", "photo.jpg"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    loaded = {name.rsplit(".", 1)[1] for name in run.stdout.split()}
    assert "classify" in loaded
    assert not loaded & (set(COMMANDS) - {"classify"})


def test_full_help_still_lists_every_command():
    text = build_parser().format_help()
    assert all(name in text for name in COMMANDS)
    one = build_parser("classify").format_help()
    assert "classify" in one and "market" not in one
