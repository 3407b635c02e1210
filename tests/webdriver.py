"""Selenium over Debian's Chromium and its chromedriver (``apt-get install chromium-driver``):
the driver is named by path, so Selenium Manager never looks for or downloads a browser.

``chrome(width)`` is a headless Chromium window of that width; ``console_errors(driver)`` the
page's console errors; ``server()`` runs ``derive serve`` on a free local port for a test module."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, require_tool

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never reach the network
SCREENS = Path(os.environ.get("DERIVE_SCREENS", "")) if os.environ.get("DERIVE_SCREENS") else None


def chrome(width: int = 1280, height: int = 900, downloads: Path | None = None):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    driver_path = require_tool("chromedriver")
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                   None) or require_tool("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                                  "download.prompt_for_download": False,
                                                  # several downloads from one page are not "automatic"
                                                  "profile.default_content_setting_values.automatic_downloads": 1})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    return driver


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver, path: Path, width: int) -> Path:
    """A full-page screenshot at ``width`` px (saved also under $DERIVE_SCREENS, to look at)."""
    driver.set_window_size(width, 900)  # the page reflows at this width first
    height = driver.execute_script("return Math.max(document.documentElement.scrollHeight, 600)")
    driver.set_window_size(width, min(int(height) + 120, 8000))
    driver.save_screenshot(str(path))
    if SCREENS is not None:
        SCREENS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENS / path.name)
    return path


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(*extra: str):
    """``derive serve`` (the real command, uvicorn) on a free port; yields its base URL."""
    import urllib.request
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "derive.cli", *extra, "serve", "--port", str(port)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(process.stderr.read().decode()[-2000:])
                time.sleep(0.1)
        else:
            raise RuntimeError("derive serve did not start")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
