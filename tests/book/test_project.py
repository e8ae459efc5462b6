"""The book's own conventions: Jupytext pairs, the table of contents, parameters, environments."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import jupytext
import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[2]
GENERATED = {"book/scorecard"}  # written into the staged sources by `make book`
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_there_are_chapters():
    assert SOURCES, "no notebooks/NN_name.py chapters found"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_pairs_agree_and_carry_no_outputs(src):
    ipynb = src.with_suffix(".ipynb")
    assert ipynb.exists(), f"{src.name} has no paired {ipynb.name} (Colab opens only .ipynb)"
    raw = json.loads(ipynb.read_text())
    code = [c for c in raw["cells"] if c["cell_type"] == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), (
        f"{ipynb.name} is committed with outputs; regenerate it with `make sync`"
    )
    a = [(c.cell_type, c.source.strip()) for c in jupytext.read(src).cells]
    b = [(c.cell_type, c.source.strip()) for c in jupytext.read(ipynb).cells]
    assert a == b, f"{src.name} and {ipynb.name} differ: run `make sync`"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_chapter_has_one_parameters_cell_with_out_dir(src):
    cells = [c for c in jupytext.read(src).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{src.name} needs exactly one cell tagged 'parameters'"
    assert "out_dir" in cells[0].source


def test_toc_lists_every_chapter_once_in_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    chapters = [f for f in files if f.startswith("notebooks/")]
    assert chapters == [f"notebooks/{s.stem}" for s in SOURCES]
    for f in set(files) - GENERATED:
        assert any((ROOT / f).with_suffix(ext).exists() for ext in (".md", ".ipynb")), f


def _requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {r.replace(" ", "") for r in reqs}


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {r.replace(" ", "") for r in pip if not r.startswith("-e")} == _requirements()
    assert "-e ." in pip


def test_torch_has_lower_bounds_only():
    for req in _requirements():
        if req.startswith(("torch>", "torchvision>", "torch=", "torchvision=", "torch<")):
            assert ">=" in req and "<" not in req and "==" not in req, req


WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _steps(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(action + "@")]


def test_workflow_calls_the_readme_commands():
    wf = yaml.safe_load(WORKFLOW.read_text())
    runs = [s["run"] for job in wf["jobs"].values() for s in job["steps"] if "run" in s]
    make = [r for r in runs if r.startswith("make ")]
    assert make == ["make test", "make book", "make check-html"]  # book needs test
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{cmd}`" in readme or cmd in readme for cmd in set(make))
    assert all(len(r.splitlines()) == 1 for r in runs), "no multi-line copies of make's steps"
    assert all(job["timeout-minutes"] for job in wf["jobs"].values())


def test_workflow_publishes_the_book(tmp_path):
    wf = yaml.safe_load(WORKFLOW.read_text())
    on, jobs = wf[True], wf["jobs"]  # YAML 1.1 reads the key `on` as True
    assert "pull_request" in on and on["push"]["branches"] == ["main"]
    test, book, deploy = jobs["test"], jobs["book"], jobs["deploy"]
    assert "if" not in test  # every pull request and push runs make test
    assert book["needs"] == "test" and "refs/heads/main" in book["if"]
    for job in (test, book):  # pip downloads cached between runs
        (setup,) = _steps(job, "actions/setup-python")
        assert setup["with"]["cache"] == "pip"
    # torchvision's weights directory, cached under a key holding torchvision's version
    (cache,) = _steps(book, "actions/cache")
    assert cache["with"]["path"].endswith("torch/hub/checkpoints")
    assert "torchvision-${{ steps.torchvision.outputs.version }}" in cache["with"]["key"]
    (version,) = [s for s in book["steps"] if s.get("id") == "torchvision"]
    out = tmp_path / "github_output"  # run the step as the runner would
    env = {**os.environ, "GITHUB_OUTPUT": str(out)}
    subprocess.run(["bash", "-c", version["run"]], cwd=ROOT, env=env, check=True)
    pinned = re.search(r"^torchvision==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    assert out.read_text() == f"version={pinned.group(1)}\n"
    # executed chapters and metrics are kept even when a chapter fails
    (upload,) = _steps(book, "actions/upload-artifact")
    assert upload["if"] == "always()"
    assert {"_build/src/notebooks/", "_build/metrics/"} <= set(upload["with"]["path"].split())
    (pages,) = _steps(book, "actions/upload-pages-artifact")
    assert pages["with"]["path"] == "_build/html"
    assert deploy["needs"] == "book" and _steps(deploy, "actions/deploy-pages")
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    uses = [s["uses"] for job in jobs.values() for s in job["steps"] if "uses" in s]
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
