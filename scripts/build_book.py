"""Execute every chapter once with papermill, then build the HTML book from the executed copies.

Usage: python scripts/build_book.py [--only STEM ...] [--no-execute] [--build-dir DIR]

The sources stay untouched: _config.yml, _toc.yml, book/ and the executed notebooks are staged in
_build/src, metrics land in _build/metrics/<stem>.json, and the HTML in _build/html.
`--only` executes and builds only the named chapters (the staged table of contents drops the
others); `--build-dir` puts everything under another folder instead of _build.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import papermill
import yaml
from scorecard import model_statement, verdict_counts, write_scorecard

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT_S = 900


def chapters() -> list[Path]:
    """The chapter notebooks, in book order."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def stage(src: Path, only: list[str] | None, keep_notebooks: bool) -> None:
    """Copy the book's configuration and hand-written pages into ``src``."""
    for old in src.iterdir() if src.exists() else []:
        if old.name != "notebooks" or not keep_notebooks:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    (src / "notebooks").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "_config.yml", src / "_config.yml")
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    if only:
        for part in toc.get("parts", []):
            part["chapters"] = [
                c
                for c in part["chapters"]
                if not c["file"].startswith("notebooks/") or Path(c["file"]).name in only
            ]
        toc["parts"] = [p for p in toc.get("parts", []) if p["chapters"]]
    (src / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    shutil.copytree(ROOT / "book", src / "book")
    if only:  # a partial build: the landing page cannot link the chapters left out
        intro = src / "book" / "intro.md"
        intro.write_text(
            re.sub(r"\{doc\}`\.\./notebooks/(\w+)`", lambda m: _link(m, only), intro.read_text())
        )


def _link(match: re.Match, only: list[str]) -> str:
    stem = match.group(1)
    return match.group(0) if stem in only else f"*{stem}* (not in this partial build)"


def staged_chapters(src: Path) -> list[str]:
    """Chapter stems in the staged table of contents, in order."""
    toc = yaml.safe_load((src / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    return [Path(f).name for f in files if f.startswith("notebooks/")]


def execute(nb: Path, src: Path, metrics: Path) -> float:
    """Run one chapter at its default (paper-scale) parameters; returns seconds."""
    out = src / "notebooks" / nb.name
    start = time.perf_counter()
    papermill.execute_notebook(
        str(nb),
        str(out),
        parameters={"out_dir": str(metrics)},
        kernel_name="python3",
        cwd=str(out.parent),
        progress_bar=False,
        execution_timeout=CELL_TIMEOUT_S,
    )
    postprocess(out)
    return time.perf_counter() - start


COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "../book/_static/colab-badge.svg"


def postprocess(path: Path) -> None:
    """Prepare an executed chapter for the offline HTML.

    Folds the parameters cells (the values stay readable) and serves the Colab badge image from
    the book itself, so that no page loads anything from the network. The link stays Colab's.
    Live widgets cannot run in static HTML and would pull their JavaScript from a CDN: their
    saved state and views are dropped (chapters render a static twin of every widget).
    """
    nb = json.loads(path.read_text())
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            out.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags or "parameters" in tags:
            tags.append("hide-cell")
        if cell["cell_type"] == "markdown":
            src = "".join(cell["source"])
            cell["source"] = src.replace(COLAB_BADGE, LOCAL_BADGE)
    path.write_text(json.dumps(nb, indent=1))


SPHINX_OUTPUT = ("html", ".doctrees", "jupyter_execute")  # what jupyter-book writes in build


def build_html(src: Path, build: Path) -> None:
    """Jupyter Book 1 with Sphinx warnings as errors; HTML lands in ``build/html``.

    Sphinx's previous output and environment are removed first: every page is read and written
    again, so a warning fails every build (not only the one that changed its page), no page of
    a chapter since removed lingers, and the HTML depends on the staged sources alone (Sphinx
    writes links to static files differently when an earlier build left them in place).
    """
    for name in SPHINX_OUTPUT:
        shutil.rmtree(build / name, ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(src), "--path-output", str(build.parent), "-W", "--keep-going"]
    subprocess.run(cmd, check=True)


def main() -> None:
    # Kernels inherit the environment; a non-interactive MPLBACKEND (e.g. Agg) would keep the
    # inline backend from rendering figures into the executed notebooks.
    os.environ.pop("MPLBACKEND", None)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="execute only these chapter stems")
    parser.add_argument(
        "--no-execute", action="store_true", help="reuse the executed notebooks in _build/src"
    )
    parser.add_argument("--build-dir", default=str(ROOT / "_build"), help="instead of _build")
    args = parser.parse_args()
    build = Path(args.build_dir).resolve()
    if build.name != "_build":
        build = build / "_build"  # jupyter-book always writes into <path-output>/_build
    src, metrics = build / "src", build / "metrics"
    stage(src, args.only, keep_notebooks=args.no_execute)
    if not args.no_execute:
        metrics.mkdir(parents=True, exist_ok=True)
        for nb in chapters():
            if args.only and nb.stem not in args.only:
                continue
            print(f"executing {nb.name} ...", flush=True)
            print(f"  {nb.stem}: {execute(nb, src, metrics):.1f} s", flush=True)
    built = staged_chapters(src)
    table, used = write_scorecard(metrics, src / "book" / "scorecard.md", built)
    build_html(src, build)
    print(f"book: {build / 'html' / 'index.html'}")
    report(table, model_statement(used))


def report(table: list[dict[str, str]], models: str) -> None:
    """Say which trained network this build used, in the log and, on GitHub Actions, in the
    run's summary page (``$GITHUB_STEP_SUMMARY``)."""
    print(models.replace("**", ""))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(f"## make book\n\n{models}\n\nScorecard: {verdict_counts(table)}.\n")


if __name__ == "__main__":
    main()
