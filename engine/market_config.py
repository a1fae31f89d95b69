"""The catalogues a user browses: a small TOML file in the user config folder.

    # ~/.config/neuralpatch/market.toml
    [[catalogue]]
    url = "https://patches.example.org/"
    trust = "/home/me/keys/example.pub"   # optional: refuse entries not signed by this key

`$NEURALPATCH_CONFIG_DIR` moves the folder (tests use it). Read with `tomllib`; written
here (only strings in an array of tables, so a few lines of escaping suffice), atomically.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.catalogue import CatalogueError

CONFIG_NAME = "market.toml"
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class CatalogueSource:
    """One configured catalogue: where it is, and the key its entries must be signed by."""

    url: str
    trust: str | None = None


def config_path() -> Path:
    root = os.environ.get("NEURALPATCH_CONFIG_DIR") or platformdirs.user_config_dir("neuralpatch")
    return Path(root, CONFIG_NAME)


def read_sources(path: Path | None = None) -> list[CatalogueSource]:
    """The configured catalogues, in file order; none when the file does not exist."""
    path = path or config_path()
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise CatalogueError(f"{path}: over the {MAX_CONFIG_BYTES} byte limit")
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{path}: not valid TOML: {exc}") from None
    tables = doc.get("catalogue", [])
    if not isinstance(tables, list):
        raise CatalogueError(f"{path}: `catalogue` must be an array of tables ([[catalogue]])")
    sources = []
    for i, table in enumerate(tables):
        url = table.get("url") if isinstance(table, dict) else None
        trust = table.get("trust") if isinstance(table, dict) else None
        if not isinstance(url, str) or not url or not isinstance(trust, str | None):
            raise CatalogueError(
                f'{path}: catalogue #{i + 1} needs url = "..." (and trust, if any, a string)'
            )
        sources.append(CatalogueSource(url, trust or None))
    return sources


def write_sources(sources: list[CatalogueSource], path: Path | None = None) -> Path:
    path = path or config_path()
    lines = ["# Catalogues `neuralpatch market` and the market screen browse.", ""]
    for s in sources:
        lines.append("[[catalogue]]")
        lines.append(f"url = {_toml_string(s.url)}")
        if s.trust:
            lines.append(f"trust = {_toml_string(s.trust)}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, "\n".join(lines).encode("utf-8"))


def normal_url(url: str) -> str:
    """One spelling per catalogue, so a trusted key is found however the place is written:
    folders absolute, URLs ending in `/`, a trailing `index.json` dropped."""
    if "://" not in url:
        path = os.path.abspath(url)
        return os.path.dirname(path) if os.path.basename(path) == "index.json" else path
    url = url.removesuffix("index.json")
    return url if url.endswith("/") else url + "/"


def add_source(
    url: str, trust: str | None = None, path: Path | None = None
) -> list[CatalogueSource]:
    """Add (or change the trusted key of) a catalogue; returns the new list."""
    url = normal_url(url)
    sources = [s for s in read_sources(path) if normal_url(s.url) != url]
    sources.append(CatalogueSource(url, os.path.abspath(trust) if trust else None))
    write_sources(sources, path)
    return sources


def remove_source(url: str, path: Path | None = None) -> list[CatalogueSource]:
    sources = read_sources(path)
    kept = [s for s in sources if normal_url(s.url) != normal_url(url)]
    if len(kept) == len(sources):
        raise CatalogueError(f"{path or config_path()}: no catalogue {url!r} configured")
    write_sources(kept, path)
    return kept


def trust_for(
    url: str, path: Path | None = None, extra: Sequence[CatalogueSource] = ()
) -> str | None:
    """The key file configured for `url` (in `extra` first, then the config), if any."""
    url = normal_url(url)
    sources = [*extra, *read_sources(path)]
    return next((s.trust for s in sources if normal_url(s.url) == url and s.trust), None)


def is_configured(url: str, path: Path | None = None) -> bool:
    return any(normal_url(s.url) == normal_url(url) for s in read_sources(path))


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'
