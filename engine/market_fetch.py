"""Reading a catalogue and its files from a folder, a `file://` URL or `http(s)://`.

Every read has a byte cap known before it starts (the index's size for a patch), a timeout
for the network, progress callbacks and a stop event. A download is checked against the
index (size, sha256, and the publisher's signature when a trusted key is given) and then
validated like any loaded plugin, all in memory: a failed or tampered download writes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from neuralpatch.engine.catalogue import (
    INDEX_NAME,
    MAX_INDEX_BYTES,
    Catalogue,
    CatalogueError,
    Entry,
    check_relative,
    parse_index,
)
from neuralpatch.engine.container import PATCH_MAGIC, Container, parse_container
from neuralpatch.engine.errors import PatchFormatError
from neuralpatch.engine.market_signing import verify_entry
from neuralpatch.engine.patch_file import (
    MAX_ICON_BYTES,
    MAX_PATCH_BYTES,
    PATCH_BLOBS,
    PatchFile,
    check_icon,
    read_patch_fields,
)

Progress = Callable[[int, int], None]
TIMEOUT_S = 30.0
CHUNK = 64 << 10
_USER_AGENT = f"neuralpatch/{importlib.metadata.version('neuralpatch')}"


@dataclass(frozen=True)
class Location:
    """Where a catalogue lives: a local folder (`root`) or a base URL ending in `/`."""

    text: str
    root: Path | None = None
    url: str | None = None

    def where(self, rel: str) -> str:
        """How a file of the catalogue is named in messages."""
        return (
            str(self.root / rel) if self.root is not None else urllib.parse.urljoin(self.url, rel)
        )


def locate(text: str) -> Location:
    """A folder path, `file://` URL or `http(s)://` URL; a trailing `index.json` is allowed."""
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme in ("http", "https"):
        if not parsed.netloc:
            raise CatalogueError(f"{text}: a URL needs a host")
        url = text if text.endswith("/") else text + "/"
        if url.endswith("/" + INDEX_NAME + "/"):
            url = url[: -len(INDEX_NAME) - 1]
        return Location(text, url=url)
    if parsed.scheme == "file":
        text_path = urllib.request.url2pathname(parsed.path)
    elif parsed.scheme and not Path(text).exists():  # a folder may have a colon in its name
        raise CatalogueError(
            f"{text}: unsupported URL scheme {parsed.scheme!r} (http, https, file)"
        )
    else:
        text_path = text
    root = Path(text_path)
    if root.name == INDEX_NAME:
        root = root.parent
    if not (root / INDEX_NAME).is_file():
        raise CatalogueError(f"{root}: no {INDEX_NAME} here; not a catalogue folder")
    return Location(text, root=root.absolute())


def read_file(
    location: Location,
    rel: str,
    max_bytes: int,
    *,
    timeout: float = TIMEOUT_S,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> bytes:
    """The bytes of `rel` in the catalogue, refusing more than `max_bytes`."""
    where = location.where(rel)
    chunks, done = [], 0
    with _opened(location, rel, max_bytes, timeout) as (stream, total):
        while True:
            if stop is not None and stop.is_set():
                raise CatalogueError(f"{where}: download cancelled")
            try:
                chunk = stream.read(min(CHUNK, max_bytes + 1 - done))
            except (OSError, TimeoutError) as exc:
                raise CatalogueError(f"{where}: download failed: {_reason(exc, timeout)}") from None
            if not chunk:
                break
            chunks.append(chunk)
            done += len(chunk)
            if done > max_bytes:
                raise CatalogueError(
                    f"{where}: larger than the {max_bytes} bytes the index allows; refused"
                )
            if on_progress is not None:
                on_progress(done, total or max_bytes)
    return b"".join(chunks)


@contextlib.contextmanager
def _opened(
    location: Location, rel: str, max_bytes: int, timeout: float
) -> Iterator[tuple[BinaryIO, int]]:
    """(stream, announced size or 0) of a local or remote file, refused when over the cap."""
    where = location.where(rel)
    if location.root is not None:
        root = location.root.resolve()
        real = (location.root / rel).resolve()
        if root not in real.parents:  # a link (or a swapped folder) leading outside
            raise CatalogueError(f"{where}: points outside the catalogue folder; refused")
        if not real.is_file():  # a FIFO would block, a device would never end
            raise CatalogueError(f"{where}: not found, or not a regular file")
        try:
            stream = open(real, "rb")  # closed by the `with` below
            size = os.fstat(stream.fileno()).st_size
        except OSError as exc:
            raise CatalogueError(f"{where}: cannot read: {exc.strerror}") from None
    else:
        request = urllib.request.Request(where, headers={"User-Agent": _USER_AGENT})
        try:
            stream = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise CatalogueError(f"{where}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise CatalogueError(f"{where}: {_reason(exc, timeout)}") from None
        length = stream.headers.get("Content-Length")
        size = int(length) if length and length.isdigit() else 0
    with stream:
        if size > max_bytes:
            raise CatalogueError(
                f"{where}: {size} bytes, larger than the {max_bytes} bytes the index allows; "
                "refused"
            )
        yield stream, size


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"timed out after {timeout:g} s"
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
    return str(reason)


def fetch_catalogue(text: str, *, timeout: float = TIMEOUT_S) -> tuple[Location, Catalogue]:
    """Locate a catalogue and read its index."""
    location = locate(text)
    data = read_file(location, INDEX_NAME, MAX_INDEX_BYTES, timeout=timeout)
    return location, parse_index(data, location.where(INDEX_NAME))


def download_entry(
    location: Location,
    entry: Entry,
    *,
    trusted: Ed25519PublicKey | None = None,
    timeout: float = TIMEOUT_S,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> tuple[bytes, PatchFile]:
    """The plugin file of `entry`, verified, and the patch it holds; nothing is written.

    The signature is checked before the download (an unsigned entry under a trusted key
    costs no bytes), the size and sha256 after it, then the file is parsed with the same
    checks `load_patch` runs.
    """
    problem = check_relative(entry.file, ".specialneurons")
    if problem:
        raise CatalogueError(f"index entry {entry.name!r}: file {problem}; refused")
    if trusted is not None:
        verify_entry(entry, trusted)
    where = location.where(entry.file)
    data = read_file(
        location,
        entry.file,
        min(entry.size, MAX_PATCH_BYTES),
        timeout=timeout,
        on_progress=on_progress,
        stop=stop,
    )
    if len(data) != entry.size:
        raise CatalogueError(f"{where}: {len(data)} bytes, the index says {entry.size}; refused")
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise CatalogueError(
            f"{where}: sha256 does not match the index: the file is corrupt or was tampered "
            "with; refused"
        )
    patch = patch_from_bytes(data, where)
    if patch.name != entry.name:
        raise CatalogueError(
            f"{where}: holds patch {patch.name!r}, the index says {entry.name!r}; refused"
        )
    return data, patch


def patch_from_bytes(data: bytes, where: str) -> PatchFile:
    """The checks of `load_patch`, on bytes in memory; errors become CatalogueError."""
    try:
        container = parse_container(
            data,
            where,
            magic=PATCH_MAGIC,
            kind="patch",
            blob_names=PATCH_BLOBS,
            max_file_bytes=MAX_PATCH_BYTES,
        )
        return read_patch_fields(container)
    except PatchFormatError as exc:
        raise CatalogueError(f"{exc}; refused") from None


def fetch_icon(location: Location, entry: Entry, *, timeout: float = TIMEOUT_S) -> bytes | None:
    """The entry's icon PNG, checked against the index's sha256 and decoded in full once."""
    if entry.icon is None or entry.icon_sha256 is None:
        return None
    where = location.where(entry.icon)
    cap = min(entry.icon_size or 0, MAX_ICON_BYTES)
    data = read_file(location, entry.icon, cap, timeout=timeout)
    if hashlib.sha256(data).hexdigest() != entry.icon_sha256:
        raise CatalogueError(f"{where}: sha256 does not match the index")
    try:
        check_icon(data, Container(Path(where), {}, b""))
    except PatchFormatError as exc:
        raise CatalogueError(str(exc)) from None
    return data
