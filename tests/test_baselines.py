"""Regression checks: every chapter's smoke-run metrics against committed baselines.

Baselines live in tests/baselines/<chapter>.json. Regenerate them after an intended change with
`make baselines` (= pytest tests/test_baselines.py --update-baselines) and commit the diff.

How numbers are compared (one tolerance per kind of number, from what it means and from drift
measured across CPU kernel paths) is tests/baselines_rule.py, explained in
tests/baselines/README.md. The tests below also show that the rule still catches a real change:
a 1 % change of each chapter's core numbers and the sign of a near-zero one.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
from pathlib import Path

import pytest
from baselines_rule import (
    ATTACK_RTOL,
    MAGNITUDE_RTOL,
    RESIDUAL_ATOL,
    SIMILARITY,
    TIMING,
    compare,
    conclusions,
    kind,
)

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ROOT / "tests" / "baselines"
STEMS = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))]


def smoke_params(stem: str) -> dict:
    """The SMOKE parameters the chapter's own test module runs it with."""
    module = importlib.import_module(f"test_ch{stem[:2]}_{stem[3:]}")
    return module.SMOKE


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
    assert conclusions(metrics) == conclusions(baseline["metrics"]), (
        f"{stem}: a conclusion drawn from loosely compared numbers changed"
    )


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
    want = {"a": 0.5, "b": {"c": [1.0, 2.0]}, "name": "vgg16", "elapsed_s": 3.0, "n": 3}
    assert compare(want | {"elapsed_s": 9.0}, want) == []
    assert compare({**want, "b": {"c": [1.0 + 1e-5, 2.0]}}, want) == []
    assert compare({**want, "b": {"c": [1.01, 2.0]}}, want)
    assert compare({**want, "b": {"c": [1.0]}}, want)
    assert compare({**want, "name": "efficientnet_lite0"}, want)
    assert compare({**want, "n": 3.0}, want), "an integer count that became a float"
    assert compare({**want, "n": 4}, want)
    assert compare({k: v for k, v in want.items() if k != "a"}, want)
    claim = {"claims": {"k": {"measured": "plain 0.360 (100% flipped)", "verdict": "partly"}}}
    other = {"claims": {"k": {"measured": "plain 0.361 (100% flipped)", "verdict": "partly"}}}
    assert compare(other, claim) == [], "a claim's text: numbers masked"
    other["claims"]["k"]["measured"] = "guided 0.360 (100% flipped)"
    assert compare(other, claim), "a claim's text: words compared"


def leaf(tree, keys):
    for k in keys:
        tree = tree[k]
    return tree


def set_leaf(tree, keys, value):
    leaf(tree, keys[:-1])[keys[-1]] = value


# Each chapter's core numbers (the ones its claims rest on) and, where it has one, a near-zero
# number whose sign the text reads ("the plain map is uncorrelated", "slightly negative").
CORE = {
    "01_observations": [
        ("class_invariance", "vgg16_untrained", "guided"),
        ("class_invariance", "trained", "guided"),
        ("corr_with_limit", "guided"),
        ("corr_with_input", "vgg16_untrained", "guided"),
    ],
    "02_derivation": [
        ("E_h_guided_over_c",),
        ("E_w_tilde_norm_over_c",),
        ("concentration_slope_p27",),
        ("N_for_eps_0p1_p27",),
        ("corr_gbp_limit_by_N", "256"),
    ],
    "03_convnet_vs_fc": [
        ("corr_to_limit", "conv", "guided"),
        ("ssim_to_limit", "conv", "guided"),
        ("rel_error_gbp", "fc", "measured"),
        ("rel_error_gbp", "conv", "predicted"),
    ],
    "04_filter_sweeps": [
        ("conv_error_slope",),
        ("fc_error_slope",),
        ("fc_100000_vs_conv_16", "conv"),
        ("kernel_error_ratio", "measured"),
    ],
    "05_explorer": [
        ("grid", "convnet N=256, guided", "rho_logits"),
        ("grid", "convnet N=256, guided", "predicted_rho_limit"),
        ("default_rho_limit", 0),
    ],
    "06_beyond_the_draft": [
        ("cascading", "guided", 0, "spearman_abs"),
        ("deconv_maxpool", "guided", "pool", 1, "corr_limit"),
        ("depth", "guided", 0, "corr_input"),
        ("todo", "untrained", "guided", "corr_input"),
    ],
    "07_every_method": [
        ("guided_backprop", "class_invariance"),
        ("deconvnet", "class_invariance"),
        ("saliency", "cascading", 0, "spearman_abs"),
        ("gradcam", "class_invariance"),
    ],
}
NEAR_ZERO = {
    "01_observations": [("class_invariance", "vgg16_untrained", "plain")],
    "02_derivation": [("E_h_plain_over_c",), ("corr_plain_limit_by_N", "256")],
    "03_convnet_vs_fc": [("corr_to_limit", "conv", "plain")],
    "04_filter_sweeps": [("plain_max_abs_corr", "conv")],
    "05_explorer": [("grid", "convnet N=256, plain", "rho_logits")],
    "06_beyond_the_draft": [("todo", "trained", "guided", "edges_spearman")],
    "07_every_method": [("deconvnet", "resemblance", "trained", "corr_input")],
}


def dotted(keys) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys).lstrip(".")


@pytest.mark.parametrize("stem", STEMS)
def test_rule_catches_a_one_percent_change_of_core_numbers(stem):
    base = json.loads((BASELINES / f"{stem}.json").read_text())["metrics"]
    assert CORE.get(stem), f"{stem}: name its core numbers in CORE"
    for keys in CORE[stem]:
        value = leaf(base, keys)
        assert isinstance(value, float) and abs(value) > 0.2, (keys, value)
        changed = copy.deepcopy(base)
        set_leaf(changed, keys, value * 1.01)
        diffs = compare(changed, base)
        assert [d for d in diffs if d.startswith(dotted(keys) + ":")], (keys, diffs)


@pytest.mark.parametrize("stem", STEMS)
def test_rule_catches_the_sign_of_a_near_zero_number(stem):
    base = json.loads((BASELINES / f"{stem}.json").read_text())["metrics"]
    for keys in NEAR_ZERO.get(stem, []):
        value = leaf(base, keys)
        assert SIMILARITY / 2 < abs(value) < 0.05, (keys, value)
        changed = copy.deepcopy(base)
        set_leaf(changed, keys, -value)
        assert compare(changed, base), (keys, value)


def test_conclusions_catch_a_changed_order_of_rules():
    base = json.loads((BASELINES / "06_beyond_the_draft.json").read_text())["metrics"]
    swapped = copy.deepcopy(base)
    adv = swapped["adversarial"]
    adv["plain"]["pgd"], adv["guided"]["pgd"] = adv["guided"]["pgd"], adv["plain"]["pgd"]
    assert conclusions(swapped) != conclusions(base)
    assert conclusions(base)["pgd: rules from most to least changed"] == [
        "plain",
        "guided",
        "deconv",
    ]


def test_every_baseline_number_has_a_kind_and_each_kind_occurs():
    seen = set()
    for path in sorted(BASELINES.glob("*.json")):
        base = json.loads(path.read_text())["metrics"]
        stack = [("", base)]
        while stack:
            path, node = stack.pop()
            if isinstance(node, dict):
                stack += [(f"{path}.{k}".lstrip("."), v) for k, v in node.items()]
            elif isinstance(node, list):
                stack += [(f"{path}[{i}]", v) for i, v in enumerate(node)]
            else:
                seen.add(kind(path, node))
    assert seen == {
        "timing",
        "exact",
        "attack",
        "unstable",
        "claim text",
        "residual",
        "similarity",
        "magnitude",
    }


def test_readme_states_the_rule_with_the_constants_in_the_code():
    readme = (BASELINES / "README.md").read_text()
    for name, value in {
        "SIMILARITY": SIMILARITY,
        "MAGNITUDE_RTOL": MAGNITUDE_RTOL,
        "RESIDUAL_ATOL": RESIDUAL_ATOL,
        "ATTACK_RTOL": ATTACK_RTOL,
    }.items():
        assert re.search(rf"`{name}`[^\n|]*\|\s*`?{value:g}`?", readme), name
    kinds = ("timing", "exact", "attack", "unstable", "claim text", "residual", "similarity")
    for k in (*kinds, "magnitude"):
        assert f"| {k} |" in readme, k


def strip_volatile(tree, path: str = ""):
    """The metrics tree without timings."""
    if isinstance(tree, dict):
        return {
            k: strip_volatile(v, f"{path}.{k}")
            for k, v in tree.items()
            if not TIMING.search(str(k))
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
