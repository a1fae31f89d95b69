"""`neuralpatch serve SCREEN ARGS...`: one of the screens in a web browser, through textual-serve.

Each browser tab that opens the page gets its own `neuralpatch SCREEN ARGS...` process, run by
textual-serve with Textual's web driver instead of a terminal. The arguments are checked here
first, so a typo is an error now rather than a blank page later.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys
from pathlib import Path

from neuralpatch.engine.errors import MissingPackageError, SettingError

SCREENS = ("train", "camera", "teach")  # the sub-commands that open a screen
# textual-serve's page, less its web-font link: a served screen never reaches the internet.
TEMPLATES = Path(__file__).resolve().parent.parent / "serve_templates"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="open a screen (train, camera, teach) in a web browser",
        description="Serve a Neuralpatch screen over HTTP with textual-serve: every browser "
        "tab runs its own `neuralpatch SCREEN ARGS...`. Needs `pip install "
        "'neuralpatch[web]'`.",
        epilog="example: neuralpatch serve --port 8000 train sample_data",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL browsers use to reach the server, when it is behind a proxy",
    )
    p.add_argument("screen", metavar="SCREEN", help=f"one of: {', '.join(SCREENS)}")
    p.add_argument(
        "screen_args", nargs=argparse.REMAINDER, metavar="ARGS", help="the screen's options"
    )
    p.set_defaults(run=run)


def screen_command(screen: str, screen_args: list[str]) -> str:
    """The shell command textual-serve runs per browser tab, after checking its arguments."""
    from neuralpatch.main import COMMANDS, build_parser

    if screen not in SCREENS or screen not in COMMANDS:
        available = ", ".join(s for s in SCREENS if s in COMMANDS)
        raise SettingError(f"`serve` opens one of the screens ({available}), not {screen!r}")
    if "--headless" in screen_args:
        raise SettingError("`serve` shows a screen: drop --headless")
    build_parser().parse_args([screen, *screen_args])  # exits with argparse's message if bad
    return shlex.join([sys.executable, "-m", "neuralpatch", screen, *screen_args])


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise SettingError("--port must be between 1 and 65535")
    command = screen_command(args.screen, args.screen_args)
    try:
        from textual_serve.server import Server
    except ImportError as exc:
        raise MissingPackageError(
            "`neuralpatch serve` needs textual-serve: pip install 'neuralpatch[web]'"
        ) from exc
    if not _is_loopback(args.host):
        print(
            f"neuralpatch: warning: listening on {args.host}: anyone who can reach this port "
            "can drive the app and write files as you",
            file=sys.stderr,
        )
    title = f"Neuralpatch {args.screen}"
    server = Server(
        command,
        host=args.host,
        port=args.port,
        title=title,
        public_url=args.public_url,
        templates_path=TEMPLATES,
    )
    server.serve()
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
