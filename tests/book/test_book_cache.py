"""`make book` executes a chapter once: its key, and a cached chapter's pages against a run's."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402

# A chapter as the book's are written: a parameters cell with out_dir, numbers glued into the
# prose and saved as metrics by a Record. It glues the time it ran, so that two executions
# differ while a cached copy does not.
TOY = """\
# %% [markdown]
# # Toy chapter
#
# It counted to {{glue:text}}`n` at {{glue:text}}`started`.

# %% tags=["parameters"]
n = 3
out_dir = "metrics"

# %%
import time

from backpropvis.book.record import Record

rec = Record("{stem}", out_dir)
rec("n", n)
rec("started", time.time())
rec.save()
"""


def write_chapter(folder: Path, stem: str, n: int = 3) -> Path:
    """``folder/<stem>.ipynb`` and its paired ``.py``, from :data:`TOY`."""
    folder.mkdir(parents=True, exist_ok=True)
    text = TOY.format(stem=stem).replace("n = 3", f"n = {n}")
    (folder / f"{stem}.py").write_text(text)
    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    jupytext.write(nb, folder / f"{stem}.ipynb")
    return folder / f"{stem}.ipynb"


def toy_book(tmp_path: Path, stems: list[str]) -> tuple[Path, Path]:
    """``(notebooks folder, table of contents)`` of a book of toy chapters."""
    notebooks = tmp_path / "notebooks"
    for stem in stems:
        write_chapter(notebooks, stem)
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    toc["parts"][0]["chapters"] = [{"file": f"notebooks/{stem}"} for stem in stems]
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    return notebooks, tmp_path / "_toc.yml"


def tree(folder: Path, pattern: str) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob(pattern)}


def test_cached_chapter_builds_the_same_pages_as_an_executed_one(tmp_path, capsys):
    """Build a one-chapter book twice: the second takes the chapter from the cache (nothing is
    executed) and every HTML page and the metrics are byte for byte the first build's."""
    notebooks, toc = toy_book(tmp_path, ["99_toy"])
    build = tmp_path / "out" / "_build"
    args = {"notebooks": notebooks, "toc_file": toc}
    assert build_book.build_book(build, **args) == {"99_toy": "ran"}
    html, metrics = tree(build / "html", "*.html"), tree(build / "metrics", "*.json")
    page = html["notebooks/99_toy.html"].decode()
    assert "It counted to" in page and ">3<" in page.replace(" ", "")  # the glued number
    assert "../../metrics" in page  # out_dir names no machine path
    executed = (build / "src" / "notebooks" / "99_toy.ipynb").read_bytes()
    capsys.readouterr()

    assert build_book.build_book(build, **args) == {"99_toy": "cached"}
    assert "99_toy: cached (key " in capsys.readouterr().out
    assert (build / "src" / "notebooks" / "99_toy.ipynb").read_bytes() == executed
    assert tree(build / "metrics", "*.json") == metrics
    again = tree(build / "html", "*.html")
    assert sorted(again) == sorted(html)
    assert [name for name in html if again[name] != html[name]] == []


def test_an_edited_chapter_reruns_alone_and_rerun_runs_all(tmp_path):
    """Two chapters: an edit to one reruns that one only; ``rerun`` runs both. A re-execution
    is not bitwise identical to the first (the glued time), which is why the cache decides what
    a warm build shows."""
    notebooks, _ = toy_book(tmp_path, ["98_one", "99_two"])
    build = tmp_path / "_build"
    src, metrics, cache = build / "src", build / "metrics", build / "cache"
    (src / "notebooks").mkdir(parents=True)
    env = {"trained_model": "efficientnet_lite0"}

    def run(rerun: bool = False) -> dict[str, str]:
        nbs = build_book.chapters(notebooks)
        return build_book.execute_chapters(nbs, src, metrics, cache, env, rerun)

    def staged(stem: str) -> bytes:
        return (src / "notebooks" / f"{stem}.ipynb").read_bytes()

    assert run() == {"98_one": "ran", "99_two": "ran"}
    one, two = staged("98_one"), staged("99_two")
    assert run() == {"98_one": "cached", "99_two": "cached"}
    assert (staged("98_one"), staged("99_two")) == (one, two)

    write_chapter(notebooks, "99_two", n=4)
    assert run() == {"98_one": "cached", "99_two": "ran"}
    assert '"n": 4' in (metrics / "99_two.json").read_text()
    assert run(rerun=True) == {"98_one": "ran", "99_two": "ran"}
    assert staged("98_one") != one  # executed again: another time glued


@pytest.fixture(scope="module")
def environment() -> dict:
    return build_book.build_environment()


def key(notebook: Path, environment: dict, **parameters) -> str:
    return build_book.chapter_key(
        notebook, {"out_dir": "../../metrics", **parameters}, environment
    )[0]


def test_key_follows_the_chapter_and_its_parameters(tmp_path, environment):
    nb = write_chapter(tmp_path, "99_toy")
    base = key(nb, environment)
    assert key(nb, environment) == base  # deterministic
    assert key(nb, environment, n=4) != base
    write_chapter(tmp_path, "99_toy", n=4)  # the .ipynb papermill runs and its pair
    assert key(nb, environment) != base
    edited = key(nb, environment)
    nb.with_suffix(".py").write_text(nb.with_suffix(".py").read_text() + "# a comment\n")
    assert key(nb, environment) != edited  # the reviewed source alone


def test_key_names_no_machine_path():
    """The same chapter built in two checkouts: the same parameters, so the same key."""
    a, b = (Path(f"/{where}/book/_build") for where in ("home", "srv/ci"))
    params = [
        build_book.chapter_parameters(d / "src/notebooks/01_x.ipynb", d / "metrics") for d in (a, b)
    ]
    assert params[0] == params[1] == {"out_dir": "../../metrics"}


def checkout(tmp_path: Path) -> Path:
    """A checkout to compute a build environment from: a library in subfolders, and pins."""
    root = tmp_path / "checkout"
    for rel in ("src/helpers.py", "src/pkg/__init__.py", "src/pkg/sub/deep.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# {rel}\n")
    for pin in build_book.PINS:
        (root / pin).write_text("torch==2.14.1\n")
    return root


def test_key_follows_the_library_at_any_depth_and_the_pins(tmp_path):
    root = checkout(tmp_path)
    nb = write_chapter(tmp_path, "99_toy")
    base = key(nb, build_book.build_environment(root))
    assert key(nb, build_book.build_environment(root)) == base
    (root / "src/pkg/sub/__pycache__").mkdir()
    (root / "src/pkg/sub/__pycache__/deep.cpython-311.pyc").write_bytes(b"\0")
    (root / "src/pkg/notes.txt").write_text("not code")
    assert key(nb, build_book.build_environment(root)) == base

    changes = {
        "a library file in a subfolder": ("src/pkg/sub/deep.py", "x = 1\n"),
        "a new library file": ("src/pkg/sub/new.py", ""),
        "constraints.txt": ("constraints.txt", "torch==2.15.0\n"),
        "pyproject.toml": ("pyproject.toml", "[project]\n"),
    }
    for what, (rel, text) in changes.items():
        root = checkout(tmp_path / what.replace(" ", "_"))
        (root / rel).write_text(text)
        assert key(nb, build_book.build_environment(root)) != base, what
    root = checkout(tmp_path / "moved")
    (root / "src/pkg/sub/deep.py").rename(root / "src/pkg/deep.py")
    assert key(nb, build_book.build_environment(root)) != base, "a file moved"


def test_key_follows_the_trained_model_device_and_numerics(tmp_path, monkeypatch, environment):
    """A VGG-16 build is never served to an offline one, nor a CPU build to a GPU one."""
    import torch

    import backpropvis.core.models

    nb = write_chapter(tmp_path, "99_toy")
    assert environment["trained_model"] == "efficientnet_lite0"  # the tests run offline
    base = key(nb, environment)

    with monkeypatch.context() as m:
        m.delenv("BACKPROPVIS_OFFLINE")
        m.setattr(backpropvis.core.models, "vgg16_weights_available", lambda timeout: True)
        online = build_book.build_environment()
    assert online["trained_model"] == "vgg16"  # the rule load_model("auto") follows
    assert key(nb, online) != key(nb, {**online, "trained_model": "efficientnet_lite0"})
    assert key(nb, online) != base

    for name, values in {
        "ATEN_CPU_CAPABILITY": ("default", "avx2"),
        "OMP_NUM_THREADS": ("1", "2"),
    }.items():
        # a value other than the one this run has (CI runs the suite under each of them)
        value = next(v for v in values if v != os.environ.get(name))
        with monkeypatch.context() as m:
            m.setenv(name, value)
            assert key(nb, build_book.build_environment()) != base, name
    with monkeypatch.context() as m:
        m.setattr(torch.cuda, "is_available", lambda: True)
        m.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H200")
        gpu = build_book.build_environment()
        assert gpu["device"] == "cuda: NVIDIA H200" and key(nb, gpu) != base
    for dist in ("torch", "numpy", "captum", "jupyter-book", "myst-nb", "papermill"):
        assert environment["distributions"][dist] != "absent", dist


def test_entry_whose_model_disagrees_with_the_key_is_not_kept(tmp_path):
    """A kernel that loaded another trained model than the key names (the network answered
    the build and not the kernel) leaves no entry to be served under the wrong key."""
    executed, result = tmp_path / "x.ipynb", tmp_path / "99_toy.json"
    executed.write_text("{}")
    result.write_text('{"trained_model": "efficientnet_lite0"}')
    entry = tmp_path / "cache" / "99_toy" / "k"
    build_book.store(entry, executed, result, {"trained_model": "vgg16"})
    assert not entry.exists()
    build_book.store(entry, executed, result, {"trained_model": "efficientnet_lite0"})
    assert (entry / "key.json").is_file() and (entry / "metrics.json").is_file()


def test_cache_keeps_the_most_recently_used_entries(tmp_path):
    executed, result = tmp_path / "x.ipynb", tmp_path / "none.json"
    executed.write_text("{}")
    chapter = tmp_path / "cache" / "99_toy"
    for i in range(build_book.CACHE_KEEP + 2):
        build_book.store(chapter / f"k{i}", executed, result, {"trained_model": "vgg16"})
    kept = sorted(p.name for p in chapter.iterdir())
    assert kept == [f"k{i}" for i in range(2, build_book.CACHE_KEEP + 2)]
    shutil.rmtree(chapter)
