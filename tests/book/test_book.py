"""The book as readers get it: Colab badges and setup cells, failing cells, the scorecard."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
# Chapters that stay on the CPU on purpose, and why.
CPU_ONLY = {
    "02_derivation": "small float64 identities and Monte Carlo whose numbers must not depend "
    "on the device",
    "08_training": "networks of at most 2.4 million weights on 16 x 16 digits, trained in "
    "seconds on the CPU, where its baselines' drift is measured",
    "09_width_or_depth": "random convnets of at most 4.5 million weights on 12 px photos, the "
    "digits' CNN and two random ImageNet networks at 64 px: under two minutes on the CPU, where "
    "its baselines' drift is measured",
}
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402
import scorecard  # noqa: E402


def test_launch_buttons_open_committed_notebooks():
    """Jupyter Book's Colab button opens <colab_url>/github/<owner>/<repo>/blob/<branch>/
    <path_to_book><page>.ipynb: that URL must equal each chapter's badge, name a branch that
    exists and a notebook git tracks (Colab reads the repository, not this working tree)."""
    owner_repo = REPO_URL.removeprefix("https://github.com/")
    assert REPO_URL == f"https://github.com/{owner_repo}" and owner_repo.count("/") == 1
    colab = CONFIG["launch_buttons"]["colab_url"].rstrip("/")
    assert colab == "https://colab.research.google.com"
    git = ["git", "-C", str(ROOT)]
    branch = subprocess.run([*git, "rev-parse", "--verify", "--quiet", f"refs/heads/{BRANCH}"])
    assert branch.returncode == 0, f"_config.yml's branch {BRANCH!r} does not exist"
    tracked = subprocess.run([*git, "ls-files", "notebooks"], capture_output=True, text=True)
    base = CONFIG["repository"].get("path_to_book", "") or ""
    for src in SOURCES:
        page = f"{base}notebooks/{src.stem}.ipynb"
        url = f"{colab}/github/{owner_repo}/blob/{BRANCH}/{page}"
        assert f"({url})" in jupytext.read(src).cells[0].source, f"{src.name}: badge is not {url}"
        assert f"notebooks/{src.stem}.ipynb" in tracked.stdout.split(), f"{page} not committed"


def _sentences_with(text: str, needle: str) -> list[str]:
    flat = re.sub(r"\s+", " ", text)
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z*`(])", flat) if needle in s]


@pytest.mark.parametrize("page", ["README.md", "book/intro.md"])
def test_pages_say_where_the_book_will_be_published(page):
    """README and landing page name the future address (derived from _config.yml's repository)
    as future, say how to read and run the book before that, and claim no live site."""
    owner, name = REPO_URL.removeprefix("https://github.com/").split("/")
    pages = f"https://{owner.lower()}.github.io/{name}/"  # where GitHub Pages serves this repo
    text = (ROOT / page).read_text()
    assert f"<{pages}>" in text, f"{page} does not name the future address {pages}"
    assert f"<{REPO_URL}>" in text, f"{page} does not name the repository {REPO_URL}"
    for url in (pages, REPO_URL):
        for sentence in _sentences_with(text, url):
            assert re.search(r"\b(will|once|until)\b", sentence, re.I), (
                f"{page}: this sentence presents {url} as live: {sentence!r}"
            )
    assert "not published" in text, f"{page} must say that the book is not published yet"
    assert "_build/html/index.html" in text and "make book" in text  # read it locally
    assert "jupyter lab notebooks/" in text  # run it locally
    if page == "README.md":
        assert "Which trained model ran" in text


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_colab_badge_and_setup_cell(src):
    cells = jupytext.read(src).cells
    intro = cells[0].source  # the title cell
    badge = re.findall(r"https://colab\.research\.google\.com/github/([^)\s]+)", intro)
    owner_repo = REPO_URL.removeprefix("https://github.com/")
    assert badge == [f"{owner_repo}/blob/{BRANCH}/notebooks/{src.stem}.ipynb"], (
        f"{src.name}: the title cell needs the Colab badge"
    )
    assert (ROOT / "notebooks" / f"{src.stem}.ipynb").exists()
    setup = next(c for c in cells if c.cell_type == "code")
    assert "remove-cell" in setup.metadata.get("tags", []), "setup cell must be hidden"
    assert '"google.colab" in sys.modules' in setup.source
    assert f'REPO = "{REPO_URL}"' in setup.source
    assert "torch" not in setup.source.split("REPO")[1], "the setup must not reinstall torch"
    body = "\n".join(c.source for c in cells)
    if src.stem not in CPU_ONLY:
        # directly, or through H.Explorer, which calls default_device() itself
        uses_cuda = "default_device()" in body or "H.Explorer(" in body
        assert uses_cuda, "chapters use CUDA when it is available"
    assert not re.search(r"[\"'](\.\./|src/|notebooks/)", body), "no repository-relative paths"


def test_failing_cell_names_chapter_and_cell(tmp_path, chapter_runner):
    """The regression runner turns a cell's exception into a failure naming chapter and cell."""
    nb = jupytext.reads(
        "# %% tags=['parameters']\nphoto = 'chelsea'\nout_dir = '.'\n\n"
        "# %%\nimport helpers as H\n\n# %%\nx = H.load_image(photo)\n",
        fmt="py:percent",
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "99_broken.ipynb"
    jupytext.write(nb, path)
    with pytest.raises(
        AssertionError, match=r"chapter 99_broken failed in cell \d+ \(ValueError"
    ) as err:
        chapter_runner("99_broken", tmp_path / "run", notebook=path, photo="no_such_photo")
    assert "ValueError: unknown sample photo 'no_such_photo'" in str(err.value)


def test_scorecard_and_run_summary_name_the_trained_network(tmp_path, monkeypatch, capsys):
    metrics = {
        "01_observations": {"trained_model": "vgg16"},
        "02_derivation": {"c": 1.0},
        "06_beyond_the_draft": {"model": "efficientnet_lite0"},
    }
    used = scorecard.trained_models(metrics)
    assert used == {"vgg16": ["01_observations"], "efficientnet_lite0": ["06_beyond_the_draft"]}
    # metrics left from an earlier, fuller build do not count for a partial one
    assert scorecard.trained_models(metrics, ["06_beyond_the_draft"]) == {
        "efficientnet_lite0": ["06_beyond_the_draft"]
    }
    page = scorecard.render([], ["01_observations"], used)
    assert (
        "**VGG-16 with torchvision's IMAGENET1K_V1 weights, the paper's network** (chapter 1)"
        in page
    )
    assert "**EfficientNet-Lite0" in page and "(chapter 6)" in page
    assert "No chapter that uses a trained network" in scorecard.render([], [], {})
    # On GitHub Actions the same sentence goes to the run's summary page.
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    table = [{"verdict": "reproduced"}, {"verdict": "corrected"}]
    build_book.report(table, scorecard.model_statement({"vgg16": ["01_observations"]}))
    assert "Trained network in this build: **VGG-16" in summary.read_text()
    assert "reproduced: 1, corrected: 1" in summary.read_text()
    assert "Trained network in this build: VGG-16" in capsys.readouterr().out


def test_partial_build_stages_only_what_it_links(tmp_path):
    src = tmp_path / "src"
    build_book.stage(src, ["04_filter_sweeps"], keep_notebooks=False)
    assert build_book.staged_chapters(src) == ["04_filter_sweeps"]
    intro = (src / "book" / "intro.md").read_text()
    linked = re.findall(r"\{doc\}`\.\./notebooks/(\w+)`", intro)
    assert linked == ["04_filter_sweeps"], linked  # Sphinx -W fails on links to left-out pages
    assert "*01_observations* (not in this partial build)" in intro
    full = tmp_path / "full"
    build_book.stage(full, None, keep_notebooks=False)
    assert (full / "book" / "intro.md").read_text() == (ROOT / "book" / "intro.md").read_text()


def baseline_metrics() -> dict[str, dict]:
    folder = ROOT / "tests" / "book" / "baselines"
    return {
        src.stem: json.loads((folder / f"{src.stem}.json").read_text())["reported"]
        for src in SOURCES
    }


def test_every_chapter_has_an_expected_verdict_table(expected_verdicts):
    assert set(expected_verdicts) == {src.stem for src in SOURCES}


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_chapters_judge_their_claims_as_expected(
    src, chapter_runner, smoke_params, expected_verdicts, tmp_path_factory
):
    """The chapter, run now (the session's one smoke run, shared with the baseline tests),
    judges every claim with the expected verdict; so does its committed baseline."""
    stem = src.stem
    metrics = chapter_runner(
        stem, tmp_path_factory.mktemp(f"{stem}_verdicts"), **smoke_params[stem]
    )
    got = {key: c["verdict"] for key, c in metrics.get("claims", {}).items()}
    assert got == expected_verdicts[stem]
    saved = baseline_metrics()[stem].get("claims", {})
    assert {key: c["verdict"] for key, c in saved.items()} == expected_verdicts[stem]


def test_scorecard_page_shows_each_claims_expected_verdict(expected_verdicts):
    """The scorecard rendered from the baselines' metrics: one row per claim, in chapter order,
    whose verdict column shows the chapter's verdict (not a default, not another row's)."""
    metrics = baseline_metrics()
    page = scorecard.render(scorecard.rows(metrics), sorted(metrics))
    shown = [
        [cell.strip() for cell in line.strip("|").split(" | ")]
        for line in page.splitlines()
        if line.startswith("| ") and not line.startswith(("| § |", "| --- |"))
    ]
    want = [
        (metrics[stem]["claims"][key]["claim"], verdict)
        for stem in sorted(expected_verdicts)
        for key, verdict in expected_verdicts[stem].items()
    ]
    got = [(row[1].replace("\\|", "|"), row[-1].strip("*")) for row in shown]
    assert sorted(got) == sorted(want)  # baselines store claims with sorted keys
    counts = {v: sum(w == v for _, w in want) for v in ("reproduced", "partly")}
    assert f"reproduced: {counts['reproduced']}, partly: {counts['partly']}" in page
