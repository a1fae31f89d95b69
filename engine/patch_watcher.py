"""Hot reload: keep a PatchSystem in line with a folder of `.specialneurons` files.

Built like mkdocs' livereload: the watchdog handler only records which paths changed; one
loop thread waits until events stop for `quiet_s` (0.25 s), then refreshes those paths once.
So ten quick saves are one reload, and an atomic save (temp file renamed into place, seen as
a move) is picked up by its destination name. A file that is half written or invalid is
rejected by the PatchSystem and the version already running stays; the next save that makes
it valid loads it. Listeners get each PatchEvent on the loop thread; an exception in one is
logged and the watcher carries on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.patch_system import PatchEvent, PatchSystem, is_patch_file

log = logging.getLogger(__name__)
Listener = Callable[[PatchEvent], None]
QUIET_S = 0.25
MAX_DELAY_S = 2.0
# Reads (ours included) show up as opened / closed-without-writing: they change nothing.
_CHANGES = frozenset({"created", "modified", "moved", "deleted", "closed"})


class _Recorder(FileSystemEventHandler):
    """Runs on watchdog's thread: notes the patch files an event names, nothing more."""

    def __init__(self, record: Callable[[set[Path]], None]):
        self._record = record

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in _CHANGES:
            return
        names = [event.src_path, getattr(event, "dest_path", "")]
        paths = {Path(os.fsdecode(p)) for p in names if p and is_patch_file(os.fsdecode(p))}
        if paths:
            self._record(paths)


class PatchWatcher:
    """Watches one folder (not its sub-folders) and reloads changed patch files.

    `start()` loads the folder and begins watching; `stop()` ends both threads. Also a
    context manager. Listeners are called on the watcher's loop thread, so a UI should turn
    each event into a message rather than touch widgets directly.
    """

    def __init__(self, system: PatchSystem, folder: str | Path, *, quiet_s: float = QUIET_S,
                 max_delay_s: float = MAX_DELAY_S):
        self.system = system
        self.folder = Path(os.path.abspath(folder))
        self.quiet_s, self.max_delay_s = quiet_s, max_delay_s
        self._listeners: list[Listener] = []
        self._pending: set[Path] = set()
        self._pending_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None

    def add_listener(self, listener: Listener) -> Listener:
        """Call `listener(event)` for every PatchEvent from now on; returns it."""
        self._listeners.append(listener)
        return listener

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> list[PatchEvent]:
        """Load the folder, tell the listeners, then watch it; returns the loading events."""
        if self._thread is not None:
            raise RuntimeError("the patch watcher is already running")
        if not self.folder.is_dir():
            raise NeuralpatchError("the patch folder does not exist or is not a folder",
                                   self.folder)
        self._stopping.clear()
        observer = Observer()
        observer.schedule(_Recorder(self._record), str(self.folder), recursive=False)
        observer.start()  # before loading, so a change made during the load is not missed
        self._observer = observer
        try:
            events = self.system.load_dir(self.folder)
        except BaseException:
            self._stop_observer()
            raise
        self._emit(events)
        self._thread = threading.Thread(target=self._loop, name="patch-watcher", daemon=True)
        self._thread.start()
        return events

    def stop(self) -> None:
        """Stop watching; changes not yet reloaded are dropped. Safe to call twice."""
        self._stopping.set()
        self._wake.set()
        self._stop_observer()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> PatchWatcher:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the two threads ---------------------------------------------------------------
    def _record(self, paths: set[Path]) -> None:
        with self._pending_lock:
            self._pending |= paths
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            first = time.monotonic()
            # Each new event restarts the quiet wait; a folder that never goes quiet is
            # still reloaded every `max_delay_s`.
            while not self._stopping.is_set():
                self._wake.clear()
                left = self.max_delay_s - (time.monotonic() - first)
                if left <= 0 or not self._wake.wait(min(self.quiet_s, left)):
                    break
            if self._stopping.is_set():
                break
            with self._pending_lock:
                paths, self._pending = self._pending, set()
            if paths:
                self._reload(paths)

    def _reload(self, paths: set[Path]) -> None:
        try:
            events = self.system.refresh(paths)
        except Exception:  # the watcher must outlive any one bad reload; the log has it
            log.exception("reloading patch files %s failed", sorted(map(str, paths)))
            return
        self._emit(events)

    def _emit(self, events: list[PatchEvent]) -> None:
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:  # one broken listener must not silence the others
                    log.exception("patch listener %r failed on %s", listener, event)

    def _stop_observer(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
