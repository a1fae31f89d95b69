"""`neuralpatch train DATA`: the training app, or with `--headless` a plain command-line run.

Both end by writing a full snapshot and the `.specialneurons` plugin file (also on Ctrl-C),
by default into DATA-patches, a folder beside the dataset.
"""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING

from neuralpatch.commands.options import (
    add_base_options,
    add_masters_option,
    load_base_from,
    require_terminal,
)
from neuralpatch.commands.output import say, warn
from neuralpatch.engine.early_stopping import DEFAULT_PATIENCE
from neuralpatch.engine.hyper_params import RATES

if TYPE_CHECKING:  # the engine loads lazily: `neuralpatch --help` stays instant
    from neuralpatch.engine.trainer import Trainer
    from neuralpatch.engine.training_plan import TrainingOptions
    from neuralpatch.engine.training_state import StepReport


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a patch (the training app, or --headless)",
        description="Train a neural patch on a dataset folder.",
    )
    p.add_argument("data", metavar="DATA", help="dataset folder with map_clsloc.txt")
    p.add_argument("--headless", action="store_true", help="no app: train on the command line")
    p.add_argument(
        "--steps",
        type=int,
        help="run exactly N steps (default: stop by itself when end-to-end validation "
        "stops improving, keeping the best weights)",
    )
    p.add_argument("--epochs", type=float, help="run exactly N passes over the training split")
    p.add_argument(
        "--patience",
        type=int,
        default=DEFAULT_PATIENCE,
        metavar="N",
        help="without --steps/--epochs: stop after N validation checks (one an epoch, at "
        "least every 10 steps) without a better end-to-end validation accuracy (or loss) "
        f"and keep the best weights; 0 trains until Ctrl-C ({DEFAULT_PATIENCE})",
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        metavar="P",
        help="stored in the patch: it abstains (answers none) when its top output's "
        "probability is under P (default 0: always answers; a resumed snapshot's value)",
    )
    p.add_argument(
        "--trigger-top-k",
        type=int,
        metavar="K",
        help="stored in the patch: it triggers when any of the base network's K most probable "
        "classes is a trigger; validation and coverage count photos the same way (default 1: "
        "the top class only; a resumed snapshot's value; at most 10)",
    )
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
        help="where to write the snapshot and plugin file (default: DATA-patches, a folder "
        "beside the dataset)",
    )
    p.add_argument("--resume", metavar="SNAPSHOT", help="continue from a full snapshot")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share of each class held out for validation (0.2)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split and draws (0)")
    p.add_argument(
        "--checkpoint-every",
        type=float,
        metavar="S",
        help="write <name>_checkpoint.npsnapshot and .specialneurons into the output folder "
        "every S seconds and when validation improves; removed once the run saves "
        "(default: every 300 s; 0: never)",
    )
    add_masters_option(p)
    add_base_options(p)
    p.set_defaults(run=run)


def training_options(args: argparse.Namespace) -> TrainingOptions:
    """The parsed options as the engine's typed run options (rates merged with a resumed
    snapshot's); bad values are refused here, before anything loads."""
    from neuralpatch.engine.training_plan import TrainingOptions, resumed_params

    given = {key: getattr(args, key) for key in RATES if getattr(args, key) is not None}
    optional = {} if args.checkpoint_every is None else {"checkpoint_every": args.checkpoint_every}
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
        patience=args.patience,
        min_confidence=args.min_confidence,
        trigger_top_k=args.trigger_top_k,
        **optional,
    )


def run(args: argparse.Namespace) -> int:
    options = training_options(args)
    if not args.headless:
        require_terminal("train")
        from neuralpatch.tui.train_app import run_train_app

        code, saved = run_train_app(options)
        for files in saved:  # a terminal that went away silences these, nothing more
            say(f"snapshot  {files.snapshot}\npatch     {files.patch}")
        return code
    return run_headless(options)


def run_headless(options: TrainingOptions) -> int:
    """Train on the command line; save first, report after, so output can never cost the run.

    Ctrl-C, SIGHUP (a dropped SSH session) and SIGTERM end training after the step under way
    and save; checkpoints are written meanwhile (`--checkpoint-every`).
    """
    from neuralpatch.commands.progress import ProgressLine
    from neuralpatch.engine.checkpoints import Checkpoints
    from neuralpatch.engine.stop_signals import stop_on_signals
    from neuralpatch.engine.training_files import save_training
    from neuralpatch.engine.training_plan import plan_training

    base = load_base_from(options.base, options.device)
    plan = plan_training(options, base)
    trainer, info = plan.trainer, plan.info
    for warning in plan.warnings:
        warn(f"warning: {warning}")
    for problem in trainer.dataset.problems:
        say(f"warning: {problem}")
    stop = threading.Event()
    with stop_on_signals(stop) as request:
        with ProgressLine("extracting features") as bar:
            trainer.prepare(bar.update, stop)
        if stop.is_set():  # stopped while extracting: no step ran, nothing to save
            warn(f"interrupted ({request.name}) before training began: nothing saved")
            return 130
        for path, reason in trainer.failed.items():
            say(f"warning: skipped {path}: {reason}")
        for line in trainer.coverage.problems() if trainer.coverage else []:
            warn(f"warning: {line}")
        say(_run_line(trainer, info.name))
        checkpoints = Checkpoints(trainer, info, plan.out_dir, options.checkpoint_every)
        steps, start = plan.steps_to_run(), trainer.state.step
        with ProgressLine("training") as bar:

            def on_step(report: StepReport) -> None:
                if bar.due(report.step - start, steps or 0):  # these weights' figures, fresh
                    report = trainer.fresh_report() or report
                    bar.update(report.step - start, steps or 0, _step_text(report))
                checkpoints.after_step(report)

            trainer.run(stop, steps, on_step=on_step)
        saved = save_training(trainer, info, plan.out_dir)
    checkpoints.discard()
    if request.signal is not None:
        say(f"interrupted ({request.name}): saved")
    elif trainer.stop_reason:
        say(trainer.stop_reason)
    _report(trainer)
    say(f"snapshot  {saved.snapshot}")
    say(f"patch     {saved.patch}")
    return 0


def _run_line(trainer: Trainer, name: str) -> str:
    from neuralpatch.engine.number_text import count

    return (
        f"training {name!r}: {count(len(trainer.outputs))} outputs "
        f"({', '.join(c.name for c in trainer.outputs)}), "
        f"{count(len(trainer.dataset.triggers))} triggers, {count(len(trainer.train_samples))} "
        f"train / {count(len(trainer.val_samples))} validation images"
    )


def _step_text(report: StepReport) -> str:
    """The run's own step count and training time: a resumed run goes on from its snapshot."""
    from neuralpatch.commands.progress import percent
    from neuralpatch.engine.number_text import count, rate
    from neuralpatch.engine.rate_clock import format_duration

    return (
        f"step {count(report.step)} loss {report.rolling_loss:.4f} val end-to-end "
        f"{percent(report.val_accuracy)} (when triggered {percent(report.val_when_triggered)}) "
        f"{rate(report.images_per_s)} img/s, trained {format_duration(report.elapsed_s)}"
    )


def _report(trainer: Trainer) -> None:
    from neuralpatch.commands.progress import percent
    from neuralpatch.engine.number_text import count
    from neuralpatch.engine.safe_text import printable

    report = trainer.last_report
    if report is None:
        return
    say(
        f"step {count(report.step)}  epoch {report.epoch:,.1f}  loss {report.rolling_loss:.4f}  "
        f"validation: end to end {percent(report.val_accuracy)}, "
        f"when triggered {percent(report.val_when_triggered)}"
    )
    for line in trainer.validation_lines()[1:]:
        say(printable(line))
