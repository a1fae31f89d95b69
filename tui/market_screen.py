"""The market screen: browse a catalogue (icons, outputs, triggers, fit with the base network)
and install a patch into the current patch folder with a key. Catalogues come from the market
config; one typed in that loads is remembered. Index, icons and installs are read in thread
workers posting `market_messages`; an install is one atomic rename into the patch folder, so
a camera screen watching it hot-reloads the patch at once.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from neuralpatch.engine.catalogue import Catalogue, Entry
from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.market_config import (
    CatalogueSource,
    add_source,
    is_configured,
    read_sources,
    trust_for,
)
from neuralpatch.engine.market_fetch import Location, fetch_catalogue, fetch_icon
from neuralpatch.engine.market_install import (
    EntryStatus,
    Installed,
    entry_statuses,
    install_entry,
    installed_files,
)
from neuralpatch.engine.market_signing import load_public_key
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.safe_text import printable
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.market_entry_view import detail_text, icon_rgb, mark
from neuralpatch.tui.market_messages import (
    CatalogueLoaded,
    DownloadProgress,
    IconFetched,
    MarketFailed,
    PatchInstalled,
)

NO_SOURCE_HELP = "Type a catalogue URL or folder above and press Enter."
log = logging.getLogger(__name__)
INSTALL_FAILED = "Not installed"
NO_FOLDER_HELP = "No patch folder to install into (camera: --patches DIR; market browse: --to DIR)."


def _log_unexpected(exc: Exception) -> None:
    """A worker's failure is shown on screen; one that is a bug also goes to the log, and
    never takes the camera screen underneath down with it."""
    if not isinstance(exc, NeuralpatchError | OSError):
        log.error("market worker failed", exc_info=exc)


class MarketScreen(Screen[None]):
    """Browse one catalogue at a time; `i` (or Enter on an entry) installs it."""

    BINDINGS = [
        Binding("i", "install", "Install"),
        Binding("r", "reload", "Reload"),
        Binding("c", "next_catalogue", "Next catalogue"),
        Binding("escape", "close", "Back"),
    ]

    def __init__(
        self,
        patch_dir: str | None,
        system: PatchSystem,
        palette: Palette | None = None,
        sources: list[CatalogueSource] | None = None,
    ) -> None:
        super().__init__()
        self.patch_dir, self.system, self.palette = patch_dir, system, palette
        self._sources = sources
        self.location: Location | None = None
        self.catalogue: Catalogue | None = None
        self.statuses: list[EntryStatus] = []
        self.sources: list[CatalogueSource] = []
        self.installed: list[Installed] = []  # every install of this screen, newest last
        self._icons: dict[str, np.ndarray] = {}
        self._stop = threading.Event()
        self._installing: Entry | None = None  # one install at a time

    def compose(self) -> ComposeResult:
        with Horizontal(id="market-main"):
            with Vertical(id="market-left"):
                yield Input(placeholder="catalogue URL or folder", id="market-source")
                yield OptionList(id="market-entries")
            with Vertical(id="market-detail"):
                yield ImageView("no icon", palette=self.palette, id="market-icon")
                yield Static(NO_SOURCE_HELP, id="market-info", markup=False)
        yield Label("", id="market-status", markup=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#market-entries").border_title = "Patches"
        self.query_one("#market-icon").border_title = "Icon"
        try:
            self.sources = self._sources if self._sources is not None else read_sources()
        except NeuralpatchError as exc:
            self.notify(printable(exc), title="Market config", severity="error", timeout=15)
        source = self.query_one("#market-source", Input)
        if self.sources:
            source.value = self.sources[0].url
            self.action_reload()
        source.focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_catalogue":  # shown when there is more than one to go through
            return len(self.sources) > 1
        return True

    def on_unmount(self) -> None:
        self._stop.set()  # an install under way stops at its next chunk, writing nothing

    # -- actions -------------------------------------------------------------------------
    def action_close(self) -> None:
        self.dismiss(None)

    def action_next_catalogue(self) -> None:
        """The next configured catalogue, round the list."""
        source = self.query_one("#market-source", Input)
        urls = [s.url for s in self.sources]
        at = urls.index(source.value) + 1 if source.value in urls else 0
        source.value = urls[at % len(urls)]
        self.action_reload()

    def action_reload(self) -> None:
        text = self.query_one("#market-source", Input).value.strip()
        if not text:
            self.notify(NO_SOURCE_HELP, severity="warning")
            return
        self._status(f"reading {printable(text)}…")
        self._load(text)

    @on(Input.Submitted, "#market-source")
    def _source_submitted(self) -> None:
        self.action_reload()

    @on(OptionList.OptionHighlighted, "#market-entries")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show(event.option_index)

    @on(OptionList.OptionSelected, "#market-entries")
    def _selected(self) -> None:
        self.action_install()

    @property
    def selected(self) -> EntryStatus | None:
        index = self.query_one("#market-entries", OptionList).highlighted
        return self.statuses[index] if index is not None and index < len(self.statuses) else None

    def action_install(self) -> None:
        status = self.selected
        if status is None or self.location is None or self.catalogue is None:
            return
        if not self.patch_dir:
            self.notify(NO_FOLDER_HELP, severity="warning")
            return
        if self._installing is not None:
            self.notify(f"Still installing {printable(self._installing.spec)}.", timeout=3)
            return
        entry = self._installing = status.newest_fitting or status.entry
        self._status(f"installing {printable(entry.spec)}…")
        self._install(self.location, self.catalogue, entry)

    # -- workers -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="market-load")
    def _load(self, text: str) -> None:
        try:
            location, catalogue = fetch_catalogue(text)
            statuses = self._statuses(catalogue)
            if not is_configured(text):
                add_source(text)  # remembered for the next visit
        except Exception as exc:  # see _log_unexpected
            _log_unexpected(exc)
            self.post_message(MarketFailed("Catalogue not loaded", exc))
            return
        self.post_message(CatalogueLoaded(location, catalogue, statuses))

    def _statuses(self, catalogue: Catalogue) -> list[EntryStatus]:
        files = installed_files(self.patch_dir) if self.patch_dir else []
        return entry_statuses(catalogue, catalogue.search(), files, self.system)

    @work(thread=True, group="market-icon")
    def _fetch_icon(self, location: Location, entry: Entry) -> None:
        try:
            png = fetch_icon(location, entry)
            rgb = icon_rgb(png) if png is not None else None
        except Exception as exc:  # see _log_unexpected
            _log_unexpected(exc)
            self.post_message(MarketFailed("Icon not shown", exc))
            return
        if rgb is not None and entry.icon_sha256 is not None:
            self.post_message(IconFetched(entry.icon_sha256, rgb))

    @work(thread=True, group="market-install")
    def _install(self, location: Location, catalogue: Catalogue, entry: Entry) -> None:
        assert self.patch_dir is not None
        try:
            trust = trust_for(location.text, extra=self._sources or [])
            done = install_entry(
                location,
                catalogue,
                entry,
                self.patch_dir,
                self.system,
                trusted=load_public_key(trust) if trust else None,
                on_progress=lambda d, t: self.post_message(DownloadProgress(d, t)),
                stop=self._stop,
            )
            statuses = self._statuses(catalogue)
        except Exception as exc:  # see _log_unexpected
            _log_unexpected(exc)
            self.post_message(MarketFailed(INSTALL_FAILED, exc))
            return
        self.post_message(PatchInstalled(done, statuses))

    # -- messages ------------------------------------------------------------------------
    def on_catalogue_loaded(self, message: CatalogueLoaded) -> None:
        self.location, self.catalogue = message.location, message.catalogue
        for problem in message.catalogue.problems:
            self.notify(printable(problem), title="Entry skipped", severity="warning", timeout=10)
        self._list(message.statuses)
        self._status(f"{printable(message.location.text)}: {len(message.statuses)} patch(es)")
        if message.statuses:
            self.query_one("#market-entries", OptionList).focus()

    def on_market_failed(self, message: MarketFailed) -> None:
        if message.title == INSTALL_FAILED:
            self._installing = None
        self.notify(printable(message.error), title=message.title, severity="error", timeout=15)
        self._status(f"{message.title}: {printable(message.error)}")

    def on_icon_fetched(self, message: IconFetched) -> None:
        self._icons[message.sha256] = message.rgb
        status = self.selected
        if status is not None and status.entry.icon_sha256 == message.sha256:
            self.query_one("#market-icon", ImageView).set_image(message.rgb)

    def on_download_progress(self, message: DownloadProgress) -> None:
        self._status(f"downloading… {message.done >> 10} of {message.total >> 10} KiB")

    def on_patch_installed(self, message: PatchInstalled) -> None:
        self._installing = None
        done = message.installed
        self.installed.append(done)
        what = "already installed" if done.already else "installed"
        self.notify(
            f"{printable(done.entry.spec)} {what} as {printable(done.path.name)}", timeout=6
        )
        self._status(f"{what} {printable(done.entry.spec)} in {printable(done.path.parent)}")
        self._list(message.statuses)

    # -- drawing -------------------------------------------------------------------------
    def _list(self, statuses: list[EntryStatus]) -> None:
        keep = self.selected.entry.name if self.selected else None
        self.statuses = statuses
        entries = self.query_one("#market-entries", OptionList)
        entries.set_options(
            Option(
                Text.assemble(
                    f"{mark(s)} ", printable(s.entry.name), (f"  v{s.entry.version}", "dim")
                )
            )
            for s in statuses
        )
        names = [s.entry.name for s in statuses]
        if statuses:
            entries.highlighted = names.index(keep) if keep in names else 0
            self._show(entries.highlighted)
        else:
            self.query_one("#market-info", Static).update("This catalogue lists no patches yet.")

    def _show(self, index: int) -> None:
        if not 0 <= index < len(self.statuses):
            return
        status = self.statuses[index]
        self.query_one("#market-info", Static).update(detail_text(status, self.patch_dir))
        view = self.query_one("#market-icon", ImageView)
        sha = status.entry.icon_sha256
        view.set_image(self._icons.get(sha) if sha else None)
        if sha and sha not in self._icons and self.location is not None:
            self._fetch_icon(self.location, status.entry)

    def _status(self, text: str) -> None:
        self.query_one("#market-status", Label).update(text)
