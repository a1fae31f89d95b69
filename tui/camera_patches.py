"""The camera screen's side panel: patches in use (live from the watcher) and the last cascade."""

from __future__ import annotations

import itertools

from rich.text import Text
from textual.widgets import Static

from neuralpatch.engine.loaded_patch import LoadedPatch
from neuralpatch.engine.patch_result import ImageResult
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.safe_text import printable


def patch_lines(patches: tuple[LoadedPatch, ...], rejected: dict, folder: str | None) -> Text:
    """Running, disabled and rejected patch files, each with what matters about it."""
    text = Text()
    if folder is None:
        text.append("no patch folder\n(--patches DIR)", style="dim italic")
        return text
    if not patches and not rejected:
        text.append(f"no .specialneurons files in\n{printable(folder)}", style="dim italic")
        return text
    for p in patches:
        if p.disabled is None:
            text.append("● ", style="bold green")
            text.append(printable(p.name), style="bold")
        else:
            text.append("○ ", style="yellow")
            text.append(printable(p.name), style="dim")
        icon = " ◆" if p.patch.icon_png else ""
        text.append(
            f"{icon}\n  {len(p.patch.outputs)} outputs · {len(p.patch.triggers)} triggers\n",
            style="dim",
        )
        if p.disabled is not None:
            text.append(f"  disabled: {printable(p.disabled)}\n", style="yellow")
    running = {p.path for p in patches}
    for path, reason in rejected.items():
        text.append("✗ ", style="bold red")
        text.append(f"{printable(path.name)}\n", style="red")
        text.append(f"  {printable(reason)}\n", style="dim red")
        if path in running:  # a bad save never replaces a good version
            text.append("  previous version still running\n", style="yellow")
    text.rstrip()
    return text


MAX_CASCADE_LINES = 40  # more than a side panel shows: the rest is counted, not drawn
MAX_IDENTIFIED = 4  # patches named on the one-line answer


def cascade_lines(result: ImageResult, limit: int = MAX_CASCADE_LINES) -> Text:
    """The base class, then each patch that ran under it, one level of indent per cascade.

    With more than `limit` patches firing the rest is one "… and N more" line, so a frame
    with 1,000 firing patches costs no more to draw than one with 40.
    """
    text = Text()
    best = result.top[0]
    text.append(f"{printable(best.name)} {best.probability:.1%}", style="bold")
    shown = 0
    for depth, r in result.walk():
        if shown == limit:
            more = result.count() - limit
            text.append(f"\n… and {more} more patches", style="dim italic")
            break
        shown += 1
        text.append("\n" + "  " * depth + "└ ")
        text.append(printable(r.name), style="bold cyan")
        answer = f" → {printable(r.answer_name)} {r.probability:.1%}"
        text.append(answer, style="" if r.identified else "dim")
    if not result.patches:
        text.append("\nno patch triggered", style="dim italic")
    return text


def identified_line(result: ImageResult, limit: int = MAX_IDENTIFIED) -> str:
    """`name 45.3%  ›  patch: sub-category 91.2%  ›  …`: the main object, then the cascade."""
    best = result.top[0]
    parts = [f"{best.name}  {best.probability:.1%}"]
    for _, r in itertools.islice(result.walk(), limit):
        parts.append(f"{r.name}: {r.answer_name} {r.probability:.0%}")
    ran = result.count()  # without making a result object for each patch not shown
    if ran > limit:
        parts.append(f"+{ran - limit} more")
    return printable("  ›  ".join(parts))


class PatchPanel(Static):
    """Lists the patch system's files; call `refresh_from` after every PatchEvent."""

    def __init__(self, folder: str | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.folder = folder
        self.error: str | None = None

    def on_mount(self) -> None:
        self.border_title = "Patches"

    def refresh_from(self, system: PatchSystem) -> None:
        if self.error is not None:
            self.update(Text(printable(self.error), style="red"))
        else:
            self.update(patch_lines(system.patches, system.rejected, self.folder))

    def show_error(self, error: str) -> None:
        """The folder itself cannot be watched (missing, unreadable)."""
        self.error = error
        self.update(Text(printable(error), style="red"))
