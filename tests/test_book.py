"""The book as readers get it: Colab badges and setup cells, failing cells, the scorecard."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import pytest
import yaml
from conftest import ChapterFailed

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
# Chapters that stay on the CPU on purpose, and why.
CPU_ONLY = {
    "02_derivation": "small float64 identities and Monte Carlo whose numbers must not depend "
    "on the device",
}
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402
import scorecard  # noqa: E402


def test_repository_settings():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO_URL)
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


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
        ChapterFailed, match=r"chapter 99_broken failed in cell \d+ \(ValueError"
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
