"""`neuralpatch camera`: live-test patches on a camera, a video file or a folder of photos.

Without `--headless` it opens the live testing screen.

With `--headless` the same loop runs without a screen and prints one line per frame, or
with `--json` one JSON object per line (JSON Lines) with these keys:

    frame         passes done before this one (0, 1, 2, ...)
    source_frame  the source's own frame number from 0 (gaps are frames dropped)
    label         the source's name for the frame (video file name, photo file name, camera N)
    base          the base network's top class: {index, tag, name, probability}
    identified    whether that class reached --min-probability (patches only run if so)
    patches       the patches that ran, as a tree: each {name, file, trigger: {tag, name},
                  output: {index, tag, name, probability}, identified, icon, elapsed_ms,
                  abstained (under its min_confidence, or its background output:
                  triggered, says none), children: [...]}; with --probabilities each also
                  has probabilities: [{tag, name, probability}] (every output's, in order)
    timings       {base_ms, patches_ms, total_ms}: the base pass, the patch cascade, and
                  the frame's capture to the finished result (decoding included)
    fps           passes per second over the last two seconds
    dropped       frames the source produced that never got a pass (camera, --realtime)

Source and patch-folder messages go to stderr, so stdout stays one record per frame.
Headless, the next frame's base pass runs while a frame's patches and line are worked out.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading

from neuralpatch.commands.options import (
    add_base_options,
    add_source_option,
    load_base,
    require_terminal,
)
from neuralpatch.engine.safe_text import printable

# The docstring's record format doubles as `--help`'s epilog, so the two never disagree.
JSON_KEYS_HELP = __doc__[__doc__.index("With `--headless`") :].replace("`", "")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "camera",
        help="live-test patches on a camera, video file or photo folder",
        description="Run the base network and the patches on live frames: the live testing "
        "screen, or with --headless one line (or JSON object) per frame.",
        epilog=JSON_KEYS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_option(p)
    p.add_argument(
        "--patches",
        metavar="DIR",
        help="folder of .specialneurons files, reloaded live as it changes",
    )
    p.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="DIR",
        help="dataset folder snapped frames may be filed into (repeatable); the "
        "datasets of loaded patches with a snapshot beside them are offered too",
    )
    p.add_argument(
        "--min-probability",
        type=float,
        default=0.0,
        metavar="P",
        help="how sure the base network (or a master patch) must be before a patch triggers (0)",
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        metavar="P",
        help="a patch whose top output is under P abstains (shown as "
        "none; default: each patch's own min_confidence)",
    )
    p.add_argument("--top", type=int, default=5, metavar="K", help="base classes kept (5)")
    p.add_argument(
        "--realtime",
        action="store_true",
        help="play files at their own pace, dropping frames while a pass runs, as a "
        "camera does (the screen always does; headless default: every frame)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds each photo of a folder is shown in real time (1.0)",
    )
    p.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help="consecutive failed attempts to get a frame before giving up "
        "(default: for ever for a camera, none for a file)",
    )
    p.add_argument("--headless", action="store_true", help="no screen: print each frame")
    p.add_argument("--frames", type=int, metavar="N", help="stop after N frames (headless)")
    p.add_argument("--json", action="store_true", help="JSON Lines output (headless)")
    p.add_argument(
        "--probabilities",
        action="store_true",
        help="with --json: every output's probability for each patch that ran (left out by "
        "default: with many patches firing it is most of each line)",
    )
    add_base_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from neuralpatch.engine.errors import SettingError

    if args.frames is not None and args.frames < 1:
        raise SettingError("--frames must be at least 1")
    if not (math.isfinite(args.interval) and args.interval > 0):
        raise SettingError("--interval must be above 0")
    if args.headless:
        return run_headless(args)
    require_terminal("camera")
    from neuralpatch.tui.camera_app import run_camera_app

    return run_camera_app(camera_config(args, load_base(args)))


def camera_config(args: argparse.Namespace, base):
    """The screen's typed configuration for the parsed options and a loaded base network."""
    from neuralpatch.engine.camera_config import CameraConfig

    return CameraConfig(
        base=base,
        source=str(args.source),
        patches=args.patches,
        datasets=list(args.dataset or []),
        min_probability=args.min_probability,
        min_confidence=args.min_confidence,
        top_k=max(1, args.top),
        interval=args.interval,
    )


def run_headless(args: argparse.Namespace) -> int:
    """The live loop without a screen, printing each frame until --frames or Ctrl-C."""
    from neuralpatch.engine.frame_source import make_source
    from neuralpatch.engine.live_json import LiveJsonEncoder
    from neuralpatch.engine.live_loop import LiveLoop
    from neuralpatch.engine.patch_system import PatchSystem
    from neuralpatch.engine.patch_watcher import PatchWatcher

    # The source first: a missing video is one error before seconds of loading the network.
    source = make_source(args.source, realtime=args.realtime, interval=args.interval)
    base = load_base(args)
    system = PatchSystem.for_base(base, args.min_probability)
    retries = args.retries if args.retries is not None else (None if source.is_device else 0)
    loop = LiveLoop(
        base,
        source,
        system,
        top_k=max(1, args.top),
        give_up_after=retries,
        min_confidence=args.min_confidence,
        overlap=True,  # the cascade and printing of 1,000 firing patches hide behind a pass
    )
    watcher = None
    if args.patches:
        watcher = PatchWatcher(system, args.patches)
        watcher.add_listener(
            lambda e: _err(f"patch {e.kind}: {e.path.name}" + (f": {e.reason}" if e.reason else ""))
        )
        watcher.start()
    if args.json:
        encoder = LiveJsonEncoder(probabilities=args.probabilities)
        show = lambda r: print(encoder.encode(r), flush=True)  # noqa: E731
    else:
        show = lambda r: print(printable(format_result(r)), flush=True)  # noqa: E731
    try:
        loop.run(threading.Event(), max_frames=args.frames, on_result=show, on_status=_print_status)
    finally:
        if watcher is not None:
            watcher.stop()
    return 0


def format_result(result) -> str:
    """One readable line: frame, base class, patches (› marks a level of the cascade), timings."""
    best = result.result.top[0]
    parts = [f"{result.index:>5}  {best.name} ({best.tag}) {best.probability:6.1%}"]
    fired = [
        f"{'›' * depth}{r.name}: {r.answer_name} {r.probability:.1%}"
        for depth, r in result.result.walk()
    ]
    parts.append("  patches: " + (", ".join(fired) if fired else "-"))
    parts.append(
        f"  base {result.base_ms:.1f} ms + patches {result.patches_ms:.2f} ms, "
        f"total {result.total_ms:.1f} ms, {result.fps:.1f} fps"
    )
    return "".join(parts)


def _print_status(status) -> None:
    if status.state == "lost":
        _err(f"{status.message}; retrying in {status.retry_in:.1f} s (attempt {status.attempt})")
    elif status.state == "live" and status.message:
        _err(status.message)


def _err(text: str) -> None:
    print(printable(f"neuralpatch: {text}"), file=sys.stderr, flush=True)
