"""Chapter 5's explorer driven in a real JupyterLab, in headless Chromium, as a reader would.

A JupyterLab server starts on 127.0.0.1 with a random token and a throw-away configuration,
serving a temporary folder that holds a copy of ``notebooks/05_explorer.ipynb`` with small
(smoke) parameters injected the way papermill injects them. The browser opens the chapter, runs
every cell (Run > Run All Cells), then drives the widget: it switches the backward rule, types a
new N, and uploads a photo (scikit-image's chelsea, saved as PNG) through the FileUpload button.
After each change the images the widget shows must differ from before (their bytes are read
back from the page), and no error may show, in the widget or in any cell's output. A screenshot
goes to ``_build/screenshots/explorer-jupyterlab.png``.

Needs Chromium (Debian's ``chromium``; ``.ci/run`` installs it) and the ``jupyterlab`` of the
dev extra. Without Chromium the test is skipped, except under CI (``CI`` set), where it fails.
Run alone: ``.venv/bin/python -m pytest -q tests/chapters/test_explorer_jupyterlab.py``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import check_html  # noqa: E402

STEM = "05_explorer"
SMOKE = {"size": 64, "fc_size": 32, "fc_hidden": 512, "live_size": 64, "live_n": 64}
NEW_N = 32  # a value of N the chapter's own drive never set
SCREENSHOT = ROOT / "_build" / "screenshots" / "explorer-jupyterlab.png"
# Chromium's flags for this closed network: the same as make check-html's, plus headless
CHROMIUM_FLAGS = ["--headless", *check_html.CHROMIUM_FLAGS]
# JupyterLab settings for a quiet, deterministic front end: every cell stays in the page (no
# virtual scrolling), the notebook's kernel starts without asking, no news or update checks
# (they would reach for the network).
LAB_OVERRIDES = {
    "@jupyterlab/notebook-extension:tracker": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
    "@jupyterlab/apputils-extension:notification": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}
RUN_ALL_TIMEOUT_S = 240  # the smoke run takes about 15 s on two cores
UPDATE_TIMEOUT_S = 60

# The explorer's output area: the widget is the cell output that holds a FileUpload.
WIDGET = ".jp-OutputArea-output:has(.widget-upload)"
# Base64 of every <img> in the widget (blob: URLs change on every render; their bytes are what a
# reader sees), in page order.
IMAGE_BYTES = """async (root) => Promise.all(Array.from(root.querySelectorAll('img')).map(
  async (img) => {
    if (!img.getAttribute('src')) return '';
    const buf = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let s = ''; for (const b of buf) s += String.fromCharCode(b);
    return btoa(s);
  }))"""


def _browser() -> str | None:
    """Chromium: $CHROMIUM, else the one on PATH (Debian's package), else None."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("google-chrome")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_path() -> str:
    path = _browser()
    if not path:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing (.ci/run installs Debian's chromium)")
        pytest.skip("no Chromium here (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    pytest.importorskip("jupyterlab")
    return path


def _chapter_copy(folder: Path) -> Path:
    """The chapter with smoke parameters injected after its parameters cell (as papermill does)."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(ROOT / "notebooks" / f"{STEM}.ipynb"))
    nb = parameterize_notebook(nb, {"out_dir": str(folder / "metrics"), **SMOKE})
    path = folder / f"{STEM}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser_path) -> Iterator[tuple[str, str, Path]]:
    """A JupyterLab server on 127.0.0.1 serving a copy of chapter 5: (address, token, log)."""
    home = tmp_path_factory.mktemp("jupyterlab")
    work, settings = home / "work", home / "settings"
    work.mkdir()
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(LAB_OVERRIDES))
    _chapter_copy(work)
    token, port = secrets.token_hex(16), _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),  # nothing written to the user's home
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "BACKPROPVIS_OFFLINE": "1",  # the trained model: the offline one, as in every test
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    log = home / "lab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",  # CI runs as root
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={work}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",  # no PyPI queries
        f"--LabApp.app_settings_dir={settings}",  # where overrides.json is read
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, token, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _kernel_ready(base: str, token: str) -> bool:
    """The chapter's kernel is started, idle and connected to the page."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5) as r:
        sessions = json.load(r)
    return any(
        s["path"].endswith(f"{STEM}.ipynb")
        and s["kernel"]["execution_state"] == "idle"
        and s["kernel"].get("connections", 0) > 0
        for s in sessions
    )


def _images(widget) -> list[bytes]:
    return [base64.b64decode(s) for s in widget.evaluate(IMAGE_BYTES)]


def _wait_for_images(page, widget, what: str, before: list[bytes] | None = None) -> list[bytes]:
    """The widget's images once it has settled (not computing, an input image shown, the same
    bytes on two reads in a row) and, given ``before``, differ from those."""
    deadline, last = time.monotonic() + UPDATE_TIMEOUT_S, None
    while time.monotonic() < deadline:
        text = widget.inner_text()
        if "error:" in text:
            pytest.fail(f"{what}: the explorer shows an error: {text[:500]}")
        if "computing" not in text:
            now = _images(widget)
            if now and now[0] and now == last and now != before:
                return now
            last = now
        page.wait_for_timeout(250)
    change = " did not change" if before is not None else " did not show"
    pytest.fail(f"{what}: the explorer's images{change} within {UPDATE_TIMEOUT_S} s")


def _assert_no_error(page, widget, what: str) -> None:
    text = widget.inner_text()
    assert "error:" not in text, f"{what}: the explorer shows an error: {text[:500]}"
    tracebacks = page.locator(".jp-OutputArea-output", has_text=re.compile("Traceback|Error:"))
    assert tracebacks.count() == 0, (
        f"{what}: a cell shows an error: {tracebacks.first.inner_text()}"
    )


def test_explorer_in_jupyterlab(lab, browser_path, tmp_path):
    from PIL import Image
    from playwright.sync_api import sync_playwright
    from skimage import data

    base, token, log = lab
    photo = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(photo)
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        here = re.escape(base)

        # The chapter's own links (its Colab badge) are the reader's; JupyterLab makes none.
        linked = set(
            re.findall(r"https?://[^\s)\"'\\]+", (ROOT / "notebooks" / f"{STEM}.ipynb").read_text())
        )

        def leave(route) -> None:
            if route.request.url not in linked:
                outside.append(route.request.url)
            route.abort()

        page.route(re.compile(rf"^(?!{here}|blob:|data:)"), leave)
        page_errors: list[str] = []
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        try:
            url = f"{base}/lab/tree/{STEM}.ipynb?token={token}"
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            deadline = time.monotonic() + 60
            while not _kernel_ready(base, token):
                assert time.monotonic() < deadline, "the chapter's kernel did not start"
                accept = page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel", if asked
                if accept.count() and accept.first.is_visible():
                    accept.first.click()
                page.wait_for_timeout(250)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
            prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
            page.wait_for_function(
                """() => {
                  const p = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'));
                  return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent));
                }""",
                timeout=RUN_ALL_TIMEOUT_S * 1000,
            )
            assert prompts.count() > 5
            widget = page.locator(WIDGET)
            widget.wait_for(timeout=30_000)
            widget.scroll_into_view_if_needed()
            _assert_no_error(page, widget, "after Run All")
            before = _wait_for_images(page, widget, "after Run All")

            rule = widget.locator(".widget-toggle-buttons button", has_text=re.compile("^plain$"))
            if rule.get_attribute("class") and "mod-active" in rule.get_attribute("class"):
                rule = widget.locator(".widget-toggle-buttons button", has_text="guided")
            new_rule = rule.inner_text().strip()
            rule.click()
            after_rule = _wait_for_images(page, widget, "rule", before)
            _assert_no_error(page, widget, "after changing the rule")
            assert f"{new_rule}, logit" in widget.inner_text(), widget.inner_text()[:500]

            n_box = widget.locator(".widget-inline-hbox", has_text="N or N_h").locator("input")
            n_box.fill(str(NEW_N))
            n_box.press("Enter")
            after_n = _wait_for_images(page, widget, "N", after_rule)
            _assert_no_error(page, widget, "after changing N")
            assert f"N={NEW_N}" in widget.inner_text(), widget.inner_text()[:500]

            with page.expect_file_chooser() as chooser:
                widget.locator(".widget-upload").click()
            chooser.value.set_files(str(photo))
            after_upload = _wait_for_images(page, widget, "upload", after_n)
            _assert_no_error(page, widget, "after the upload")
            assert after_upload[0] != after_n[0], "the input image did not change on upload"
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            widget.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOT))
        except BaseException:
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT.with_name("explorer-jupyterlab-failed.png")))
            prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
            print("input prompts:", prompts, "\nserver log:", log.read_text()[-3000:])
            raise
        finally:
            browser.close()
    assert not page_errors, page_errors
    assert not outside, f"requests left localhost: {outside[:5]}"
