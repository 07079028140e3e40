"""The quick-start notebook in a real browser: JupyterLab, Debian's chromium, the form, Match.

JupyterLab serves a copy of ``notebooks/01-quickstart.ipynb`` on 127.0.0.1;
Playwright drives chromium (by its path: no browser is downloaded) to run
the notebook's cells down to the form, click Match against the local
service the notebook started, and wait for the summary. A screenshot of the
finished form is saved to ``$SMARTMATCH_SCREENSHOT_DIR`` (CI: ``docs/images``).

Without chromium, Playwright or JupyterLab the test is skipped, unless
``SMARTMATCH_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure,
so CI cannot pass without running it.
"""

from __future__ import annotations

import contextlib
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

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "notebooks" / "01-quickstart.ipynb"
REQUIRED = os.environ.get("SMARTMATCH_REQUIRE_BROWSER") == "1"
#: Generous on a shared 2-core machine: the server, the kernel and the voter file start cold.
START_TIMEOUT = 90.0
STEP_TIMEOUT_MS = 120_000
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# About 40 s: a JupyterLab server, a kernel and a browser.
pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def _missing() -> str | None:
    """What the browser test lacks here, if anything."""
    if _chromium() is None:
        return "chromium is not installed (apt-get install chromium)"
    for module in ("playwright", "jupyterlab"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[browser]')"
    return None


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab server on 127.0.0.1 over a copy of the quick start; its base URL."""
    missing = _missing()
    if missing is not None:
        if REQUIRED:
            pytest.fail(f"the browser test must run here (SMARTMATCH_REQUIRE_BROWSER=1): {missing}")
        pytest.skip(missing)
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(QUICKSTART, work / QUICKSTART.name)  # JupyterLab saves into what it opens
    home = tmp_path / "jupyter"
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No news or update check: the machine is offline, and the pop-up would hide the form.
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    # Every cell drawn, not only those in view, so the whole form can be photographed.
    notebook_settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    notebook_settings.mkdir(parents=True)
    (notebook_settings / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"})
    )
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--allow-root",
        f"--notebook-dir={work}",
    ]
    log = (tmp_path / "jupyterlab.log").open("wb")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_http(url + "api", server, tmp_path / "jupyterlab.log")
        yield url
    finally:
        # The server's own group: it and the kernels it started, nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _wait_for_http(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT:g} s:\n{log.read_text()[-3000:]}")


def _cells_to_form() -> int:
    """How many cells, from the top, run the quick start down to the form."""
    cells = json.loads(QUICKSTART.read_text())["cells"]
    for number, cell in enumerate(cells, start=1):
        if cell["cell_type"] == "code" and ".form(" in "".join(cell["source"]):
            return number
    raise AssertionError("the quick start has no cell that makes the form")


def test_the_quickstart_form_matches_in_a_real_browser(jupyterlab: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("SMARTMATCH_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(STEP_TIMEOUT_MS)
            page.goto(jupyterlab + "lab/tree/" + QUICKSTART.name)
            first_cell = page.locator(".jp-Notebook .jp-Cell").first
            first_cell.wait_for(state="visible")
            _accept_kernel_dialog(page)
            expect(
                page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            ).to_have_count(1, timeout=STEP_TIMEOUT_MS)

            # Run the cells from the top down to the form, as a person would: Shift+Enter.
            first_cell.click()
            for _ in range(_cells_to_form()):
                page.keyboard.press("Shift+Enter")
            match = page.locator(".widget-button", has_text="Match")
            expect(match).to_be_visible()
            form = page.locator(".jp-OutputArea-output", has=match)
            expect(form).to_contain_text("Preview: the first rows as they will be uploaded")
            expect(form).to_contain_text("first_name")
            expect(match).to_be_enabled()

            match.click()
            expect(form).to_contain_text("keep this name")  # the filename, shown at once
            expect(form).to_contain_text("rows matched", timeout=STEP_TIMEOUT_MS)
            expect(form).to_contain_text("Match rate by identifier present")
            expect(form).to_contain_text("Match rate by state")
            expect(form).to_contain_text("The first rows of the result")
            expect(match).to_be_enabled()

            text = page.locator(".jp-Notebook").inner_text()
            assert "Traceback" not in text
            assert re.search(r"local-[A-Za-z0-9_-]{20,}", page.content()) is None, "an API key"
            box = form.bounding_box()
            assert box is not None
            page.set_viewport_size({"width": 1400, "height": int(box["height"]) + 400})
            form.scroll_into_view_if_needed()
            form.screenshot(path=str(shots / "match-form.png"))
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert (shots / "match-form.png").stat().st_size > 10_000


def _accept_kernel_dialog(page: object) -> None:
    """Accept JupyterLab's "Select Kernel" dialog if it shows: it would take every click."""
    dialog = page.locator(".jp-Dialog .jp-mod-accept")  # type: ignore[attr-defined]
    with contextlib.suppress(Exception):
        dialog.wait_for(state="visible", timeout=5_000)
        dialog.click()
