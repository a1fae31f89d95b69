"""Helpers shared by the Pilot-driven app tests (on pytest's `pythonpath`, see pyproject)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

from textual.pilot import Pilot

WAIT_S = 60.0  # generous: PoCL on a loaded CI machine can be slow


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
