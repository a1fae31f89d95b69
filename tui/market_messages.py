"""Messages the market workers post to the market screen (downloads run in threads)."""

from __future__ import annotations

import numpy as np
from textual.message import Message

from neuralpatch.engine.catalogue import Catalogue
from neuralpatch.engine.market_fetch import Location
from neuralpatch.engine.market_install import EntryStatus, Installed
from neuralpatch.engine.market_publish import Published


class CatalogueLoaded(Message):
    """A catalogue's index was read; `statuses` are its patches against the patch folder."""

    def __init__(
        self, location: Location, catalogue: Catalogue, statuses: list[EntryStatus]
    ) -> None:
        super().__init__()
        self.location, self.catalogue, self.statuses = location, catalogue, statuses


class MarketFailed(Message):
    """Loading, an icon or an install failed; `title` says which."""

    def __init__(self, title: str, error: Exception) -> None:
        super().__init__()
        self.title, self.error = title, error


class IconFetched(Message):
    """An entry's icon arrived (RGB, composited over the screen's background)."""

    def __init__(self, sha256: str, rgb: np.ndarray) -> None:
        super().__init__()
        self.sha256, self.rgb = sha256, rgb


class DownloadProgress(Message):
    """Bytes of the install under way; a burst collapses into the latest."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done, self.total = done, total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DownloadProgress)


class PatchInstalled(Message):
    """An install finished (or the same bytes were there already)."""

    def __init__(self, installed: Installed, statuses: list[EntryStatus]) -> None:
        super().__init__()
        self.installed, self.statuses = installed, statuses


class PublishFinished(Message):
    """A publish from the training app ended: the entry added, or why it was not."""

    def __init__(self, published: Published | None, error: Exception | None = None) -> None:
        super().__init__()
        self.published, self.error = published, error
