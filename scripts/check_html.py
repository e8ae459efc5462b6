"""Open every page of the built book in headless Chromium, offline, and check what a reader sees.

Checks per page: no console errors or page errors, no request leaving localhost, every image
loaded (naturalWidth > 0), math typeset by MathJax (no raw TeX left), every internal link
resolves (file and #fragment). The scorecard must link every chapter. One full-page screenshot
per page goes to _build/screenshots/. Exit status 1 on any failure.

Usage: python scripts/check_html.py [--html _build/html] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import functools
import http.server
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
UNTYPESET = """() => Array.from(document.querySelectorAll('.math'))
  .filter(e => !e.querySelector('mjx-container') && /\\\\[\\(\\[]|\\$\\$/.test(e.textContent))
  .map(e => e.textContent.slice(0, 60))"""
BROKEN_IMAGES = """() => Array.from(document.images)
  .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'))"""
LINKS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"


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
    checked = pages(html)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        for page_path in checked:
            rel = page_path.relative_to(html).as_posix()
            problems: list[str] = []
            redirect = re.search(
                r'http-equiv="refresh" content="\d+;\s*url=([^"]+)"', page_path.read_text(), re.I
            )
            if redirect:  # Jupyter Book's index.html only forwards to the root page
                err = check_link(html, page_path, redirect.group(1))
                print(f"{'ok  ' if err is None else 'FAIL'} {rel} (redirect)")
                if err:
                    failures[rel] = [err]
                continue
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
            problems += [f"image not loaded: {s}" for s in page.evaluate(BROKEN_IMAGES)]
            for href in set(page.evaluate(LINKS)):
                if (err := check_link(html, page_path, href)) is not None:
                    problems.append(err)
            name = rel.replace("/", "__").removesuffix(".html")
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            page.close()
            print(f"{'ok  ' if not problems else 'FAIL'} {rel}")
            if problems:
                failures[rel] = problems
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
    for rel, problems in failures.items():
        print(f"\n{rel}:")
        for p in problems[:20]:
            print(f"  - {p}")
    print(f"\n{len(checked)} pages checked, {len(failures)} with problems; screenshots in {shots}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
