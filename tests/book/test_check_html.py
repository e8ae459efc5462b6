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


# The figure-text rule: a figure's smallest text, recorded in its PNG by glue_figure, read at the
# scale the page shows it (the book's content column is 688 CSS px at 1280 px, 342 px at 390 px;
# a narrower PNG is shown at its own width).
COLUMN = {"1280px": 688, "390px": 342}


def glued_png(monkeypatch, fig) -> bytes:
    """The PNG glue_figure glues for ``fig`` (myst-nb's glue caught here)."""
    import myst_nb

    from backpropvis.book.glue import glue_figure

    caught = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, png, display: caught.update(png=png))
    glue_figure("fig_under_test", fig)
    return caught["png"].data


def shown_text(png: bytes, width: str) -> str | None:
    from backpropvis.book.glue import FIGURE_NAME, SMALLEST_TEXT_PX, figure_record

    record = figure_record(png)
    natural = int.from_bytes(png[16:20], "big")  # the IHDR chunk's width
    shown = min(natural, COLUMN[width])
    px = float(record[SMALLEST_TEXT_PX])
    return check_html.figure_text_problem(
        record[FIGURE_NAME], px, natural, shown, check_html.MIN_TEXT_PX[width]
    )


def curves(figsize):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=figsize)
    for ax in axes:
        ax.plot([1, 10, 100], [3, 2, 1], label="a curve")
        ax.set(xlabel="filters N", ylabel="error", title="a panel")
        ax.legend()
    fig.tight_layout()
    return fig


def test_glue_figure_records_its_smallest_drawn_text(monkeypatch):
    import matplotlib.pyplot as plt

    from backpropvis.book.glue import FIGURE_NAME, SMALLEST_TEXT, SMALLEST_TEXT_PX, figure_record

    fig, (ax, hidden) = plt.subplots(1, 2, figsize=(6.9, 3))
    ax.plot([0, 1], label="legend at 7 pt")
    ax.legend(fontsize=7)
    ax.set_title("title at 12 pt", fontsize=12)
    hidden.set_xticks([0, 1], ["not", "drawn"], fontsize=3)
    hidden.axis("off")  # its 3 pt tick labels are never drawn
    record = figure_record(glued_png(monkeypatch, fig))
    assert record[FIGURE_NAME] == "fig_under_test"
    assert float(record[SMALLEST_TEXT_PX]) == pytest.approx(7 * 100 / 72, abs=0.01)
    assert record[SMALLEST_TEXT] == "legend at 7 pt"


def test_a_wide_figure_fails_and_one_at_the_book_width_passes(monkeypatch):
    import matplotlib as mpl

    with mpl.rc_context(mpl.rcParamsDefault):  # matplotlib's default fonts
        wide = glued_png(monkeypatch, curves((15, 4)))
    problem = shown_text(wide, "1280px")
    assert problem and "fig_under_test" in problem and "too small" in problem, problem
    assert shown_text(wide, "390px")
    narrow = glued_png(monkeypatch, curves((6.9, 3.4)))  # the book's style (plotting.py)
    assert int.from_bytes(narrow[16:20], "big") <= 700
    assert shown_text(narrow, "1280px") is None and shown_text(narrow, "390px") is None


def test_the_rule_scales_the_drawn_text_by_the_shown_width():
    rule = check_html.figure_text_problem
    assert rule("f", 13.9, 1400, 688, 9.0) is not None  # 6.8 px shown
    assert rule("f", 13.9, 688, 688, 9.0) is None
    assert rule("f", 14.6, 690, 342, 7.0) is None  # 10.5 pt: 7.2 px on a phone
    assert rule("f", 13.9, 690, 342, 7.0) is not None  # 10 pt: 6.9 px on a phone
