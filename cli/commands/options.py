"""Options shared by several sub-commands, and loading the base network from them."""

from __future__ import annotations

import argparse


def add_base_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        metavar="TXT",
        help="base network topology .txt (its .data beside it); default: the "
        "packaged EfficientNet-Lite0, converted into the user cache",
    )
    parser.add_argument(
        "--device",
        metavar="SPEC",
        help="OpenCL device: 'P:D' indices or part of its name "
        "(default: $NEURALPATCH_DEVICE, else the first GPU, else CPU)",
    )


def load_base(args: argparse.Namespace, warm_up: bool = True):
    """The base network the options name, with conversion and kernel-compile progress on stderr."""
    return load_base_from(args.base, args.device, warm_up)


def load_base_from(txt: str | None, device: str | None, warm_up: bool = True):
    """The base network `txt` names (None or "": the packaged one), progress on stderr.

    `warm_up` builds the kernels now (a cold start spends seconds compiling; the progress line
    appears only when it takes a while), so the first photo does not pay for it silently.
    """
    from neuralpatch.commands.progress import ProgressLine
    from neuralpatch.engine.base_network import BaseNetwork

    with ProgressLine("converting base network weights") as bar:
        base = BaseNetwork.load(txt or None, device=device, progress=bar.update)
    if warm_up:
        with ProgressLine("compiling OpenCL kernels", delay=1.0) as bar:
            base.warm_up(bar.update)
    return base


def add_source_option(parser: argparse.ArgumentParser) -> None:
    """Where live frames come from, for the camera and teach screens."""
    parser.add_argument(
        "--source",
        default="0",
        metavar="SOURCE",
        help="camera index (0), video file (looped) or folder of photos (cycled)",
    )


def add_masters_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--masters",
        metavar="DIR",
        help="folder of master patches: their output categories count as "
        "trigger categories (for a slave patch, triggered by a master)",
    )


def load_masters(args: argparse.Namespace, base):
    """The PatchSystem of `--masters` (None without it); refused files are warnings."""
    if not args.masters:
        return None
    import sys

    from neuralpatch.engine.patch_system import PatchSystem
    from neuralpatch.engine.safe_text import printable

    masters = PatchSystem.for_base(base)
    masters.load_dir(args.masters)
    for path, reason in masters.rejected.items():
        print(printable(f"neuralpatch: warning: {path}: {reason}"), file=sys.stderr)
    return masters


def known_tags(base, masters) -> dict[str, str]:
    """Tags a dataset's trigger categories may use: the base classes and master outputs."""
    return base.classes.tag_names() | (masters.output_tags() if masters else {})


def require_terminal(command: str) -> None:
    """The screens draw on a terminal: refuse clearly when output is piped or redirected.

    Under `neuralpatch serve`, textual-serve runs the screen with Textual's web driver (it
    sets `TEXTUAL_DRIVER`) and pipes for stdin/stdout: that is a terminal in a browser.
    """
    import os
    import sys

    from neuralpatch.engine.errors import SettingError

    if os.environ.get("TEXTUAL_DRIVER"):
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise SettingError(
            f"`neuralpatch {command}` opens a screen and needs a terminal; "
            "use --headless in scripts, or `neuralpatch serve` for a browser"
        )
