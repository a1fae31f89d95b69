"""Hot reload: keep a PatchSystem in line with a folder of `.specialneurons` files.

Built like mkdocs' livereload: the watchdog handler only records which paths changed; one
loop thread waits until events stop for `quiet_s` (0.25 s), then refreshes those paths once.
So ten quick saves are one reload, and an atomic save (temp file renamed into place, seen as
a move) is picked up by its destination name. A file that is half written or invalid is
rejected by the PatchSystem and the version already running stays; the next save that makes
it valid loads it. Listeners get each PatchEvent on the loop thread; an exception in one is
logged and the watcher carries on. A watched folder that is deleted unloads its patches; when
it is created again (checked every `FOLDER_CHECK_S`) it is loaded and watched again.
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
from neuralpatch.engine.patch_pins import is_pins_file
from neuralpatch.engine.patch_system import PatchEvent, PatchSystem, is_patch_file

log = logging.getLogger(__name__)
Listener = Callable[[PatchEvent], None]
QUIET_S = 0.25
MAX_DELAY_S = 2.0
FOLDER_CHECK_S = 1.0
# Reads (ours included) show up as opened / closed-without-writing: they change nothing.
_CHANGES = frozenset({"created", "modified", "moved", "deleted", "closed"})


def _watched(name: str) -> bool:
    """A patch file, or the folder's pins file (a pin changes which file of a name runs)."""
    return is_patch_file(name) or is_pins_file(name)


class _Recorder(FileSystemEventHandler):
    """Runs on watchdog's thread: notes the patch files an event names, nothing more."""

    def __init__(
        self, folder: Path, record: Callable[[set[Path]], None], folder_gone: Callable[[], None]
    ):
        self._folder, self._record, self._folder_gone = folder, record, folder_gone

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            if (
                event.event_type in ("deleted", "moved")
                and Path(os.fsdecode(event.src_path)) == self._folder
            ):
                self._folder_gone()
            return
        if event.event_type not in _CHANGES:
            return
        names = [event.src_path, getattr(event, "dest_path", "")]
        paths = {Path(os.fsdecode(p)) for p in names if p and _watched(os.fsdecode(p))}
        if paths:
            self._record(paths)


class PatchWatcher:
    """Watches one folder (not its sub-folders) and reloads changed patch files.

    `start()` loads the folder and begins watching; `stop()` ends both threads. Also a
    context manager. Listeners are called on the watcher's loop thread, so a UI should turn
    each event into a message rather than touch widgets directly.
    """

    def __init__(
        self,
        system: PatchSystem,
        folder: str | Path,
        *,
        quiet_s: float = QUIET_S,
        max_delay_s: float = MAX_DELAY_S,
    ):
        self.system = system
        self.folder = Path(os.path.abspath(folder))
        self.quiet_s, self.max_delay_s = quiet_s, max_delay_s
        self._listeners: list[Listener] = []
        self._pending: set[Path] = set()
        self._pending_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._observer: BaseObserver | None = None
        self._watched_id: tuple[int, int] | None = None  # (device, inode) being watched
        self._folder_lost = threading.Event()  # watchdog saw the watched folder go
        self._failed_id: tuple[int, int] | None = None  # a folder that could not be watched
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
            raise NeuralpatchError(
                "the patch folder does not exist or is not a folder", self.folder
            )
        self._stopping.clear()
        events = self._watch_and_load()
        self._emit(events)
        self._thread = threading.Thread(target=self._loop, name="patch-watcher", daemon=True)
        self._thread.start()
        return events

    def _folder_id(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.folder)
        except OSError:
            return None
        return (st.st_dev, st.st_ino) if os.path.isdir(self.folder) else None

    def _watch_and_load(self) -> list[PatchEvent]:
        self._folder_lost.clear()
        self._watched_id = self._folder_id()
        observer = Observer()  # its inotify thread runs from here: stop it on any failure
        try:
            observer.schedule(
                _Recorder(self.folder, self._record, self._lose_folder),
                str(self.folder),
                recursive=False,
            )
            observer.start()  # before loading, so a change made during the load is not missed
        except BaseException:
            observer.stop()
            raise
        self._observer = observer
        try:
            return self.system.load_dir(self.folder)
        except BaseException:
            self._stop_observer()
            raise

    def stop(self) -> None:
        """Stop watching; changes not yet reloaded are dropped. Safe to call twice."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:  # first: the loop re-creates the observer if the
            self._thread.join()  # folder comes back, so stop that before the observer
            self._thread = None
        self._stop_observer()

    def __enter__(self) -> PatchWatcher:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the two threads ---------------------------------------------------------------
    def _lose_folder(self) -> None:
        self._folder_lost.set()
        self._wake.set()

    def _record(self, paths: set[Path]) -> None:
        with self._pending_lock:
            self._pending |= paths
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            if not self._wake.wait(FOLDER_CHECK_S):
                self._check_folder()
                continue
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
            if self._folder_lost.is_set():
                self._check_folder()

    def _check_folder(self) -> None:
        """Unload a deleted folder's patches; reload and watch it again once it is back."""
        now = self._folder_id()
        try:
            gone = self._folder_lost.is_set() or now != self._watched_id
            if self._observer is not None and gone:
                self._stop_observer()  # inotify's watch died with the folder
                log.warning("patch folder %s was removed", self.folder)
                known = [p.path for p in self.system.patches] + list(self.system.rejected)
                self._emit(self.system.refresh(p for p in known if p.parent == self.folder))
            if self._observer is None and now is not None and now != self._failed_id:
                log.warning("patch folder %s is back", self.folder)
                self._emit(self._watch_and_load())
        except Exception:  # e.g. unreadable: try again once it is another folder
            self._failed_id = now
            log.exception("checking the patch folder %s failed", self.folder)

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
