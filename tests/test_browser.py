"""The quick-start notebook in a real browser: JupyterLab, Debian's chromium, the form, Match.

JupyterLab serves a copy of ``notebooks/01-quickstart.ipynb`` on 127.0.0.1;
Playwright drives chromium (by its path: no browser is downloaded) to run
the notebook's cells down to the form, click Match against the local
service the notebook started, and wait for the summary. A screenshot of the
finished form is saved to ``$SMARTMATCH_SCREENSHOT_DIR`` (CI: ``docs/images``).

An analyst's afternoon, in a notebook of its own: a 5,000-row list with
missing states matched to its summary, the form's accessible names read from
the page's accessibility tree, the contrast of its text measured, its focus
ring and the wide result's scrollbar; the form's cell run again finding its
job; a wrong key and a stopped service said in words (screenshots of the
finished form, the re-run form and the error state).

The classic notebook (nbclassic) runs a small notebook of its own the way a reader
does (Cell > Run All), matches, and its wide result must scroll sideways inside
the form with its heading and a scrollbar (a screenshot, ``match-form-classic.png``).

Without chromium, Playwright, JupyterLab or nbclassic the test is skipped, unless
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
from typing import Any

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

#: The analyst's afternoon: a long list, the form's cell run again, a wrong key, a stopped service.
AFTERNOON = "afternoon.ipynb"
AFTERNOON_CELLS = [
    # 1: a service and a list of 5,000 rows, one state in seven missing
    "import smartmatch_pandas\n"
    "from smartmatch_pandas.local import LocalService, sample_contacts\n"
    "service = LocalService(voters=20_000, poll_interval=0.5, seed=0).start().activate()\n"
    "frame = sample_contacts(service.voters, 5_000, seed=3).drop(columns='true_voterbase_id')\n"
    "frame.loc[frame.index[::7], 'state'] = None\n"
    "frame['notes'] = 'a long note that makes the result wider than the page ' * 3",
    # 2: the form (run twice: the second run must find the job)
    "form = frame.smartmatch.form()\nform",
    # 3: a wrong key
    "wrong = frame.head(20).smartmatch.form(api_key='not-the-key')\nwrong",
    # 4: a service that will be stopped while its job waits
    "other = LocalService(voters=2_000, poll_interval=0.5, delay=600).start()\n"
    "stopping = frame.head(20).smartmatch.form(\n"
    "    api_key=other.api_key, base_url=other.base_url, poll_interval=0.5, cache=False\n"
    ")\nstopping",
    # 5: stop it
    "other.stop()",
]
#: The classic notebook: a small list whose result is wider than the page, matched.
CLASSIC = "classic.ipynb"
CLASSIC_CELLS = [
    "import smartmatch_pandas\n"
    "from smartmatch_pandas.local import LocalService, sample_contacts\n"
    "service = LocalService(voters=2_000, poll_interval=0.2, seed=0).start().activate()\n"
    "frame = sample_contacts(service.voters, 20, seed=3).drop(columns='true_voterbase_id')\n"
    "frame['notes'] = 'a long note that makes the result wider than the page ' * 3",
    "form = frame.smartmatch.form(max_matches=2)\nform",
]
#: The roles of the form's controls, each of which must have an accessible name.
CONTROL_ROLES = (
    "button",
    "textbox",
    "combobox",
    "checkbox",
    "radio",
    "radiogroup",
    "group",
    "spinbutton",
    "progressbar",
)

# About 40 s: a JupyterLab server, a kernel and a browser.
pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def _missing(app: str) -> str | None:
    """What the browser test lacks here to run ``app`` (a Jupyter front end), if anything."""
    if _chromium() is None:
        return "chromium is not installed (apt-get install chromium)"
    for module in ("playwright", app):
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
    _require("jupyterlab")
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(QUICKSTART, work / QUICKSTART.name)  # JupyterLab saves into what it opens
    (work / AFTERNOON).write_text(_notebook(AFTERNOON_CELLS))
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
    yield from _serve("jupyterlab", work, home, tmp_path / "jupyterlab.log")


@pytest.fixture
def classic_notebook(tmp_path: Path) -> Iterator[str]:
    """The classic notebook (nbclassic) on 127.0.0.1 over the wide-result notebook."""
    _require("nbclassic")
    work = tmp_path / "notebooks"
    work.mkdir()
    (work / CLASSIC).write_text(_notebook(CLASSIC_CELLS))
    yield from _serve("nbclassic", work, tmp_path / "jupyter", tmp_path / "nbclassic.log")


def _require(app: str) -> None:
    """Skip without the browser, Playwright or ``app``, unless the browser test must run."""
    missing = _missing(app)
    if missing is not None:
        if REQUIRED:
            pytest.fail(f"the browser test must run here (SMARTMATCH_REQUIRE_BROWSER=1): {missing}")
        pytest.skip(missing)


def _serve(app: str, work: Path, home: Path, log_path: Path) -> Iterator[str]:
    """Run the Jupyter ``app`` (a module) on a free loopback port over ``work`` without a
    token, a config of its own in ``home``; yield its base URL, then stop it and its kernels."""
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
        app,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--allow-root",
        f"--notebook-dir={work}",
    ]
    log = log_path.open("wb")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_http(url + "api", server, log_path)
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
            pytest.fail(f"Jupyter exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"Jupyter did not answer within {START_TIMEOUT:g} s:\n{log.read_text()[-3000:]}")


def _cells_to_form() -> int:
    """How many cells, from the top, run the quick start down to the form."""
    cells = json.loads(QUICKSTART.read_text())["cells"]
    for number, cell in enumerate(cells, start=1):
        if cell["cell_type"] == "code" and ".form(" in "".join(cell["source"]):
            return number
    raise AssertionError("the quick start has no cell that makes the form")


def test_the_quickstart_form_matches_in_a_real_browser(jupyterlab: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=STEP_TIMEOUT_MS)  # the cells above the form match first

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
            match = page.get_by_role("button", name="Match", exact=True)
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


def _notebook(sources: list[str]) -> str:
    """A notebook of code cells with these ``sources``, as JSON."""
    cells = [
        {
            "cell_type": "code",
            "metadata": {},
            "source": source,
            "outputs": [],
            "execution_count": None,
        }
        for source in sources
    ]
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook)


#: The contrast of each text element of the form against the background it is drawn on.
CONTRAST_JS = """(root) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  const out = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest('style') || !el.offsetParent) continue;
    const fg = rgb(getComputedStyle(el).color), bg = background(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    out.push({text: n.textContent.trim().slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05)});
  }
  return out;
}"""


def _run_cell(page: Any, number: int) -> None:
    """Run the notebook's cell ``number`` (from 1), as a person would: click it, Shift+Enter."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(number - 1)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def _output(page: Any, number: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(number - 1).locator(".jp-OutputArea-output")


def test_an_analysts_afternoon_in_a_real_browser(jupyterlab: str, tmp_path: Path) -> None:
    """A 5,000-row list with missing states to its summary; the accessible names and the
    contrast; a wide result that scrolls; the form's cell run again finds its job; a wrong
    key and a stopped service said in words."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=STEP_TIMEOUT_MS)  # a kernel on a shared 2-core machine
    shots = Path(os.environ.get("SMARTMATCH_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # Scrollbars drawn as a person sees them (headless chromium hides them by default).
        browser = playwright.chromium.launch(
            executable_path=_chromium(),
            args=CHROMIUM_FLAGS,
            ignore_default_args=["--hide-scrollbars"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(STEP_TIMEOUT_MS)
            page.goto(jupyterlab + "lab/tree/" + AFTERNOON)
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible")
            _accept_kernel_dialog(page)
            expect(
                page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            ).to_have_count(1, timeout=STEP_TIMEOUT_MS)
            _run_cell(page, 1)
            _run_cell(page, 2)
            form = _output(page, 2)
            match = form.get_by_role("button", name="Match", exact=True)
            expect(match).to_be_enabled()

            # Every control has an accessible name, read from the accessibility tree.
            tree = form.aria_snapshot()
            for role in CONTROL_ROLES:
                unnamed = re.findall(rf"^\s*- {role}(?: \[[^\]]*\])?:?$", tree, re.MULTILINE)
                assert not unnamed, f"a {role} without a name:\n{tree}"
            expect(form.get_by_role("combobox", name="state sent as")).to_be_visible()
            expect(form.get_by_role("spinbutton", name="max matches")).to_be_visible()
            expect(form.get_by_role("textbox", name="webhook")).to_be_visible()
            expect(form.get_by_role("textbox", name="filename")).to_be_visible()
            expect(form.get_by_role("combobox", name="invalid values")).to_be_visible()
            # The groups are named by their labels: the format, what is appended.
            expect(form.get_by_role("radiogroup", name="format")).to_be_visible()
            expect(form.get_by_role("group", name="append")).to_be_visible()
            expect(
                form.get_by_role("group", name="append").get_by_role("checkbox", name="email")
            ).to_be_visible()
            expect(form.get_by_role("radio", name="csv", exact=True)).to_be_checked()
            form.get_by_role("radio", name="zip", exact=True).check()
            expect(form.get_by_role("radio", name="zip", exact=True)).to_be_checked()
            form.get_by_role("radio", name="csv", exact=True).check()
            # A focus ring that shows: a 3 px outline on the field the keyboard is in.
            webhook = form.get_by_role("textbox", name="webhook")
            webhook.focus()
            ring = webhook.evaluate(
                "e => [getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineWidth]"
            )
            assert ring == ["solid", "3px"], ring
            # A webhook's token, typed: masked in the field once entered, and in the code line.
            webhook.fill("https://hooks.example.org/hooks/T0a9f8e7d6c5b4a3b2c1?token=s3cr3t")
            webhook.press("Enter")
            expect(webhook).to_have_value("https://hooks.example.org/hooks/•••?token=•••")
            expect(form).to_contain_text("webhook='https://hooks.example.org/hooks/•••?token=•••'")
            assert "s3cr3t" not in page.content()
            webhook.fill("")
            webhook.press("Enter")

            match.click()
            expect(form).to_contain_text("rows matched", timeout=STEP_TIMEOUT_MS)
            expect(form).to_contain_text("of 5,000 rows matched")
            expect(form).to_contain_text("Match rate by state")
            expect(form).to_contain_text("(none)")  # the missing states, counted
            expect(match).to_be_enabled()
            expect(form.get_by_role("button", name="Match again")).to_be_visible()

            # Every text of the finished form at 4.5:1 or more.
            low = [t for t in form.evaluate(CONTRAST_JS) if t["ratio"] < 4.5]
            assert not low, low

            # The wide result scrolls sideways, with a scrollbar, inside the form.
            scroller = form.locator(".sm-scroll").last
            sizes = scroller.evaluate(
                "e => [e.scrollWidth, e.clientWidth, e.offsetHeight - e.clientHeight,"
                " getComputedStyle(e).overflowX]"
            )
            assert sizes[0] > sizes[1], sizes  # wider than its box
            assert sizes[2] > 0, sizes  # a scrollbar shows
            assert sizes[3] == "scroll", sizes
            box = scroller.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= 1400
            scroller.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
            expect(scroller.locator("thead")).to_be_visible()

            _photograph(page, form, shots / "match-form-finished.png")

            # The form's cell run again: the job is found and shown at once.
            _run_cell(page, 2)
            form = _output(page, 2)
            expect(form).to_contain_text("matched this frame with these options before")
            expect(form).to_contain_text("rows matched")
            expect(form.get_by_role("button", name="Match again")).to_be_visible()
            _photograph(page, form, shots / "match-form-rerun.png")

            # A wrong key: said so, and the key field offered.
            _run_cell(page, 3)
            wrong = _output(page, 3)
            wrong.get_by_role("button", name="Match", exact=True).click()
            expect(wrong).to_contain_text("The service refused the API key")
            expect(wrong.get_by_role("textbox", name="API key")).to_be_visible()
            expect(wrong).to_contain_text("was not registered: there is nothing to resume")
            _photograph(page, wrong, shots / "match-form-error.png")

            # A service stopped while its job waits: said to be not running.
            _run_cell(page, 4)
            stopping = _output(page, 4)
            stopping.get_by_role("button", name="Match", exact=True).click()
            expect(stopping).to_contain_text("poll(s)")
            _run_cell(page, 5)
            expect(stopping).to_contain_text(re.compile("service is not running", re.IGNORECASE))
            text = page.locator(".jp-Notebook").inner_text()
            assert "Errno" not in text
            assert "Traceback" not in text
            assert re.search(r"local-[A-Za-z0-9_-]{20,}", page.content()) is None, "an API key"
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_the_wide_result_scrolls_in_the_classic_notebook(
    classic_notebook: str, tmp_path: Path
) -> None:
    """The form in the classic notebook (nbclassic): drawn, matched, its wide result
    scrolling sideways inside the form with its heading and a scrollbar."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    shots = Path(os.environ.get("SMARTMATCH_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(),
            args=CHROMIUM_FLAGS,
            ignore_default_args=["--hide-scrollbars"],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.set_default_timeout(STEP_TIMEOUT_MS)
            page.goto(classic_notebook + "notebooks/" + CLASSIC)
            expect(page.locator("#kernel_indicator_icon.kernel_idle_icon")).to_have_count(1)
            # Cell > Run All, as a reader runs a notebook.
            page.locator("#celllink").click()
            page.locator("#run_all_cells").click()
            form = page.locator(".output_area", has=page.locator(".smartmatch-form"))
            match = form.get_by_role("button", name="Match", exact=True)
            expect(match).to_be_enabled()
            expect(form).to_contain_text("Preview: the first rows as they will be uploaded")
            expect(form.get_by_role("radiogroup", name="format")).to_be_visible()
            match.click()
            expect(form).to_contain_text("of 20 rows matched")
            expect(form).to_contain_text("The first rows of the result")

            scroller = form.locator(".sm-scroll").last
            sizes = scroller.evaluate(
                "e => [e.scrollWidth, e.clientWidth, e.offsetHeight - e.clientHeight,"
                " getComputedStyle(e).overflowX]"
            )
            assert sizes[0] > sizes[1], sizes  # wider than its box
            assert sizes[2] > 0, sizes  # a scrollbar shows
            assert sizes[3] == "scroll", sizes
            box, page_box = scroller.bounding_box(), form.bounding_box()
            assert box is not None
            assert page_box is not None
            assert box["x"] + box["width"] <= page_box["x"] + page_box["width"] + 1  # inside
            scroller.scroll_into_view_if_needed()
            scroller.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
            expect(scroller.locator("thead")).to_be_visible()
            # Scrolled to its end, the last column's heading shows beside its cells.
            expect(scroller.locator("thead th").last).to_be_in_viewport(timeout=10_000)
            text = page.locator("#notebook").inner_text()
            assert "Traceback" not in text
            _photograph(page, form, shots / "match-form-classic.png", width=1200)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _photograph(page: Any, element: Any, path: Path, width: int = 1400) -> None:
    box = element.bounding_box()
    assert box is not None
    page.set_viewport_size({"width": width, "height": int(box["height"]) + 400})
    element.scroll_into_view_if_needed()
    element.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 1100})


def test_the_exploration_of_a_matched_list_in_a_real_browser(
    service: Any, settings: dict[str, Any], tmp_path: Path
) -> None:
    """The exploration's HTML as chromium draws it: every chart drawn and named, its text at
    4.5:1 or more; a screenshot for the guide (``exploration.png``). No JupyterLab: the
    exploration is plain HTML, shown in a page of its own (a few seconds)."""
    missing = _chromium() is None and "chromium is not installed (apt-get install chromium)"
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install -e '.[browser]')"
    if missing:
        pytest.fail(missing) if REQUIRED else pytest.skip(missing)

    import smartmatch_pandas as sm
    from smartmatch_pandas.local import sample_contacts

    contacts = sample_contacts(service.voters, 400, seed=5).drop(columns="true_voterbase_id")
    contacts.loc[contacts.index[:12], ["address1", "zip", "phone", "email", "dob"]] = None
    exploration = sm.submit(contacts, **settings).wait(progress=False).result().explore()
    shots = Path(os.environ.get("SMARTMATCH_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_content(exploration.to_html())  # the page save() writes
            view = page.locator(".smartmatch-exploration")
            expect(view).to_contain_text("rows matched")
            charts = view.get_by_role("img")
            expect(charts).to_have_count(8)
            for name in ("Party (matched rows)", "Age and gender (matched rows)"):
                expect(view.get_by_role("img", name=name)).to_be_visible()
            low = [t for t in view.evaluate(CONTRAST_JS) if t["ratio"] < 4.5]
            assert not low, low
            # The charts' own text is drawn in its fill, on the white page.
            fills = view.evaluate(
                "r => [...r.querySelectorAll('svg text')].map(t => getComputedStyle(t).fill)"
            )
            assert fills
            assert min(_contrast_on_white(f) for f in set(fills)) >= 4.5, set(fills)
            _photograph(page, view, shots / "exploration.png")
        finally:
            browser.close()


def _contrast_on_white(rgb: str) -> float:
    """The WCAG contrast ratio of a computed ``rgb(r, g, b)`` colour on white."""

    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (float(v) for v in re.findall(r"[\d.]+", rgb)[:3])
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)
