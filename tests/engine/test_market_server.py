"""The read-only catalogue server, the key files and the market config, without a patch."""

from __future__ import annotations

import http.client
import os
import socket
import stat

import pytest

from neuralpatch.engine.catalogue import Catalogue, CatalogueError, write_index
from neuralpatch.engine.market_config import (
    add_source,
    read_sources,
    remove_source,
    trust_for,
)
from neuralpatch.engine.market_fetch import fetch_catalogue
from neuralpatch.engine.market_server import serve_catalogue
from neuralpatch.engine.market_signing import generate_key, load_private_key, load_public_key


@pytest.fixture
def site(tmp_path):
    """A catalogue folder with a secret beside it, a hidden file and a link leading out."""
    (tmp_path / "secret.txt").write_text("outside")
    root = tmp_path / "cat"
    (root / "patches").mkdir(parents=True)
    write_index(root, Catalogue())
    (root / "patches" / "a.specialneurons").write_bytes(b"NPATCH\x00\x01 data")
    (root / ".index.json.tmp").write_text("half written")
    os.symlink(tmp_path / "secret.txt", root / "patches" / "link.specialneurons")
    with serve_catalogue(root, port=0, background=True) as server:
        yield server


def get(server, path: str, method: str = "GET") -> http.client.HTTPResponse:
    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(method, path)
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_files_are_served_with_sane_headers(site):
    index = get(site, "/index.json")
    assert index.status == 200 and b'"neuralpatch-catalogue"' in index.body
    assert index.headers["Content-Type"] == "application/json"
    assert index.headers["X-Content-Type-Options"] == "nosniff"
    assert index.headers["Cache-Control"] == "no-cache"
    patch = get(site, "/patches/a.specialneurons")
    assert patch.status == 200 and patch.body == b"NPATCH\x00\x01 data"
    assert patch.headers["Content-Type"] == "application/octet-stream"
    assert "Python" not in patch.headers["Server"]
    assert get(site, "/index.json", "HEAD").status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/patches/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/patches/%2E%2E%2F..%2Fsecret.txt",
        "/patches/link.specialneurons",  # a link to a file outside the folder
        "/.index.json.tmp",  # hidden: write_atomic's temp files
        "/",  # no listings: index.json is the listing
        "/patches/",
        "/patches",
        "/missing.json",
        "/index.json%00.png",
    ],
)
def test_nothing_outside_the_folder_and_no_listings(site, path):
    response = get(site, path)
    assert response.status == 404 and b"outside" not in response.body
    assert b"Directory listing" not in response.body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_the_server_is_read_only(site, method):
    assert get(site, "/index.json", method).status in (405, 501)


def test_serving_a_folder_without_index_is_refused(tmp_path):
    with pytest.raises(CatalogueError, match="no index.json"):
        serve_catalogue(tmp_path, port=0)


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path):
    private, public = generate_key(tmp_path / "me")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    key = load_private_key(private)
    assert load_public_key(public).public_bytes_raw() == key.public_key().public_bytes_raw()
    with pytest.raises(CatalogueError, match="already exists"):
        generate_key(tmp_path / "me")
    (tmp_path / "junk.pub").write_text("not a key")
    with pytest.raises(CatalogueError, match="junk.pub: not a PEM public key"):
        load_public_key(tmp_path / "junk.pub")


def test_config_round_trips_odd_urls(tmp_path):
    path = tmp_path / "market.toml"
    odd = 'http://example.org/a "quoted" \\ path\t/'
    add_source("http://127.0.0.1:8765/", path=path)
    add_source(odd, "/keys/k.pub", path=path)
    assert [s.url for s in read_sources(path)] == ["http://127.0.0.1:8765/", odd]
    assert trust_for(odd, path) == "/keys/k.pub" and trust_for("other", path) is None
    assert [s.url for s in remove_source(odd, path)] == ["http://127.0.0.1:8765/"]
    path.write_text("[[catalogue]]\nurl = 3\n")
    with pytest.raises(CatalogueError, match="market.toml: catalogue #1 needs url"):
        read_sources(path)


def test_a_server_that_never_answers_times_out():
    with socket.socket() as silent:  # accepts connections (the backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(CatalogueError, match=r"index.json: timed out after 0.3 s"):
            fetch_catalogue(url, timeout=0.3)


def test_a_url_without_a_catalogue_is_named(site):
    with pytest.raises(CatalogueError, match=r"/patches/index.json: HTTP 404"):
        fetch_catalogue(site.url + "patches")
