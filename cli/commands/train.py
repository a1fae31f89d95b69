"""`neuralpatch train DATA`: the training app, or with `--headless` a plain command-line run.

Both end by writing a full snapshot and the `.specialneurons` plugin file (also on Ctrl-C),
by default next to the base network files.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from neuralpatch.commands.options import (
    add_base_options,
    add_masters_option,
    load_base_from,
    require_terminal,
)
from neuralpatch.engine.hyper_params import RATES
from neuralpatch.engine.training_plan import TrainingOptions, resumed_params


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


def training_options(args: argparse.Namespace) -> TrainingOptions:
    """The parsed options as the engine's typed run options (rates merged with a resumed
    snapshot's); bad values are refused here, before anything loads."""
    given = {key: getattr(args, key) for key in RATES if getattr(args, key) is not None}
    return TrainingOptions(
        data=args.data,
        params=resumed_params(args.resume or "", given, args.augment),
        base=args.base or "",
        device=args.device,
        name=args.name or "",
        description=args.description,
        icon=args.icon or "",
        out=args.out or "",
        resume=args.resume or "",
        masters=args.masters or "",
        val_fraction=args.val_fraction,
        seed=args.seed,
        steps=args.steps,
        epochs=args.epochs,
    )


def run(args: argparse.Namespace) -> int:
    options = training_options(args)
    if not args.headless:
        require_terminal("train")
        from neuralpatch.tui.train_app import run_train_app

        return run_train_app(options)
    return run_headless(options)


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


def run_headless(options: TrainingOptions) -> int:
    from neuralpatch.commands.progress import ProgressLine, percent
    from neuralpatch.engine.training_files import save_training
    from neuralpatch.engine.training_plan import plan_training

    base = load_base_from(options.base, options.device)
    plan = plan_training(options, base)
    trainer, info, out_dir = plan.trainer, plan.info, plan.out_dir
    for warning in plan.warnings:
        print(f"neuralpatch: warning: {warning}", file=sys.stderr)
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
    steps = plan.steps_to_run()
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
