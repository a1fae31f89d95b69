"""`neuralpatch serve`: the camera screen over HTTP and textual-serve's websocket, and in a real
browser (Debian's chromium, driven by Selenium; `.ci/run` installs both)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import skimage.data
from PIL import Image

ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def body_classes(driver) -> str:
    return driver.find_element("tag name", "body").get_attribute("class") or ""


def colours(png: bytes) -> int:
    """Distinct colours in a screenshot: a drawn photo has hundreds, text screens a few."""
    with Image.open(io.BytesIO(png)) as image:
        return len(image.convert("RGB").getcolors(1 << 24) or ())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory, sample_data: Path) -> Path:
    folder = tmp_path_factory.mktemp("serve-photos")
    shutil.copy(sample_data / "n02121808_101.jpg", folder)
    Image.fromarray(skimage.data.coffee()).save(folder / "coffee.jpg")
    return folder


@contextlib.contextmanager
def serving(*screen: str) -> Iterator[str]:
    """A running `neuralpatch serve` on a free local port; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "neuralpatch", "serve", "--port", str(port), *screen],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its per-tab app processes go with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read().decode()) from None
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def first_screen(
    url: str, until: tuple[str, ...], then_send: str | None = None
) -> tuple[str, bool]:
    """Open the websocket session as the page does; read until all of `until` are drawn.

    Returns the screen text seen and whether the session closed after `then_send` was typed.
    """
    seen = b""
    async with aiohttp.ClientSession() as session:
        ws_url = url.replace("http", "ws") + "/ws?width=110&height=32"
        async with session.ws_connect(ws_url) as ws:
            deadline = time.monotonic() + 90
            while not all(part.encode() in ANSI.sub(b"", seen) for part in until):
                message = await ws.receive(timeout=max(1.0, deadline - time.monotonic()))
                assert message.type == aiohttp.WSMsgType.BINARY, message
                seen += message.data
            if then_send is None:
                return ANSI.sub(b"", seen).decode("utf-8", "replace"), False
            await ws.send_str(json.dumps(["stdin", then_send]))
            while True:
                message = await ws.receive(timeout=30)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    return ANSI.sub(b"", seen).decode("utf-8", "replace"), True


def test_serve_page_and_websocket_run_the_camera_screen(photo_folder: Path):
    with serving("camera", "--source", str(photo_folder)) as url:
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "data-session-websocket-url" in page
        assert "googleapis" not in page  # the page never reaches out of the machine
        drawn = ("Snap to dataset", "Patches", "Live")
        text, closed = asyncio.run(first_screen(url, drawn, then_send="q"))
    assert "photos" in text  # the source's name in the status line
    assert closed, "typing q in the browser session must quit the camera screen"


def test_serve_refuses_headless_and_non_screens(tmp_path: Path):
    for screen in (["camera", "--headless"], ["classify", "x.jpg"]):
        done = subprocess.run(
            [sys.executable, "-m", "neuralpatch", "serve", *screen],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert "serve" in done.stderr and "error" in done.stderr


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them; see CONTRIBUTING)",
)
def test_a_real_browser_draws_the_screen_and_a_key_reaches_the_app(photo_folder: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,800",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with serving("camera", "--source", str(photo_folder)) as url:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.get(url)
            wait = WebDriverWait(driver, 90, poll_frequency=0.5)
            wait.until(lambda d: "-first-byte" in body_classes(d))  # the terminal has drawn
            wait.until(lambda d: colours(d.get_screenshot_as_png()) > 200)  # the photo too
            before = driver.get_screenshot_as_png()
            keyboard = driver.find_element("css selector", ".xterm-helper-textarea")
            keyboard.send_keys("q")  # typed into the terminal: quits the camera screen
            wait.until(lambda d: "-closed" in body_classes(d))
            after = driver.get_screenshot_as_png()
            ended = driver.find_element("css selector", ".closed-dialog").is_displayed()
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        finally:
            driver.quit()
    assert ended and before != after  # "Session ended." over the screen the key closed
    assert errors == []
