"""`neuralpatch train DATA`: the training app, or with `--headless` a plain command-line run.

Both end by writing a full snapshot and the `.specialneurons` plugin file (also on Ctrl-C),
by default next to the base network files.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from neuralpatch.commands.options import (
    add_base_options,
    add_masters_option,
    known_tags,
    load_base,
    load_masters,
    require_terminal,
)
from neuralpatch.engine.errors import SettingError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a patch (the training app, or --headless)",
        description="Train a neural patch on a dataset folder.",
    )
    p.add_argument("data", metavar="DATA", help="dataset folder with map_clsloc.txt")
    p.add_argument("--headless", action="store_true", help="no app: train on the command line")
    p.add_argument("--steps", type=int, help="stop after N steps (default: until Ctrl-C)")
    p.add_argument("--epochs", type=float, help="stop after N passes over the training split")
    p.add_argument("--batch-size", type=int, help="images per SGD step (16)")
    p.add_argument("--lr", type=float, help="learning rate (0.01)")
    p.add_argument("--momentum", type=float, help="SGD momentum (0.9)")
    p.add_argument("--decay", type=float, help="weight decay (0.0005)")
    p.add_argument("--augment", action="store_true", help="rand-tilt-shift augmentation")
    p.add_argument("--name", help="patch name (default: the dataset folder's name)")
    p.add_argument("--description", default="", help="patch description")
    p.add_argument("--icon", metavar="PNG", help="trigger icon shown when the patch fires")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where to write the snapshot and plugin file (default: beside the base network files)",
    )
    p.add_argument("--resume", metavar="SNAPSHOT", help="continue from a full snapshot")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share of each class held out for validation (0.2)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split and draws (0)")
    add_masters_option(p)
    add_base_options(p)
    p.set_defaults(run=run)


def training_setup(args: argparse.Namespace, base):
    """Build the Trainer, patch info and output folder the options describe."""
    from neuralpatch.engine.dataset import load_dataset
    from neuralpatch.engine.trainer import HyperParams, Trainer
    from neuralpatch.engine.training_files import PatchInfo, read_icon, resume_from

    check_run_options(args)
    dataset = load_dataset(args.data, known_tags(base, load_masters(args, base)))
    if args.resume:
        resumed = resume_from(args.resume)
        if resumed.base_fingerprint != base.fingerprint:
            raise SettingError(
                f"the snapshot was trained on another base network "
                f"({resumed.base_fingerprint}; this one is {base.fingerprint})",
                args.resume,
            )
        params, state, info = resumed.params, resumed.state, resumed.info
        seed, val_fraction = resumed.seed, resumed.val_fraction
    else:
        params, state, seed, val_fraction = HyperParams(), None, args.seed, args.val_fraction
        info = PatchInfo(args.name or Path(args.data).resolve().name)
    for key in ("batch_size", "lr", "momentum", "decay"):
        if getattr(args, key) is not None:
            setattr(params, key, getattr(args, key))
    params.augment = params.augment or args.augment
    if args.name:
        info.name = args.name
    if args.description:
        info.description = args.description
    if args.icon:
        info.icon_png = read_icon(args.icon)
    trainer = Trainer(base, dataset, params, state, seed, val_fraction)
    out_dir = Path(args.out).expanduser() if args.out else base.files.txt_path.parent
    check_out_dir(out_dir)
    return trainer, info, out_dir


def check_run_options(args: argparse.Namespace) -> None:
    """Refuse run lengths and seeds that would only fail once training has begun."""
    if args.steps is not None and args.steps < 1:
        raise SettingError("--steps must be at least 1")
    if args.epochs is not None and not (math.isfinite(args.epochs) and args.epochs > 0):
        raise SettingError("--epochs must be a number above 0")
    if args.seed < 0:
        raise SettingError("--seed must be 0 or more")


def check_out_dir(out_dir: Path) -> None:
    """Make sure the snapshot and patch can be written before any training time is spent."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingError(f"cannot use it as the output folder: {exc.strerror}", out_dir) from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise SettingError("the output folder is not writable", out_dir)


def run(args: argparse.Namespace) -> int:
    if not args.headless:
        require_terminal("train")
        from neuralpatch.tui.train_app import run_train_app

        return run_train_app(args)
    return run_headless(args)


@contextlib.contextmanager
def ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C ends training after the step under way (a step cut in half would save a
    snapshot that does not resume exactly); a second Ctrl-C gives up at once, unsaved."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_headless(args: argparse.Namespace) -> int:
    from neuralpatch.commands.progress import ProgressLine, percent
    from neuralpatch.engine.training_files import save_training

    base = load_base(args)
    trainer, info, out_dir = training_setup(args, base)
    for problem in trainer.dataset.problems:
        print(f"warning: {problem}")
    with ProgressLine("extracting features") as bar:
        trainer.prepare(bar.update)
    for path, reason in trainer.failed.items():
        print(f"warning: skipped {path}: {reason}")
    print(
        f"training {info.name!r}: {len(trainer.outputs)} outputs "
        f"({', '.join(c.name for c in trainer.outputs)}), "
        f"{len(trainer.dataset.triggers)} triggers, {len(trainer.train_samples)} train / "
        f"{len(trainer.val_samples)} validation images"
    )
    steps = args.steps
    if args.epochs is not None:
        steps = trainer.steps_for_epochs(args.epochs)
    stop, start = threading.Event(), trainer.state.step
    with ProgressLine("training") as bar, ctrl_c_sets(stop):
        trainer.run(
            stop,
            steps,
            on_step=lambda r: bar.update(
                r.step - start,
                steps or 0,
                f"loss {r.rolling_loss:.4f} "
                f"val {percent(r.val_accuracy)} {r.images_per_s:.0f} img/s",
            ),
        )
    if stop.is_set():
        print("\ninterrupted: saving")
    report = trainer.last_report
    if report:
        print(
            f"step {report.step}  epoch {report.epoch:.1f}  loss {report.rolling_loss:.4f}  "
            f"validation accuracy {percent(report.val_accuracy)}"
        )
        for category, acc in zip(trainer.outputs, report.per_class_accuracy, strict=False):
            print(f"  {category.name:<30} {percent(acc)}")
    saved = save_training(trainer, info, out_dir)
    print(f"snapshot  {saved.snapshot}")
    print(f"patch     {saved.patch}")
    return 0
