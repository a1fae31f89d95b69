"""The teach screen's thread work: the frame source, the session's set-up and the live loop.

Plain functions that report through `post` (the screen's `post_message`), so the screen's
workers stay one line each and this module knows nothing of widgets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from textual.message import Message

from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.frame import FrameSource, FrameSourceError
from neuralpatch.engine.frame_source import make_source
from neuralpatch.engine.live_loop import LiveLoop, LiveResult
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.teach_config import TeachConfig
from neuralpatch.engine.teach_session import TeachSession
from neuralpatch.tui.teach_messages import FrameAnswered, SessionReady, SetupProgress, TeachFailed

log = logging.getLogger(__name__)
FRAME_MESSAGE_INTERVAL_S = 1 / 15
Post = Callable[[Message], object]


def open_source(config: TeachConfig, post: Post) -> FrameSource | None:
    """The frame source, made before the dataset loads: a mistyped video or folder is said at
    once (posted as a "source" failure), not after the features are read."""
    try:
        return make_source(config.source, realtime=config.realtime, interval=config.interval)
    except FrameSourceError as exc:
        post(TeachFailed("source", exc))
        return None


def start_session(config: TeachConfig, post: Post, stop: threading.Event) -> TeachSession | None:
    """Load the dataset, read its features (progress posted), start training; None on error."""
    try:
        session = TeachSession(
            config.base,
            config.dataset,
            out_dir=config.out,
            patches_dir=config.patches,
            resume=config.resume,
        )
        session.prepare(lambda done, total, _: post(SetupProgress(done, total)), stop)
    except (NeuralpatchError, OSError) as exc:
        post(TeachFailed("set-up", exc))
        return None
    session.start()
    post(SessionReady(session))
    return session


def run_loop(
    config: TeachConfig,
    source: FrameSource,
    session: TeachSession,
    system: PatchSystem,
    post: Post,
    stop: threading.Event,
) -> None:
    """Frames through the base network, the patch folder and the taught patch, until `stop`."""
    last = 0.0

    def on_result(live: LiveResult) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= FRAME_MESSAGE_INTERVAL_S:
            last = now
            post(FrameAnswered(live, session.answer(live.features, live.result.top[0].tag)))

    try:
        LiveLoop(config.base, source, system).run(stop, on_result=on_result)
    except Exception as exc:  # a bug or an OpenCL failure must not take the app down
        log.exception("the teach loop failed")
        post(TeachFailed("live loop", exc))
