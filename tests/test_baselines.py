"""Regression checks: every chapter's smoke-run metrics against committed baselines.

Baselines live in tests/baselines/<chapter>.json. Regenerate them after an intended change with
`make baselines` (= pytest tests/test_baselines.py --update-baselines) and commit the diff.

Tolerance: numbers agree within RTOL relative (plus ATOL absolute), tight enough that any
change of the science shows, loose enough for float rounding across CPUs and BLAS builds.
Timings are not compared. Strings, booleans and the set of keys must match exactly.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ROOT / "tests" / "baselines"
STEMS = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))]
RTOL, ATOL = 1e-3, 1e-6
# Timings and machine load: they describe the run, not the science.
VOLATILE = re.compile(r"(^|_)(time|times|seconds|elapsed|runtime|ms|s|load|load_avg)(_|$)|_time")


def smoke_params(stem: str) -> dict:
    """The SMOKE parameters the chapter's own test module runs it with."""
    module = importlib.import_module(f"test_ch{stem[:2]}_{stem[3:]}")
    return module.SMOKE


def compare(got, want, path: str = "") -> list[str]:
    """Differences between two metrics trees beyond the stated tolerance."""
    if VOLATILE.search(path.rsplit(".", 1)[-1]):
        return []
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return [
                f"{path or '<root>'}: keys {sorted(got) if isinstance(got, dict) else got} "
                f"!= {sorted(want)}"
            ]
        return [d for k in want for d in compare(got[k], want[k], f"{path}.{k}".lstrip("."))]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: {got!r} != {want!r}"]
        return [
            d
            for i, (g, w) in enumerate(zip(got, want, strict=True))
            for d in compare(g, w, f"{path}[{i}]")
        ]
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return [f"{path}: {got!r} != {want!r}"]
        if math.isnan(want) and math.isnan(got):
            return []
        if not math.isclose(got, want, rel_tol=RTOL, abs_tol=ATOL):
            return [f"{path}: {got!r} != baseline {want!r}"]
        return []
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


@pytest.mark.parametrize("stem", STEMS)
def test_metrics_match_baseline(stem, chapter_runner, tmp_path_factory, update_baselines):
    params = smoke_params(stem)
    metrics = chapter_runner(stem, tmp_path_factory.mktemp(stem), **params)
    path = BASELINES / f"{stem}.json"
    if update_baselines:
        BASELINES.mkdir(exist_ok=True)
        record = {"params": params, "metrics": metrics}
        path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"baseline written: {path.relative_to(ROOT)}")
    assert path.exists(), f"no baseline for {stem}: run `make baselines`"
    baseline = json.loads(path.read_text())
    assert baseline["params"] == json.loads(json.dumps(params)), (
        f"{stem}: smoke parameters changed since the baseline; run `make baselines`"
    )
    diffs = compare(metrics, baseline["metrics"])
    assert not diffs, f"{stem} drifted from its baseline:\n" + "\n".join(diffs[:20])


@pytest.mark.parametrize("stem", STEMS)
def test_no_visible_cell_shows_a_stray_result(stem, chapter_runner, tmp_path_factory):
    """A shown cell whose last line is an expression (a glue call returning its value, say)
    prints that value under the code: on the page it duplicates the glued table or number.
    Cells whose input is hidden exist to show their result and are exempt."""
    workdir = tmp_path_factory.mktemp(f"{stem}_cells")
    chapter_runner(stem, workdir, **smoke_params(stem))
    nb = json.loads((workdir / f"{stem}.ipynb").read_text())
    hidden = {"remove-output", "remove-cell", "remove-input", "hide-output"}
    stray = [
        "".join(c["source"]).splitlines()[-1]
        for c in nb["cells"]
        if c["cell_type"] == "code" and not hidden & set(c["metadata"].get("tags", []))
        if any(o["output_type"] == "execute_result" for o in c["outputs"])
    ]
    assert not stray, f"{stem}: cells show their last expression's value: {stray}"


def test_compare_catches_drift():
    want = {"a": 0.5, "b": {"c": [1.0, 2.0]}, "name": "vgg16", "elapsed_s": 3.0}
    assert compare(want | {"elapsed_s": 9.0}, want) == []
    assert compare({**want, "a": 0.5 + 1e-5}, want) == []
    assert compare({**want, "a": 0.51}, want) == ["a: 0.51 != baseline 0.5"]
    assert compare({**want, "b": {"c": [1.0]}}, want)
    assert compare({**want, "name": "efficientnet_lite0"}, want)
    assert compare({k: v for k, v in want.items() if k != "a"}, want)


def strip_volatile(tree, path: str = ""):
    """The metrics tree without timings."""
    if isinstance(tree, dict):
        return {
            k: strip_volatile(v, f"{path}.{k}")
            for k, v in tree.items()
            if not VOLATILE.search(str(k))
        }
    if isinstance(tree, list):
        return [strip_volatile(v, path) for v in tree]
    return tree


# Cheap, and exercises the seeded convnet, the streamed FC net and the metrics.
DETERMINISM_CHAPTER = "03_convnet_vs_fc"


def test_same_seeds_give_identical_metrics(chapter_runner, tmp_path_factory):
    from conftest import execute_chapter

    stem = DETERMINISM_CHAPTER
    params = smoke_params(stem)
    first = chapter_runner(stem, tmp_path_factory.mktemp("first"), **params)
    second = execute_chapter(stem, tmp_path_factory.mktemp("second"), **params)
    assert strip_volatile(first) == strip_volatile(second)
