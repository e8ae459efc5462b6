"""Open every page of the built book in headless Chromium, offline, and check what a reader sees.

Every page is opened twice: in a desktop window 1280 px wide, and at a phone's 390 px width
(emulated as a touch device, whose scrollbars are overlays that show only while scrolling).
Per page and width, with every folded cell ("Show code cell content") opened:

- no console errors or page errors, no request leaving localhost, every image loaded
  (naturalWidth > 0), math typeset by MathJax (no raw TeX left), every internal link resolves
  (file and #fragment);
- nothing runs off the page: the page does not scroll sideways, and no visible element reaches
  past the window's right edge, or past the right edge of the content column (the article),
  unless a box that scrolls holds it;
- nothing is cut inside its box: a box whose visible content (text and visible elements, so not
  MathJax's hidden assistive copy) reaches past its inner edge must scroll (overflow auto or
  scroll), not clip it (overflow hidden or clip);
- every box that scrolls sideways shows it: its scrollbar takes room on the page (an overlay
  scrollbar, invisible until touched, does not count);
- at 1280 px: code fits its code box (no code cell needs sideways scrolling), and every cell of a
  "verdict" column (the scorecard's) is fully visible without scrolling;
- figure text reads: every glued figure records its smallest text in pixels at its saved dpi
  (book/glue.py ``figure_png``); shown at the scale the browser draws it (displayed width over
  the PNG's width), that text is at least 9 CSS px at 1280 px and 7 px at 390 px. A figure is
  named by its glue name, file and page; an image without that record (not glued by
  ``glue_figure``) is listed as not measured.

The scorecard must link every chapter. Screenshots of every page at both widths, each as one
window as tall as the page so that scrollbars show, go to _build/screenshots/ (<page>.png at
1280 px, <page>-390px.png at 390 px), and every measured figure with its shown text size to
_build/screenshots/figure_text.json. Exit status 1 on any failure.

Usage: python scripts/check_html.py [--html _build/html] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# (name, Playwright context options, strict): the strict width is the desktop one, where code
# must fit its box and the scorecard's verdicts must be visible without scrolling.
WIDTHS = [
    ("1280px", {"viewport": {"width": 1280, "height": 900}}, True),
    (
        "390px",
        {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
        False,
    ),
]
UNTYPESET = """() => Array.from(document.querySelectorAll('.math'))
  .filter(e => !e.querySelector('mjx-container') && /\\\\[\\(\\[]|\\$\\$/.test(e.textContent))
  .map(e => e.textContent.slice(0, 60))"""
BROKEN_IMAGES = """() => Array.from(document.images)
  .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'))"""
# Every image shown on the page: its source, its PNG width and the width it is drawn at (CSS px).
FIGURES = """() => Array.from(document.images).filter(i => i.naturalWidth > 0)
  .map(i => ({src: i.getAttribute('src'), natural: i.naturalWidth,
              shown: i.getBoundingClientRect().width}))
  .filter(i => i.shown > 0)"""
# The smallest figure text a reader sees, in CSS px, per window width (the book's style,
# src/backpropvis/book/plotting.py: 10.5 pt at 100 dpi in a figure drawn at the column's width).
MIN_TEXT_PX = {"1280px": 9.0, "390px": 7.0}
LINKS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"
# What is cut or runs off the page, as a reader would see it. Returns a list of problems.
LAYOUT = """(strict) => {
  const TOL = 1;  // px: rounding of fractional layout
  const MIN_SCROLLBAR = 4;  // px: a horizontal scrollbar this tall or taller is visible
  const problems = [];
  const root = document.documentElement;
  const vw = root.clientWidth;  // the viewport without its vertical scrollbar
  const name = (e) => {
    let s = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '');
    if (typeof e.className === 'string' && e.className.trim())
      s += '.' + e.className.trim().split(/\\s+/).slice(0, 2).join('.');
    const text = (e.innerText || e.textContent || '').replace(/\\s+/g, ' ').trim();
    return text ? `${s} "${Array.from(text).slice(0, 50).join('')}"` : s;
  };
  // Not for the eye: screen-reader copies of math, visually hidden helpers.
  const unseen = (e) => e.closest('mjx-assistive-mml, .visually-hidden, .sr-only, .skip-link')
    || !e.checkVisibility({visibilityProperty: true, opacityProperty: true});
  const ox = (e) => getComputedStyle(e).overflowX;
  const scrolls = (e) => ['auto', 'scroll'].includes(ox(e));
  // The right edge of what is visible of an element: its box, clipped by every ancestor that
  // clips or scrolls (at scroll position 0, as a page opens).
  const clipRight = (e) => {
    let right = Infinity;
    for (let a = e.parentElement; a && a !== root && a !== document.body; a = a.parentElement) {
      if (ox(a) !== 'visible') {
        const b = a.getBoundingClientRect();
        right = Math.min(right, b.left + a.clientLeft + a.clientWidth);
      }
    }
    return right;
  };
  // How far the visible content of a box reaches past its inner right edge: the right edges of
  // its text and of its visible descendant elements (a nested box that clips counts with its
  // own edge only). Not scrollWidth, which counts invisible helpers (MathJax's assistive MathML).
  const overhang = (box) => {
    const b = box.getBoundingClientRect();
    const inner = b.left + box.clientLeft + box.clientWidth;
    let right = -Infinity;
    const walker = document.createTreeWalker(box, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
      acceptNode: (n) => {
        const el = n.nodeType === Node.TEXT_NODE ? n.parentElement : n;
        if (el !== box && unseen(el)) return NodeFilter.FILTER_REJECT;
        for (let a = n.parentElement; a && a !== box; a = a.parentElement)
          if (ox(a) !== 'visible') return NodeFilter.FILTER_REJECT;
        return NodeFilter.FILTER_ACCEPT;
      },
    });
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      let r;
      if (n.nodeType === Node.TEXT_NODE) {
        if (!n.textContent.trim()) continue;
        const range = document.createRange();
        range.selectNodeContents(n);
        r = range.getBoundingClientRect();
      } else r = n.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) right = Math.max(right, r.right);
    }
    return Math.round(right - inner);
  };
  if (root.scrollWidth > vw + TOL)
    problems.push(`the page scrolls sideways: ${root.scrollWidth} px wide in a ${vw} px window`);
  const article = document.querySelector('.bd-article');
  let column = Infinity;
  if (article) {
    const b = article.getBoundingClientRect(), s = getComputedStyle(article);
    column = b.right - parseFloat(s.paddingRight) - parseFloat(s.borderRightWidth);
  }
  const beyond = new Set(), outside = new Set();
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || unseen(e)) continue;
    if (getComputedStyle(e).position === 'fixed') continue;  // headers, overlays, sidebars
    let right = r.right;
    if (ox(e) === 'visible' && e.clientWidth > 0 && e.scrollWidth > e.clientWidth + TOL) {
      const inner = r.left + e.clientLeft + e.clientWidth;  // text spilling out of its box
      right = Math.max(right, inner + overhang(e));
    }
    right = Math.min(right, clipRight(e));
    // report the outermost element only; its children overflow with it
    if (right > vw + TOL) {
      if (!beyond.has(e.parentElement))
        problems.push(
          `runs past the window's right edge (${Math.round(right)} > ${vw} px): ${name(e)}`);
      beyond.add(e);
    } else if (article && e !== article && article.contains(e) && right > column + TOL) {
      if (!outside.has(e.parentElement))
        problems.push(`wider than the content column (${Math.round(right)} > `
          + `${Math.round(column)} px): ${name(e)}`);
      outside.add(e);
    }
    if (e.clientWidth > 0 && e.scrollWidth - e.clientWidth > TOL && ox(e) !== 'visible') {
      const extra = overhang(e);
      if (extra <= TOL) continue;
      if (!scrolls(e)) {
        problems.push(`content cut by ${extra} px (overflow ${ox(e)}): ${name(e)}`);
        continue;
      }
      const s = getComputedStyle(e);
      const bar = e.offsetHeight - e.clientHeight
        - parseFloat(s.borderTopWidth) - parseFloat(s.borderBottomWidth);
      if (bar < MIN_SCROLLBAR)
        problems.push(
          `scrolls sideways (${extra} px) without a visible scrollbar: ${name(e)}`);
      if (strict && e.matches('pre') && !e.closest('.cell_output, .output'))
        problems.push(`code wider than its box by ${extra} px: ${name(e)}`);
    }
  }
  if (strict) {  // the scorecard: every verdict visible without scrolling
    for (const table of document.querySelectorAll('table')) {
      const heads = Array.from(table.querySelectorAll('thead th'));
      const col = heads.findIndex(th => th.textContent.trim().toLowerCase() === 'verdict');
      if (col < 0) continue;
      for (const row of table.querySelectorAll('tr')) {
        const cell = row.children[col];
        if (!cell) continue;
        const r = cell.getBoundingClientRect();
        const edge = Math.min(vw, clipRight(cell), column);
        if (r.right > edge + TOL || overhang(cell) > TOL)
          problems.push(`verdict not fully visible (${Math.round(r.right)} > `
            + `${Math.round(edge)} px): ${name(cell)}`);
      }
    }
  }
  return problems;
}"""
OPEN_DETAILS = """() => Array.from(document.querySelectorAll('details:not([open])'))
  .map((d, i) => { d.open = true; d.dataset.checkHtml = i; return i; })"""
CLOSE_DETAILS = """(ids) => ids.forEach(i => {
  document.querySelector(`details[data-check-html="${i}"]`).open = false; })"""
VERDICT_HEADER = """() => Array.from(document.querySelectorAll('table thead th'))
  .some(th => th.textContent.trim().toLowerCase() === 'verdict')"""


def pages(html: Path) -> list[Path]:
    skip = {"_static", "_sources", "_images", "_panels_static"}
    return sorted(p for p in html.rglob("*.html") if not skip & set(p.relative_to(html).parts[:-1]))


@functools.cache
def ids_in(path: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))


def check_link(html: Path, page: Path, href: str) -> str | None:
    """None when ``href`` (found on ``page``) resolves inside the book or is external."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
        return None
    target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.exists() or html.resolve() not in target.resolve().parents:
        return f"broken link {href!r}"
    frag = unquote(parts.fragment)
    if frag and target.suffix == ".html" and frag not in ids_in(target):
        return f"link {href!r}: no element with id {frag!r}"
    return None


def figure_text_problem(
    name: str, drawn_px: float, natural: float, shown: float, limit: float
) -> str | None:
    """None when a figure's smallest text, ``drawn_px`` pixels in its PNG of ``natural`` pixels
    width, reads at ``limit`` CSS px or more when the page draws the PNG ``shown`` px wide."""
    scale = shown / natural
    if drawn_px * scale >= limit:
        return None
    return (
        f"figure text too small: {name}: smallest text {drawn_px * scale:.1f} px < {limit:g} px"
        f" ({drawn_px:.1f} px drawn in {natural:.0f} px, shown {shown:.0f} px wide,"
        f" scale {scale:.2f})"
    )


def figure_texts(html: Path, rel: str, images: list[dict]) -> list[dict]:
    """Each PNG image of page ``rel`` with what glue_figure recorded in it: ``name`` (glue name,
    file and page), ``glued`` (whether it carries the record), ``px`` (its smallest text in the
    PNG's pixels; None for a figure without text), ``shown_px`` (that text as the reader sees
    it, in CSS px: ``px`` times shown over natural width), ``text`` (that text), ``page``, and
    the ``natural`` and ``shown`` widths the browser reported."""
    from backpropvis.book.glue import FIGURE_NAME, SMALLEST_TEXT, SMALLEST_TEXT_PX, figure_record

    found = []
    for img in images:
        path = (html / rel).parent / unquote(urlsplit(img["src"]).path)
        if path.suffix.lower() != ".png" or not path.is_file():
            continue
        record = figure_record(path.read_bytes())
        px = record.get(SMALLEST_TEXT_PX)
        glued = FIGURE_NAME in record
        name = f"{record.get(FIGURE_NAME, 'image')} ({path.relative_to(html).as_posix()} on {rel})"
        px = None if px is None else float(px)  # None: a glued figure without text
        text = record.get(SMALLEST_TEXT, "")
        shown_px = None if px is None else round(px * img["shown"] / img["natural"], 2)
        found.append(
            {**img, "name": name, "glued": glued, "px": px, "shown_px": shown_px, "text": text,
             "page": rel}
        )  # fmt: skip
    return found


def blocker(problems: list[str]):
    """A route handler (one argument: Playwright passes two to a two-argument handler)."""

    def leave(route) -> None:
        problems.append(f"request leaves the book: {route.request.url}")
        route.abort()

    return leave


def serve(html: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def check_page(
    context,
    base: str,
    rel: str,
    html: Path,
    shot: Path,
    strict: bool,
    min_text_px: float | None = None,
    seen: list[dict] | None = None,
) -> list[str]:
    """Open one page in ``context`` and return what is wrong with it; saves ``shot``.

    ``min_text_px``: the smallest figure text allowed at this width (CSS px; None: not checked).
    ``seen``: where each measured figure (:func:`figure_texts`) is appended."""
    problems: list[str] = []
    page = context.new_page()
    page.route(re.compile(r"^(?!" + re.escape(base) + ")"), blocker(problems))
    page.on(
        "console",
        lambda m, p=problems: (
            p.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        ),
    )
    page.on("pageerror", lambda e, p=problems: p.append(f"page error: {e}"))
    page.goto(f"{base}/{rel}", wait_until="load")
    if page.evaluate("() => document.querySelector('.math') !== null"):
        page.wait_for_function("() => window.MathJax && MathJax.startup", timeout=20000)
        page.evaluate("() => MathJax.startup.promise")
        problems += [f"raw TeX left: {t!r}" for t in page.evaluate(UNTYPESET)]
    page.evaluate("() => document.fonts.ready")
    problems += [f"image not loaded: {s}" for s in page.evaluate(BROKEN_IMAGES)]
    if min_text_px is not None:
        for fig in figure_texts(html, rel, page.evaluate(FIGURES)):
            if seen is not None:
                seen.append(fig)
            if fig["px"] is not None:
                args = fig["name"], fig["px"], fig["natural"], fig["shown"], min_text_px
                if (err := figure_text_problem(*args)) is not None:
                    problems.append(f"{err}: {fig['text']!r}")
    if strict:  # links and the verdict column do not depend on the width
        for href in set(page.evaluate(LINKS)):
            if (err := check_link(html, html / rel, href)) is not None:
                problems.append(err)
        if rel == "book/scorecard.html" and not page.evaluate(VERDICT_HEADER):
            problems.append("the scorecard has no 'verdict' column")
    # The layout with every folded cell opened, as a reader may; then the page as it opened.
    closed = page.evaluate(OPEN_DETAILS)
    problems += page.evaluate(LAYOUT, strict)
    page.evaluate(CLOSE_DETAILS, closed)
    # The whole page in one window as tall as the page, not Playwright's full-page screenshot,
    # which hides scrollbars: the screenshot shows which boxes scroll.
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": min(height, 30000)})
    page.screenshot(path=str(shot))
    page.close()
    return problems


def print_figure_texts(figures: dict[str, list[dict]]) -> None:
    """Per page and width, the smallest figure text a reader sees (CSS px), and every image
    that is not measured (no record of its text: not glued by glue_figure)."""
    for width, seen in figures.items():
        by_page: dict[str, list[dict]] = {}
        for fig in seen:
            by_page.setdefault(fig["page"], []).append(fig)
        print(f"\nsmallest figure text at {width} (limit {MIN_TEXT_PX[width]:g} px):")
        for rel, figs in sorted(by_page.items()):
            measured = [f for f in figs if f["px"] is not None]
            if measured:
                low = min(measured, key=lambda f: f["shown_px"])
                px = low["shown_px"]
                print(
                    f"  {rel}: {px:.1f} px ({low['name'].split(' ')[0]}), {len(measured)} figures"
                )
            for f in figs:
                if not f["glued"] and width == "1280px":
                    print(f"  not measured (no record: not glued by glue_figure): {f['name']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--html", default=str(ROOT / "_build" / "html"))
    browser = shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", browser))
    parser.add_argument("--screenshots", default=str(ROOT / "_build" / "screenshots"))
    args = parser.parse_args()
    html = Path(args.html).resolve()
    shots = Path(args.screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    if not (html / "index.html").exists():
        print(f"no built book at {html}: run `make book` first")
        return 1
    from playwright.sync_api import sync_playwright

    server, base = serve(html)
    failures: dict[str, list[str]] = {}
    figures: dict[str, list[dict]] = {}  # width -> every figure measured there
    checked = pages(html)
    with sync_playwright() as pw:
        # Scrollbars drawn as a reader's browser draws them (Playwright hides them by default).
        browser = pw.chromium.launch(
            executable_path=args.chromium,
            args=CHROMIUM_FLAGS,
            ignore_default_args=["--hide-scrollbars"],
        )
        for width, options, strict in WIDTHS:
            context = browser.new_context(**options)
            for page_path in checked:
                rel = page_path.relative_to(html).as_posix()
                label = f"{rel} at {width}"
                redirect = re.search(
                    r'http-equiv="refresh" content="\d+;\s*url=([^"]+)"',
                    page_path.read_text(),
                    re.I,
                )
                if redirect:  # Jupyter Book's index.html only forwards to the root page
                    if strict:
                        err = check_link(html, page_path, redirect.group(1))
                        print(f"{'ok  ' if err is None else 'FAIL'} {rel} (redirect)")
                        if err:
                            failures[rel] = [err]
                    continue
                name = rel.replace("/", "__").removesuffix(".html")
                shot = shots / (f"{name}.png" if strict else f"{name}-{width}.png")
                problems = check_page(
                    context, base, rel, html, shot, strict, MIN_TEXT_PX[width],
                    figures.setdefault(width, []),
                )  # fmt: skip
                print(f"{'ok  ' if not problems else 'FAIL'} {label}")
                if problems:
                    failures[label] = problems
            context.close()
        browser.close()
    server.shutdown()
    scorecard = html / "book" / "scorecard.html"
    chapters = sorted(p.name for p in (html / "notebooks").glob("*.html"))
    if scorecard.exists():
        text = scorecard.read_text()
        missing = [c for c in chapters if f"notebooks/{c}" not in text]
        if missing:
            failures.setdefault("book/scorecard.html", []).append(f"chapters not listed: {missing}")
    elif chapters:
        failures["book/scorecard.html"] = ["the scorecard page is missing"]
    print_figure_texts(figures)
    (shots / "figure_text.json").write_text(json.dumps(figures, indent=1) + "\n")
    for label, problems in failures.items():
        print(f"\n{label}:")
        figure_text = [p for p in problems if p.startswith("figure text")]  # every one
        others = [p for p in problems if p not in figure_text]
        for p in figure_text + others[:20]:
            print(f"  - {p}")
        if len(others) > 20:
            print(f"  ... and {len(others) - 20} more")
    print(
        f"\n{len(checked)} pages checked at {', '.join(w for w, _, _ in WIDTHS)}, "
        f"{len(failures)} with problems; screenshots in {shots}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
