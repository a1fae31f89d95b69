"""Live changes to a running trainer's rates, asked for from other threads.

`Trainer.params` is frozen and only the training thread replaces it: the app's thread puts
the change here, and the trainer applies every change asked for between two steps, so a step
never sees half of one.
"""

from __future__ import annotations

import queue

from neuralpatch.engine.errors import SettingError
from neuralpatch.engine.hyper_params import HyperParams


class RateChanges:
    """A thread-safe queue of `{field: value}` changes to `HyperParams`."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[dict[str, object]] = queue.SimpleQueue()

    def put(self, changes: dict[str, object]) -> None:
        self._queue.put(changes)

    def apply(self, params: HyperParams) -> tuple[HyperParams, dict[str, object]]:
        """`params` with every waiting change on top, and the fields that changed.

        A change that is not valid is dropped whole, never half-applied.
        """
        applied: dict[str, object] = {}
        while True:
            try:
                changes = self._queue.get_nowait()
            except queue.Empty:
                return params, applied
            try:
                changed = params.replace(**changes)
            except (SettingError, TypeError):
                continue
            applied |= {k: v for k, v in changes.items() if getattr(params, k) != v}
            params = changed
