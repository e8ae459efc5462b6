"""Shared test fixtures: run a chapter through papermill with smoke parameters."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import papermill
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

os.environ.setdefault("MPLBACKEND", "Agg")
# The tests never wait for the network: the "auto" loader takes the offline model unless the
# VGG-16 weights are already cached.
os.environ.setdefault("BACKPROPVIS_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_addoption(parser):
    parser.addoption(
        "--update-baselines",
        action="store_true",
        help="rewrite tests/baselines/*.json from this run's smoke metrics (`make baselines`)",
    )


class ChapterFailed(AssertionError):
    """A chapter's cell raised; the message names the chapter and the cell."""


_RUNS: dict[tuple[str, str], tuple[Path, dict]] = {}


def run_chapter(stem: str, workdir: Path, notebook: Path | None = None, **params) -> dict:
    """Execute ``notebooks/<stem>.ipynb`` with ``params`` in ``workdir``; return its metrics.

    The executed notebook is kept as ``workdir/<stem>.ipynb``; the metrics JSON is read from
    ``workdir/<stem>.json`` (the chapter's ``out_dir`` is ``workdir``). ``workdir`` holds nothing
    else, as in Colab: a chapter finds its code through the installed helper module only.
    A chapter runs once per test session for given parameters; later calls reuse its metrics.
    """
    key = (str(notebook or stem), json.dumps(params, sort_keys=True))
    if key not in _RUNS:
        _RUNS[key] = (workdir, execute_chapter(stem, workdir, notebook, **params))
    first, metrics = _RUNS[key]
    if first != workdir:  # the executed notebook and metrics, where this caller looks
        workdir.mkdir(parents=True, exist_ok=True)
        for name in (f"{stem}.ipynb", f"{stem}.json"):
            shutil.copy2(first / name, workdir / name)
    return json.loads(json.dumps(metrics))  # a copy: tests cannot change each other's


def execute_chapter(
    stem: str, workdir: Path, notebook: Path | None = None, env: dict | None = None, **params
) -> dict:
    """Execute the chapter now (no reuse); see :func:`run_chapter`. ``env``: environment
    variables for the chapter's kernel (another CPU kernel path, say)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"{stem}.ipynb"
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        papermill.execute_notebook(
            str(notebook or NOTEBOOKS / f"{stem}.ipynb"),
            str(out),
            parameters={"out_dir": str(workdir), **params},
            kernel_name="python3",
            cwd=str(workdir),
            progress_bar=False,
            execution_timeout=600,
        )
    except papermill.PapermillExecutionError as exc:
        raise ChapterFailed(
            f"chapter {stem} failed in cell {exc.exec_count} "
            f"({exc.ename}: {exc.evalue})\n{exc.source}"
        ) from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return json.loads((workdir / f"{stem}.json").read_text())


@pytest.fixture(scope="session")
def chapter_runner():
    """The :func:`run_chapter` function, for tests that execute chapters."""
    return run_chapter


@pytest.fixture(scope="session")
def update_baselines(request) -> bool:
    return bool(request.config.getoption("--update-baselines"))


_DRIFT: list = []


@pytest.fixture(scope="session")
def drift_report() -> list:
    """Where the baseline tests leave, per chapter, how far its reported (not asserted)
    numbers moved; printed at the end of the run."""
    return _DRIFT


def pytest_terminal_summary(terminalreporter):
    if not _DRIFT:
        return
    terminalreporter.section("baselines: asserted entries, and how far the reported numbers moved")
    for stem, n_asserted, n_reported, moved in _DRIFT:
        top = ", ".join(f"{p} {d:.2g}" for d, p in moved[:3]) or "none moved"
        terminalreporter.write_line(
            f"{stem}: {n_asserted} asserted, {n_reported} numbers only reported; "
            f"largest moves of those: {top}"
        )
