"""`neuralpatch teach DATASET`: label frames from a camera, video or photo folder; train live.

Without `--headless` it opens the teach screen. The patch being taught has the dataset's
output categories (map order) plus a "background" output (none of these; its row joins
map_clsloc.txt with its first photo); it trains continuously on every photo of the dataset
and on each new label. Screen keys: 1-9 label as that output, b background, n new category,
up/down learning rate x2 / /2, right/left weight decay x2 / /2, t everything / new labels
only, p pause, e edit past labels, h heat-map of the taught patch (c: next patch), m market,
u publish the taught patch, ctrl+s save, q quit.

With `--headless --json` the same loop reads stdin: for every frame it prints one JSON
object (one line) with these keys, then reads one line:

    frame         passes done before this one (0, 1, 2, ...)
    source_frame  the source's own frame number from 0
    label         the source's name for the frame (the photo's file name for a folder)
    base          the base network's top class: {index, tag, name, probability}
    triggered     whether that class is one of the taught patch's triggers
    prediction    the taught patch's answer {tag, name, probability}, or null when it did
                  not trigger or abstained (answered background)
    abstained     whether its top output is the background output
    probabilities [{tag, name, probability}] of every output, background last (shown
                  even when it did not trigger)
    patches       the other patches of --patches DIR that ran, as `neuralpatch camera`
    training      {step, steps_per_s, lr, decay, momentum, batch_size, scope ("all" or
                  "new"), paused, counts: {output name: photos}}
    right_before_label  {right, labels}: over the last 50 labels, how often the answer
                  given before the label was right (end to end: no trigger is a miss)
    timings       {base_ms, patches_ms, total_ms} as `neuralpatch camera`

and the line read is an output's name or tag (label this frame: it is saved into DATASET
as <tag>_<UTC time>.jpg and learnt before the next frame), `b` (background), or empty
(skip). End of input saves the snapshot and patch (also on SIGHUP, SIGTERM or Ctrl-C) and
exits 0. Labels and saves are reported on stderr, so stdout stays one record per frame.
"""

from __future__ import annotations

import argparse
import sys
import threading

from neuralpatch.commands.options import (
    add_base_options,
    add_source_option,
    load_base,
    require_terminal,
)

JSON_KEYS_HELP = __doc__[__doc__.index("With `--headless") :].replace("`", "")


class SessionEnded(Exception):
    """SIGHUP, SIGTERM or SIGINT ended the session (raised to unwind a blocking stdin read:
    a handler that returned would have the read simply retried)."""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "teach",
        help="label live frames and train a patch while it answers (teach mode)",
        description="Teach a patch live: every frame is answered by the patch being "
        "taught; a label files the frame into DATASET and trains on it at once.",
        epilog=JSON_KEYS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", metavar="DATASET", help="dataset folder with map_clsloc.txt")
    add_source_option(p)
    p.add_argument(
        "--patches",
        metavar="DIR",
        help="folder of .specialneurons files run as in camera mode; saves go there too",
    )
    p.add_argument("--resume", metavar="SNAPSHOT", help="start from a full snapshot")
    p.add_argument(
        "--out", metavar="DIR", help="where saves go (default: the folder holding DATASET)"
    )
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds each photo of a folder is shown on the screen (1.0)",
    )
    p.add_argument("--headless", action="store_true", help="no screen: the stdin loop above")
    p.add_argument("--json", action="store_true", help="JSON Lines records (headless)")
    add_base_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.headless:
        return run_headless(args)
    require_terminal("teach")
    from neuralpatch.engine.stop_signals import stop_on_signals
    from neuralpatch.engine.teach_config import TeachConfig
    from neuralpatch.tui.teach_app import make_teach_app, run_teach_app

    base = load_base(args)
    config = TeachConfig(
        base, args.dataset, args.source, args.patches, args.resume, args.out, args.interval
    )
    app = make_teach_app(config)
    with stop_on_signals(app.teach_screen.stop, app.end_on_signal):
        return run_teach_app(app)


def make_session(args: argparse.Namespace, base):
    from neuralpatch.commands.progress import ProgressLine
    from neuralpatch.engine.teach_session import TeachSession

    session = TeachSession(
        base, args.dataset, out_dir=args.out, patches_dir=args.patches, resume=args.resume
    )
    with ProgressLine("extracting features") as bar:
        session.prepare(bar.update)
    for path, reason in session.failed.items():
        _err(f"warning: skipped {path}: {reason}")
    return session


def run_headless(args: argparse.Namespace) -> int:
    from neuralpatch.engine.frame_source import make_source
    from neuralpatch.engine.live_loop import LiveLoop
    from neuralpatch.engine.patch_system import PatchSystem
    from neuralpatch.engine.safe_text import json_text, printable
    from neuralpatch.engine.stop_signals import stop_on_signals

    source = make_source(args.source)  # a mistyped path is said before features are read
    base = load_base(args)
    session = make_session(args, base)
    system = PatchSystem.for_base(base)
    if args.patches:
        for event in system.load_dir(args.patches):
            if event.kind in ("rejected", "disabled"):
                _err(f"warning: {event.kind} {printable(event.path)}: {printable(event.reason)}")
    loop = LiveLoop(base, source, system, give_up_after=None if source.is_device else 0)
    stop = threading.Event()

    def on_result(live) -> None:
        answer = session.answer(live.features, live.result.top[0].tag)
        record = frame_record(live, answer, session)
        print(json_text(record) if args.json else plain_line(record), flush=True)
        line = sys.stdin.readline()
        if not line:
            stop.set()
            return
        if not line.strip():
            return
        output = session.output_for(line)
        if output is None:
            _err(f"frame {live.index}: no output named {printable(line.strip())!r}; skipped")
            return
        labelled = session.label(live.image, live.features, answer, output)
        name = session.outputs[output].name
        _err(f"frame {live.index}: labelled {printable(name)} -> {printable(labelled.path)}")

    def end(signum) -> None:
        raise SessionEnded(signum.name)

    session.start()
    try:
        with stop_on_signals(stop, end):
            loop.run(stop, on_result=on_result)
    except SessionEnded as ended:
        _err(f"{ended}: saving")
    finally:
        session.close()
        saved = session.save()
        _err(f"snapshot  {printable(saved.snapshot)}")
        _err(f"patch     {printable(saved.patch)}")
        for copy in saved.copies:
            _err(f"copied    {printable(copy)}")
    return 0


def frame_record(live, answer, session) -> dict:
    best = live.result.top[0]
    published = session.trainer.published
    right, labels = session.rolling_rate()
    rates = published.rates
    return {
        "frame": live.index,
        "source_frame": live.frame.number,
        "label": live.frame.label,
        "base": {
            "index": best.index,
            "tag": best.tag,
            "name": best.name,
            "probability": best.probability,
        },
        "triggered": answer.triggered,
        "prediction": answer.prediction(),
        "abstained": answer.abstained,
        "probabilities": [
            {"tag": o.tag, "name": o.name, "probability": float(p)}
            for o, p in zip(answer.outputs, answer.probabilities, strict=True)
        ],
        "patches": [p.to_dict() for p in live.result.patches],
        "training": {
            "step": published.step,
            "steps_per_s": published.steps_per_s,
            "lr": rates.lr,
            "decay": rates.decay,
            "momentum": rates.momentum,
            "batch_size": rates.batch_size,
            "scope": "new" if published.new_only else "all",
            "paused": published.paused,
            "counts": {o.name: n for o, n in zip(answer.outputs, published.counts, strict=False)},
        },
        "right_before_label": {"right": right, "labels": labels},
        "timings": {
            "base_ms": live.base_ms,
            "patches_ms": live.patches_ms,
            "total_ms": live.total_ms,
        },
    }


def plain_line(record: dict) -> str:
    """One readable line per frame, for people at a terminal without --json."""
    from neuralpatch.engine.safe_text import printable

    said = record["prediction"]
    answer = (
        f"{said['name']} {said['probability']:.0%}"
        if said
        else ("none" if record["triggered"] else "not triggered")
    )
    right = record["right_before_label"]
    return printable(
        f"{record['frame']:>5}  {record['label']}  base {record['base']['name']}  "
        f"teach: {answer}  step {record['training']['step']}  "
        f"right before label {right['right']}/{right['labels']}  > "
    )


def _err(text: str) -> None:
    print(f"neuralpatch: {text}", file=sys.stderr, flush=True)
