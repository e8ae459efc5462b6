"""Regression checks: what each chapter tells its reader, against its committed baseline.

Baselines live in tests/book/baselines/<chapter>.json: the asserted entries (claims, glued numbers
and tables, the chapter's core numbers below) with the drift measured for each across CPU kernel
paths, and the whole metrics tree, which is only reported. Regenerate them after an intended
change with `make baselines` (= pytest tests/book/test_baselines.py --update-baselines), which also
measures the drift, and commit the diff.

The rule (tests/book/baselines_rule.py, explained in tests/book/baselines/README.md) is tested
below on the committed baselines: a 1 % change of each chapter's core numbers fails, and so do
the sign of a near-zero number the book reads and a flipped verdict.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest
from baselines_rule import (
    ATTACK_RTOL,
    DRIFT_FACTOR,
    MAGNITUDE_RTOL,
    MEANING,
    MIN_SPREAD_N,
    NOT_ASSERTED,
    RESIDUAL_ATOL,
    SIMILARITY,
    TIMING,
    VARIANTS,
    Entry,
    compare,
    dotted,
    drift_between,
    get,
    kind,
    largest,
    leaves,
    reported_drift,
    unassertable,
    what_the_page_reads,
)
from baselines_rule import DECIMAL as DECIMAL_RE

ROOT = Path(__file__).resolve().parents[2]
BASELINES = ROOT / "tests" / "book" / "baselines"


def write_baseline(stem, params, metrics, variants) -> Path:
    """The baseline of one chapter: each asserted entry with its drift, the largest difference
    from ``metrics`` seen in the ``variants`` runs; refuses an entry that drifts more than its
    meaning allows."""
    entries = what_the_page_reads(metrics, CORE[stem])
    asserted, refused = {}, []
    for path, e in sorted(entries.items()):
        drift = None
        for other in variants:
            there = what_the_page_reads(other, CORE[stem]).get(path)
            drift = largest(drift, drift_between(e.value, there.value if there else None))
        k = kind(e, metrics)
        why = unassertable(e, k, drift)
        if why:
            refused.append(why)
        if k not in NOT_ASSERTED:
            asserted[path] = {"value": e.value, "name": e.name, "drift": drift}
    assert not refused, f"{stem}: numbers that may not be asserted:\n" + "\n".join(refused)
    path = BASELINES / f"{stem}.json"
    record = {"params": params, "asserted": asserted, "reported": metrics}
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path


def test_metrics_match_baseline(
    chapter,
    chapter_runner,
    fresh_chapter_run,
    smoke_params,
    tmp_path_factory,
    update_baselines,
    drift_report,
):
    params = smoke_params[chapter]
    metrics = chapter_runner(chapter, tmp_path_factory.mktemp(chapter), **params)
    path = BASELINES / f"{chapter}.json"
    if update_baselines:
        variants = [
            fresh_chapter_run(chapter, tmp_path_factory.mktemp(f"{chapter}_v"), env=env, **params)
            for env in VARIANTS
        ]
        BASELINES.mkdir(exist_ok=True)
        write_baseline(chapter, params, metrics, variants)
        pytest.skip(f"baseline written: {path.relative_to(ROOT)}")
    assert path.exists(), f"no baseline for {chapter}: run `make baselines`"
    baseline = json.loads(path.read_text())
    assert baseline["params"] == json.loads(json.dumps(params)), (
        f"{chapter}: smoke parameters changed since the baseline; run `make baselines`"
    )
    asserted = baseline["asserted"]
    numbers = {
        p
        for p, v in leaves(baseline["reported"]).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not p.startswith("page.")
    }
    moved = [(d, p) for d, p in reported_drift(metrics, baseline["reported"]) if p not in asserted]
    drift_report.append((chapter, len(asserted), len(numbers - set(asserted)), moved))
    diffs = compare(metrics, baseline, CORE[chapter])
    assert not diffs, f"{chapter} drifted from its baseline:\n" + "\n".join(diffs[:20])


def test_no_visible_cell_shows_a_stray_result(
    chapter, chapter_runner, smoke_params, tmp_path_factory
):
    """A cell whose last line is an expression (a glue call returning its value, say) prints
    that value on the page, under its code or, with the code removed (``remove-input``), bare
    under the prose ('partly', 0.6837...): it duplicates the glued table or number. Only cells
    whose output is removed or folded are exempt."""
    workdir = tmp_path_factory.mktemp(f"{chapter}_cells")
    chapter_runner(chapter, workdir, **smoke_params[chapter])
    nb = json.loads((workdir / f"{chapter}.ipynb").read_text())
    hidden = {"remove-output", "remove-cell", "hide-output"}
    stray = [
        "".join(c["source"]).splitlines()[-1]
        for c in nb["cells"]
        if c["cell_type"] == "code" and not hidden & set(c["metadata"].get("tags", []))
        if any(o["output_type"] == "execute_result" for o in c["outputs"])
    ]
    assert not stray, f"{chapter}: cells show their last expression's value: {stray}"


def baseline_of(metrics: dict, stem: str = "x", drift: float = 0.0) -> dict:
    """A baseline of ``metrics`` as `make baselines` writes it, every drift ``drift``."""
    entries = what_the_page_reads(metrics, CORE.get(stem, []))
    asserted = {
        p: {"value": e.value, "name": e.name, "drift": drift}
        for p, e in entries.items()
        if kind(e, metrics) not in NOT_ASSERTED
    }
    return {"asserted": asserted, "reported": metrics}


def page(glued=(), tables=None, spreads=None) -> dict:
    return {"glued": list(glued), "tables": tables or {}, "spreads": spreads or {}}


def test_compare_catches_drift_of_what_the_page_reads():
    want = {
        "a": 0.5,
        "b": {"c": [1.0, 2.0]},
        "name": "vgg16",
        "elapsed_s": 3.0,
        "n": 3,
        "curve": [0.1, 0.2],
        "claims": {"k": {"measured": "plain 0.360 (8 of 8)", "verdict": "partly"}},
        "page": page(["a", "b.c", "name", "elapsed_s", "n"]),
    }
    base = baseline_of(want)
    assert compare(copy.deepcopy(want) | {"elapsed_s": 9.0}, base, []) == []
    assert compare({**want, "b": {"c": [1.0 + 1e-5, 2.0]}}, base, []) == []
    assert compare({**want, "b": {"c": [1.01, 2.0]}}, base, [])
    assert compare({**want, "b": {"c": [1.0]}}, base, [])
    assert compare({**want, "name": "efficientnet_lite0"}, base, [])
    assert compare({**want, "n": 3.0}, base, []), "an integer count that became a float"
    assert compare({**want, "n": 4}, base, [])
    assert compare({**want, "curve": [0.5, 0.9]}, base, []) == [], "a curve is only reported"
    assert reported_drift({**want, "curve": [0.5, 0.2]}, want)[0] == (0.4, "curve[0]")
    claim = copy.deepcopy(want)
    claim["claims"]["k"]["measured"] = "plain 0.361 (8 of 8)"
    assert compare(claim, base, []) == [], "a claim's text: a last-digit change"
    claim["claims"]["k"]["measured"] = "plain 0.372 (8 of 8)"
    assert compare(claim, base, []), "a claim's text: a number that moved"
    claim["claims"]["k"]["measured"] = "guided 0.360 (8 of 8)"
    assert compare(claim, base, []), "a claim's text: words compared"
    claim["claims"]["k"]["measured"] = "plain 0.360 (7 of 8)"
    assert compare(claim, base, []), "a claim's text: its counts compared exactly"
    claim["claims"]["k"] = {"measured": "plain 0.360 (8 of 8)", "verdict": "reproduced"}
    assert compare(claim, base, []), "a flipped verdict"


def test_measured_drift_widens_the_tolerance_and_limits_what_is_asserted():
    want = {"corr": 0.5, "page": page(["corr"])}
    got = {**want, "corr": 0.51}
    assert compare(got, baseline_of(want, drift=0.0), [])
    assert compare(got, baseline_of(want, drift=0.011 / DRIFT_FACTOR), []) == []
    entry = Entry("corr", 0.5, "corr")
    assert unassertable(entry, "similarity", MEANING["similarity"] / 2) is None
    assert unassertable(entry, "similarity", 2 * MEANING["similarity"])
    verdict = Entry("claims.k.verdict", "partly", "claims.k.verdict")
    assert unassertable(verdict, "exact", math.inf), "a verdict that flips between kernels"
    count = Entry("n_filters_needed", 35, "n_filters_needed")
    assert unassertable(count, "exact", 2.0), "a count that moves between kernels"
    epochs = Entry("fitted_epochs", 35, "fitted_epochs")
    assert (
        kind(epochs, {}) == "training count" and unassertable(epochs, "training count", 2.0) is None
    )
    assert compare({"fitted_epochs": 37, "page": page(["fitted_epochs"])},
                   baseline_of({"fitted_epochs": 35, "page": page(["fitted_epochs"])}, drift=2.0),
                   []) == []  # fmt: skip
    assert unassertable(epochs, "training count", 10.0), "a count that moves by a third"


def test_spreads_over_few_photos_are_never_asserted():
    tables = {"t": {"header": ["rule", "corr", "corr std"], "rows": [["guided", 0.9, 0.1]]}}
    want = {"corr_std": 0.1, "page": page(["corr_std"], tables, {"corr_std": 2, "tables.t": 2})}
    entries = what_the_page_reads(want, [])
    kinds = {p: kind(e, want) for p, e in entries.items()}
    assert kinds["corr_std"] == kinds["page.tables.t.rows[0][2]"] == "small spread"
    assert kinds["page.tables.t.rows[0][1]"] == "similarity"
    assert kinds["page.tables.t.rows[0][0]"] == "exact"
    many = {**want, "page": page(["corr_std"], tables, {"corr_std": MIN_SPREAD_N})}
    assert kind(what_the_page_reads(many, [])["corr_std"], many) == "similarity"
    assert compare({**want, "corr_std": 0.5}, baseline_of(want), []) == []


def set_leaf(tree, keys, value):
    get(tree, dotted(keys[:-1]))[keys[-1]] = value


# Each chapter's core numbers (the ones its claims rest on) and, where it has one, a near-zero
# number whose sign the text reads ("the plain map is uncorrelated", "slightly negative").
CORE_NUMBERS = {
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
    "08_training": [
        ("accuracy", "cnn", "true", "test"),
        ("step_b", "conv", 4, "plain", "value"),
        ("training_curves", "conv", 4, "autocorr", "saliency"),
        ("gbp", "conv", "corr_input", "trained"),
    ],
    "09_width_or_depth": [
        ("grid", 10, "class_invariance", "mean"),  # GBP, one layer, the widest
        ("grid", 18, "class_invariance", "mean"),  # GBP, the deepest, the narrowest
        ("layers", "VGG-16, random", "guided_backprop", 3, "csc"),
        ("lrp_randomization", "lrp_alpha2beta1", "class_invariance"),
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
    "09_width_or_depth": [("grid", 0, "class_invariance", "mean")],  # saliency
}


# What each chapter's baseline asserts besides its claims and glued numbers.
CORE = {stem: CORE_NUMBERS[stem] + NEAR_ZERO.get(stem, []) for stem in CORE_NUMBERS}


def test_rule_catches_a_one_percent_change_of_core_numbers(chapter):
    base = json.loads((BASELINES / f"{chapter}.json").read_text())
    assert CORE_NUMBERS.get(chapter), f"{chapter}: name its core numbers in CORE_NUMBERS"
    for keys in CORE_NUMBERS[chapter]:
        path = dotted(keys)
        value = get(base["reported"], path)
        assert isinstance(value, float) and abs(value) > 0.2, (keys, value)
        assert path in base["asserted"], f"{chapter}: core number {path} is not asserted"
        changed = copy.deepcopy(base["reported"])
        set_leaf(changed, keys, value * 1.01)
        diffs = compare(changed, base, CORE[chapter])
        assert [d for d in diffs if d.startswith(path + ":")], (keys, diffs)


def test_rule_catches_the_sign_of_a_near_zero_number(chapter):
    base = json.loads((BASELINES / f"{chapter}.json").read_text())
    for keys in NEAR_ZERO.get(chapter, []):
        path = dotted(keys)
        value = get(base["reported"], path)
        assert SIMILARITY / 2 < abs(value) < 0.05, (keys, value)
        assert path in base["asserted"], f"{chapter}: {path} is not asserted"
        changed = copy.deepcopy(base["reported"])
        set_leaf(changed, keys, -value)
        assert compare(changed, base, CORE[chapter]), (keys, value)


def test_rule_catches_a_flipped_verdict(chapter):
    base = json.loads((BASELINES / f"{chapter}.json").read_text())
    claims = base["reported"]["claims"]
    for key, claim in claims.items():
        changed = copy.deepcopy(base["reported"])
        other = "partly" if claim["verdict"] != "partly" else "reproduced"
        changed["claims"][key]["verdict"] = other
        assert any(
            d.startswith(f"claims.{key}.verdict:") for d in compare(changed, base, CORE[chapter])
        )


def test_baseline_asserts_what_the_page_reads_and_records_its_drift(chapter):
    base = json.loads((BASELINES / f"{chapter}.json").read_text())
    metrics = base["reported"]
    entries = what_the_page_reads(metrics, CORE[chapter])
    want = {p for p, e in entries.items() if kind(e, metrics) not in NOT_ASSERTED}
    assert set(base["asserted"]) == want
    for path, entry in base["asserted"].items():
        drift = entry["drift"]
        drifts = drift if isinstance(drift, list) else [drift]
        assert all(isinstance(d, float) and d >= 0 for d in drifts), path
        e = Entry(path, entry["value"], entry["name"])
        assert unassertable(e, kind(e, metrics), drift) is None, path


def test_readme_states_the_rule_with_the_constants_in_the_code():
    readme = (BASELINES / "README.md").read_text()
    for name, value in {
        "SIMILARITY": SIMILARITY,
        "MAGNITUDE_RTOL": MAGNITUDE_RTOL,
        "RESIDUAL_ATOL": RESIDUAL_ATOL,
        "ATTACK_RTOL": ATTACK_RTOL,
        "DRIFT_FACTOR": DRIFT_FACTOR,
        "MIN_SPREAD_N": MIN_SPREAD_N,
    }.items():
        assert re.search(rf"`{name}`[^\n|]*\|\s*`?{value:g}`?", readme), name
    kinds = ("timing", "small spread", "exact", "text", "attack", "residual", "similarity")
    kinds += ("training count",)
    for k in (*kinds, "magnitude"):
        assert f"| {k} |" in readme, k
    for env in VARIANTS:
        for var, value in env.items():
            assert f"{var}={value}" in readme, (var, value)


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


def test_same_seeds_give_identical_metrics(
    chapter_runner, fresh_chapter_run, smoke_params, tmp_path_factory
):
    stem = DETERMINISM_CHAPTER
    params = smoke_params[stem]
    first = chapter_runner(stem, tmp_path_factory.mktemp("first"), **params)
    second = fresh_chapter_run(stem, tmp_path_factory.mktemp("second"), **params)
    assert strip_volatile(first) == strip_volatile(second)


def test_attacked_statistics_in_texts_move_with_the_attacked_image():
    base = json.loads((BASELINES / "06_beyond_the_draft.json").read_text())
    got = copy.deepcopy(base["reported"])
    text = got["claims"]["adversarial"]["measured"]
    first = DECIMAL_RE.search(text).group()
    moved = f"{float(first) + 0.009:.{len(first.split('.')[1])}f}"
    got["claims"]["adversarial"]["measured"] = text.replace(first, moved, 1)
    assert not [d for d in compare(got, base, CORE["06_beyond_the_draft"]) if "claims.adv" in d]
    far = f"{float(first) + 0.06:.{len(first.split('.')[1])}f}"
    got["claims"]["adversarial"]["measured"] = text.replace(first, far, 1)
    assert [d for d in compare(got, base, CORE["06_beyond_the_draft"]) if "claims.adv" in d]
    other = copy.deepcopy(base["reported"])
    measured = other["claims"]["maxpool_deconv"]["measured"]
    tok = DECIMAL_RE.search(measured).group()
    bumped = f"{float(tok) + 0.009:.{len(tok.split('.')[1])}f}"
    other["claims"]["maxpool_deconv"]["measured"] = measured.replace(tok, bumped, 1)
    assert [d for d in compare(other, base, CORE["06_beyond_the_draft"]) if "maxpool_deconv" in d]
