"""The market on its own: `neuralpatch market browse`, without a camera running.

The same `MarketScreen` the camera screen opens with `m`; leaving it ends the app, and the
patches installed are listed once the screen is gone, so they stay in the scrollback.
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.market_config import CatalogueSource
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.safe_text import printable
from neuralpatch.tui.app_shell import AppShell, run_in_terminal
from neuralpatch.tui.halfblock import Palette, detect_palette, palette_notice
from neuralpatch.tui.market_screen import MarketScreen


class MarketApp(AppShell):
    TITLE = "Neuralpatch market"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, screen: MarketScreen) -> None:
        super().__init__(screen)
        self.market_screen = screen

    def on_mount(self, event: events.Mount) -> None:
        event.prevent_default()  # AppShell would push the screen without the exit callback
        self.push_screen(self.market_screen, lambda _: self.exit(0))
        if self.palette_notice:
            self.notify(self.palette_notice, title="Colours", timeout=8)


def make_market_app(
    base: BaseNetwork,
    patch_dir: str | None,
    source: CatalogueSource | None = None,
    palette: Palette | None = None,
) -> MarketApp:
    """The app browsing `source` (default: the configured catalogues) for `base`."""
    screen = MarketScreen(
        patch_dir,
        PatchSystem.for_base(base),
        palette or detect_palette(),
        [source] if source is not None else None,
    )
    app = MarketApp(screen)
    if palette is None:
        app.palette_notice = palette_notice(detect_palette())
    return app


def run_market_app(
    base: BaseNetwork, patch_dir: str | None, source: CatalogueSource | None = None
) -> int:
    app = make_market_app(base, patch_dir, source)
    code = run_in_terminal(app, "market.log")
    for done in app.market_screen.installed:
        print(f"installed {printable(done.entry.spec)}  {printable(done.path)}")
    return code
