"""Chapter 7 (Every gradient method): class invariance, cascading and independent randomization
and the computed verdicts for eight attribution methods, on a smoke run.

The chapter runs once (64 x 64 photos, 2 photos, 6 logits, 2 SmoothGrad samples, 4
Integrated-Gradients points). Thresholds leave margins of several times the spread over photos
that the chapter reports; the methods' own unit tests are in tests/unit/test_methods.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import helpers as H
from backpropvis.claims.verdicts import PARTLY

STEM = "07_every_method"
METRIC_KEYS = {"spearman_abs", "spearman", "ssim", "hog"}


@pytest.fixture(scope="module")
def smoke(smoke_params):
    """This chapter's smoke parameters (tests/conftest.py)."""
    return smoke_params[STEM]


@pytest.fixture(scope="module")
def m(smoke, chapter_runner, tmp_path_factory):
    return chapter_runner(STEM, tmp_path_factory.mktemp("ch07"), **smoke)


def test_metrics_layout(m):
    assert m["methods"] == H.method_keys("gradient", "modified", "cam")
    n_steps = len(m["randomization_steps"])
    assert n_steps == len(H.randomization_groups(H.load_model(m["model"]).model)) > 3
    for name in m["methods"]:
        r = m[name]
        assert {"class_invariance", "cascading", "independent", "predicted_insensitive"} <= set(r)
        assert r["verdict"] in ("agree", "disagree")
        assert len(r["cascading"]) == len(r["independent"]) == n_steps
        for step in r["cascading"] + r["independent"]:
            assert METRIC_KEYS <= set(step)
            assert {f"{k}_std" for k in METRIC_KEYS} <= set(step)
    assert set(m["implementations"]) == set(m["methods"])


def test_verdicts_are_computed_from_the_measurements(m):
    for name in m["methods"]:
        r = m[name]
        n_upper = len(m["randomization_steps"]) // 2
        upper = np.nanmean([s["spearman_abs"] for s in r["cascading"][:n_upper]])
        assert r["upper_half_spearman_abs"] == pytest.approx(upper)
        assert r["measured_insensitive"] == bool(upper >= 0.5)
        assert r["predicted_insensitive"] == H.METHODS[name].ingredients.predicted_insensitive
        agree = r["predicted_insensitive"] == r["measured_insensitive"]
        assert r["verdict"] == ("agree" if agree else "disagree")


def test_the_argument_holds_for_the_papers_rules(m):
    for name in ("guided_backprop", "deconvnet"):
        assert m[name]["predicted_insensitive"] and m[name]["verdict"] == "agree"
        assert m[name]["cascading"][0]["spearman_abs"] > 0.9
    for name in ("saliency", "smoothgrad"):
        assert not m[name]["predicted_insensitive"] and m[name]["verdict"] == "agree"
        assert m[name]["cascading"][0]["spearman_abs"] < 0.7


def test_class_invariance_follows_the_backward_rule(m):
    ci = {name: m[name]["class_invariance"] for name in m["methods"]}
    assert ci["guided_backprop"] > 0.95 and ci["deconvnet"] > 0.95
    for name in ("saliency", "input_x_gradient", "smoothgrad", "integrated_gradients"):
        assert abs(ci[name]) < 0.2, name
    assert ci["saliency"] < ci["gradcam"] < ci["guided_backprop"]


def test_random_network_gbp_still_shows_the_photo(m):
    random = {name: m[name]["resemblance"]["random"] for name in m["methods"]}
    assert random["guided_backprop"]["corr_input"] > 0.2
    assert abs(random["saliency"]["corr_input"]) < 0.1
    assert random["guided_backprop"]["corr_input"] > random["saliency"]["corr_input"] + 0.2


def test_every_layer_random_changes_every_map(m):
    for name in m["methods"]:
        last = m[name]["cascading"][-1]["spearman_abs"]
        assert math.isnan(last) or last < 0.6, name


def test_claims_are_stated_with_their_verdicts(m):
    """The chapter's three claims (formerly judged by the scorecard) with the verdicts of the
    smoke run: every rule agrees but gradient × input, IG and Guided Grad-CAM, whose forward
    factors the argument leaves out; Guided Grad-CAM is class invariant too."""
    claims = m["claims"]
    assert set(claims) == {
        "every_method_prediction",
        "every_method_class_invariance",
        "every_method_sanity_checks",
    }
    assert {k: c["verdict"] for k, c in claims.items()} == dict.fromkeys(claims, PARTLY)
    assert claims["every_method_prediction"]["section"] == "Eq. (2), extended"
    assert claims["every_method_class_invariance"]["section"] == "2 (c), extended"
    assert claims["every_method_sanity_checks"]["section"] == "Adebayo"
    results = {name: m[name] for name in m["methods"]}
    judged = {
        "every_method_prediction": H.prediction_claim(results),
        "every_method_class_invariance": H.class_invariance_claim(results, m["invariant_at"]),
        "every_method_sanity_checks": H.sanity_checks_claim(results, m["sanity_checks_2018"]),
    }
    for key, (measured, verdict) in judged.items():
        assert (claims[key]["measured"], claims[key]["verdict"]) == (measured, verdict)
    assert "guided_gradcam" in claims["every_method_prediction"]["measured"]


def test_convergence_check_rejudges_only_the_averaged_methods(m, smoke):
    """At half the SmoothGrad copies and IG steps only those two methods are measured again;
    the table's first verdicts are the chapter's claims, and the sentence names exactly the
    claims whose verdict moved."""
    assert m["half_samples"] == max(1, smoke["smoothgrad_samples"] // 2)
    assert m["half_steps"] == max(1, smoke["ig_steps"] // 2)
    averaged = [
        k for k in m["methods"] if {"smoothgrad_samples", "ig_steps"} & set(H.METHODS[k].needs)
    ]
    assert averaged == ["smoothgrad", "integrated_gradients"]
    rows = m["page"]["tables"]["convergence_table"]["rows"]
    claims = m["claims"]
    assert {r[0] for r in rows} == set(claims)
    for key, verdict, measured, _half_verdict, _half_measured in rows:
        assert (verdict, measured) == (claims[key]["verdict"], claims[key]["measured"])
    moved = [r[0] for r in rows if r[1] != r[3] or r[2] != r[4]]
    assert m["settings_verdict"].startswith("no verdict depends") == all(r[1] == r[3] for r in rows)
    assert all(key in m["settings_verdict"] for key in moved)
