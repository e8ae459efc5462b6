"""`make check-html`'s layout rules, on small pages made here: each rule fails the page it is
about and passes its fixed twin (with the book's own custom.css where the fix is the book's).

Needs Chromium ($CHROMIUM, else ``chromium`` or ``google-chrome`` on PATH; ``.ci/run`` installs
Debian's): skipped without it, except under CI (``CI`` set), where a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import check_html  # noqa: E402

CSS = (ROOT / "book" / "_static" / "custom.css").read_text()
WIDE_WORDS = " ".join(["unbreakable_" * 12] * 3)
CODE = "x = " + " + ".join(["value"] * 20)  # 100 characters
LINE = tomllib.loads((ROOT / "notebooks" / "ruff.toml").read_text())["line-length"]
VERDICT_TABLE = """<section id="reproduction-scorecard"><table><thead><tr><th>claim</th>
<th>measured</th><th>verdict</th></tr></thead><tbody><tr><td>{claim}</td><td>0.5</td>
<td>reproduced</td></tr></tbody></table></section>"""


def page(body: str, css: str = "") -> str:
    return f"""<!doctype html><html><head><meta name="viewport"
content="width=device-width, initial-scale=1"><style>
body {{ margin: 0; font: 16px sans-serif; }} .bd-article {{ width: 640px; max-width: 100%;
padding: 0 16px; box-sizing: border-box; }} {css}</style></head>
<body><article class="bd-article">{body}</article></body></html>"""


# name: (HTML, width, expected problem or None for a clean page)
CASES = {
    "clipped text": (
        page(f'<div style="overflow: hidden; white-space: nowrap">{WIDE_WORDS}</div>'),
        "1280px",
        "content cut by",
    ),
    "past the window": (
        page(f'<p style="white-space: nowrap">{WIDE_WORDS}</p>'),
        "390px",
        "runs past the window's right edge",
    ),
    "past the column": (
        page(f'<p style="white-space: nowrap; width: 900px">{WIDE_WORDS[:80]}</p>'),
        "1280px",
        "wider than the content column",
    ),
    "overlay scrollbar on a phone": (
        page(f'<pre style="overflow-x: auto">{CODE}</pre>'),
        "390px",
        "without a visible scrollbar",
    ),
    "visible scrollbar on a phone (custom.css)": (
        page(f'<div class="highlight"><pre style="overflow-x: auto">{CODE}</pre></div>', CSS),
        "390px",
        None,
    ),
    "code wider than its box": (
        page(f'<div class="highlight"><pre style="overflow-x: auto">{CODE}</pre></div>', CSS),
        "1280px",
        "code wider than its box",
    ),
    "a line of the chapters' line length fits (custom.css)": (
        page(
            f'<div class="highlight"><pre style="overflow-x: auto">{"x" * LINE}</pre></div>',
            CSS + ".bd-article { width: 686px; }",  # the narrowest code box at 1280 px: 654 px
        ),
        "1280px",
        None,
    ),
    "verdict cut": (
        page(
            '<div style="overflow-x: auto">'
            + VERDICT_TABLE.format(claim=WIDE_WORDS.replace(" ", "")[:200])
            + "</div>"
        ),
        "1280px",
        "verdict not fully visible",
    ),
    "verdict visible": (
        page(
            '<div style="overflow-x: auto">'
            + VERDICT_TABLE.format(claim="A claim of the paper, in words. " * 8)
            + "</div>",
            CSS,
        ),
        "1280px",
        None,
    ),
}


@pytest.fixture(scope="module")
def browser():
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("google-chrome")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing (.ci/run installs Debian's chromium)")
        pytest.skip("no Chromium here (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=path,
            args=check_html.CHROMIUM_FLAGS,
            ignore_default_args=["--hide-scrollbars"],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    html = tmp_path_factory.mktemp("html")
    for i, (body, _, _) in enumerate(CASES.values()):
        (html / f"case{i}.html").write_text(body)
    server, base = check_html.serve(html)
    yield html, base
    server.shutdown()


@pytest.mark.parametrize("case", list(CASES))
def test_layout_rule(case, browser, site, tmp_path):
    html, base = site
    _, width, expected = CASES[case]
    options, strict = next((o, s) for w, o, s in check_html.WIDTHS if w == width)
    context = browser.new_context(**options)
    rel = f"case{list(CASES).index(case)}.html"
    try:
        problems = check_html.check_page(context, base, rel, html, tmp_path / "shot.png", strict)
    finally:
        context.close()
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems
    assert (tmp_path / "shot.png").exists()
