"""The `neuralpatch` command: one sub-command per module in `neuralpatch.commands`.

Sub-command modules import the engine lazily so `neuralpatch --help` stays instant.
Every engine error ends in one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from neuralpatch import __version__

# Module name under neuralpatch.commands, in the order `--help` lists them.
COMMANDS = (
    "classify",
    "base",
    "dataset",
    "features",
    "train",
    "eval",
    "patches",
    "camera",
    "teach",
    "serve",
    "market",
)
# A command whose module is named otherwise (`base.py` would read as a base class).
MODULES = {"base": "base_network"}
EXIT_ERROR = 2


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `only` just that sub-command (a start imports only the
    module of the command it runs: importing all of them costs ~0.1 s of every `classify`)."""
    parser = argparse.ArgumentParser(
        prog="neuralpatch",
        description="Train and live-test neural patches on a pretrained base network.",
    )
    parser.add_argument("--version", action="version", version=f"neuralpatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (only,) if only in COMMANDS else COMMANDS:
        module = MODULES.get(name, name)
        importlib.import_module(f"neuralpatch.commands.{module}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Keep OpenCV's own logging off the terminal (it would draw into the TUI).
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    from neuralpatch.engine.errors import NeuralpatchError
    from neuralpatch.engine.safe_text import printable

    try:
        return int(args.run(args) or 0)
    except NeuralpatchError as exc:
        print(f"neuralpatch: error: {printable(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # the file system refused something (disk full, permissions)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"neuralpatch: error: {printable(where)}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("neuralpatch: interrupted", file=sys.stderr)
        return 130
