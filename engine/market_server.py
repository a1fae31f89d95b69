"""A read-only HTTP server for one catalogue folder (the standard library's threading server).

A convenience for testing and small teams: any static web server hosts a catalogue as well.
Only GET and HEAD; paths are mapped inside the folder (no `..`, no hidden files, no links
leading outside, no directory listings: `index.json` is the listing) and answered with a
content type, `nosniff`, and `no-cache` on the index so clients see new versions at once.
"""

from __future__ import annotations

import logging
import os
import posixpath
import threading
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from neuralpatch.engine.catalogue import INDEX_NAME, CatalogueError

log = logging.getLogger(__name__)
TYPES = {
    ".json": "application/json",
    ".specialneurons": "application/octet-stream",
    ".png": "image/png",
}


class _Handler(SimpleHTTPRequestHandler):
    server_version = "neuralpatch-market"
    sys_version = ""
    root: Path  # set on the subclass `serve_catalogue` makes
    on_request: Callable[[str], None] | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(self.root), **kwargs)

    def translate_path(self, path: str) -> str:
        """The real file for a URL path, or "" when it is outside, hidden or not a file."""
        clean = urllib.parse.unquote(urllib.parse.urlsplit(path).path, errors="strict")
        parts = [p for p in posixpath.normpath(clean).split("/") if p]
        if (
            "\x00" in clean
            or ".." in clean.split("/")
            or any(p.startswith(".") or "\\" in p for p in parts)
            or not parts
        ):
            return ""
        real = Path(os.path.realpath(self.root.joinpath(*parts)))
        if self.root not in real.parents or not real.is_file():
            return ""
        return str(real)

    def send_head(self):
        try:
            path = self.translate_path(self.path)
        except UnicodeDecodeError:
            path = ""
        if not path:
            self.send_error(HTTPStatus.NOT_FOUND, "Not found")
            return None
        try:
            f = open(path, "rb")
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "Not found")
            return None
        try:
            size = os.fstat(f.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self.send_header(
                "Content-Type", TYPES.get(Path(path).suffix, "application/octet-stream")
            )
            self.send_header("Content-Length", str(size))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'none'")
            self.send_header(
                "Cache-Control", "no-cache" if Path(path).name == INDEX_NAME else "max-age=3600"
            )
            self.end_headers()
        except BaseException:
            f.close()
            raise
        return f

    def list_directory(self, path):  # never reached: translate_path refuses folders
        self.send_error(HTTPStatus.NOT_FOUND, "Not found")
        return None

    def _refuse(self) -> None:
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "Read-only")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def log_message(self, format: str, *args) -> None:
        text = format % args
        if self.on_request is not None:
            self.on_request(f"{self.address_string()} {text}")
        else:
            log.info("%s %s", self.address_string(), text)


class CatalogueServer:
    """A running server: `url` to give clients, `close()` to stop it."""

    def __init__(self, httpd: ThreadingHTTPServer, root: Path, thread: threading.Thread | None):
        self.httpd, self.root, self.thread = httpd, root, thread
        host, port = httpd.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        self.url = f"http://{shown}:{port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        if self.thread is not None:  # shutdown() waits for serve_forever: only if it runs
            self.httpd.shutdown()
            self.thread.join()
        self.httpd.server_close()

    def __enter__(self) -> CatalogueServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_catalogue(
    folder: str | Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    background: bool = False,
    on_request: Callable[[str], None] | None = None,
) -> CatalogueServer:
    """Bind the server (port 0: any free port); with `background`, serve on a thread now."""
    root = Path(os.path.realpath(folder))
    if not (root / INDEX_NAME).is_file():
        raise CatalogueError(f"{root}: no {INDEX_NAME} here; publish a patch into it first")
    hook = staticmethod(on_request) if on_request is not None else None
    handler = type("CatalogueHandler", (_Handler,), {"root": root, "on_request": hook})
    try:
        httpd = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise CatalogueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    httpd.daemon_threads = True
    thread = None
    if background:
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # close() waits for one poll
            name="market-server",
            daemon=True,
        )
        thread.start()
    return CatalogueServer(httpd, root, thread)
