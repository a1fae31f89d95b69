"""Helpers shared by the Pilot-driven app tests (on pytest's `pythonpath`, see pyproject):
waiting, driving the training app, the camera app as `neuralpatch camera` builds it."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from neuralpatch.commands.camera import camera_config
from neuralpatch.main import build_parser
from neuralpatch.tui.camera_app import CameraApp, make_camera_app
from neuralpatch.tui.camera_screen import CameraScreen
from neuralpatch.tui.dialogs import ReconfigureDialog
from neuralpatch.tui.train_app import TrainApp
from neuralpatch.tui.train_screen import TrainScreen

WAIT_S = 60.0  # generous: PoCL on a loaded CI machine can be slow
OUTPUTS = ["domestic_cat", "wildcat_small_non_domestic", "big_cat"]  # sample_data, in order


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test with asyncio.run (no pytest async plugin is installed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def wait_for(
    pilot: Pilot,
    condition: Callable[[], object],
    what: str = "the condition",
    timeout: float = WAIT_S,
) -> None:
    """Let the app run until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def wait_for_screen(pilot: Pilot, screen_type: type) -> None:
    """Until a `screen_type` is on top and mounted (its widgets are there to query)."""
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, screen_type) and pilot.app.screen.is_mounted,
        f"the {screen_type.__name__}",
    )


def screen_of(app: TrainApp) -> TrainScreen:
    return app.train_screen


def steps(app: TrainApp) -> int:
    trainer = screen_of(app).trainer
    return trainer.state.step if trainer else 0


async def start_training(pilot, app: TrainApp) -> None:
    """^t, then Yes in the output-layer dialog, then wait for real steps."""
    await pilot.press("ctrl+t")
    await wait_for_screen(pilot, ReconfigureDialog)
    await pilot.press("y")
    await wait_for(pilot, lambda: steps(app) > 20, "training steps")


def fill(app: TrainApp, selector: str, text: str) -> Input:
    """Focus a field and put text in it as typing would (validators run on the change).

    Not key by key: while training runs the CPU is never idle, and Pilot waits up to two
    seconds for idleness after every key.
    """
    field = app.screen.query_one(selector, Input)
    field.focus()
    field.value = text
    return field


def camera_app(base_network, *argv: str) -> CameraApp:
    """The camera app exactly as `neuralpatch camera ARGV...` makes it."""
    args = build_parser().parse_args(["camera", *argv])
    return make_camera_app(camera_config(args, base_network), palette="256")


def recorded_notifications(screen: CameraScreen) -> list[tuple[str, dict]]:
    """Every notification the screen posts from now on, as (message, keyword arguments)."""
    seen: list[tuple[str, dict]] = []
    original = screen.notify

    def notify(message: str, **kwargs: Any) -> None:
        seen.append((message, kwargs))
        original(message, **kwargs)

    screen.notify = notify  # type: ignore[method-assign]
    return seen
