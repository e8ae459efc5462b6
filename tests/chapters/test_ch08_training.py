"""Chapter 8 (What training changes): the trained networks, step (b) over training and the data
randomization test, on a smoke run.

The chapter runs once (400 training digits of 16 x 16, 6 epochs on the true labels, permuted
labels fitted to 95 %, 4 checkpoints, 50 test digits, 2 SmoothGrad samples, 4
Integrated-Gradients points). The library's
own tests are in tests/unit/test_training.py.
"""

from __future__ import annotations

import pytest

import helpers as H
from backpropvis.claims.training import CHANCE_MARGIN
from backpropvis.studies.training import CURVE_RULES

STEM = "08_training"
SCORES = ("spearman_abs", "spearman", "ssim", "hog")


@pytest.fixture(scope="module")
def smoke(smoke_params):
    """This chapter's smoke parameters (tests/conftest.py)."""
    return smoke_params[STEM]


@pytest.fixture(scope="module")
def m(smoke, chapter_runner, tmp_path_factory):
    return chapter_runner(STEM, tmp_path_factory.mktemp("ch08"), **smoke)


def test_permuted_label_models_fit_their_labels_and_test_at_chance(m, smoke):
    for net, by in m["accuracy"].items():
        perm = by["permuted"]
        assert perm["fitted_at"] is not None and perm["train"] >= smoke["fit_at"], net
        assert abs(perm["test"] - 0.1) <= CHANCE_MARGIN, net
        assert perm["epochs"] == perm["fitted_at"]


def test_the_true_label_cnn_beats_ninety_percent(m, smoke):
    assert m["accuracy"]["cnn"]["true"]["test"] > 0.9
    assert m["accuracy"]["cnn"]["true"]["epochs"] == smoke["epochs"]


def test_step_b_holds_at_initialization_and_breaks_with_training(m):
    for net, curve in m["step_b"].items():
        assert curve[0]["step"] == 0
        init, last = curve[0]["plain"], curve[-1]["plain"]
        assert abs(init["value"]) <= 4 * init["error"], net
        assert last["value"] > 10 * last["error"] and last["value"] > 0.1, net


def test_curves_follow_every_checkpoint_and_the_last_step(m, smoke):
    steps_per_epoch = -(-smoke["n_train"] // 64)
    for net, curve in m["training_curves"].items():
        steps = [c["step"] for c in curve]
        assert steps == sorted(set(smoke["checkpoints"] + [smoke["epochs"] * steps_per_epoch])), net
        for c in curve:
            assert set(c["class_invariance"]) == set(CURVE_RULES)
    first = m["training_curves"]["conv"][0]
    assert abs(first["autocorr"]["saliency"]) < 0.1  # the random plain map: no structure
    assert first["class_invariance"]["guided_backprop"] > 0.5


def test_data_randomization_uses_every_method_of_chapter_7(m):
    assert m["methods"] == H.method_keys("gradient", "modified", "cam")
    for name, r in m["data_randomization"].items():
        assert set(SCORES) <= set(r) and r["n"] >= 40, name
        assert r["measured_insensitive"] == (r["spearman_abs"] >= 0.5)
    # the input's magnitude carries gradient x input and IG, not the plain gradient
    dr = m["data_randomization"]
    assert dr["integrated_gradients"]["spearman_abs"] > dr["saliency"]["spearman_abs"] + 0.3
    assert dr["guided_backprop"]["spearman"] > dr["saliency"]["spearman"] + 0.3


def test_the_comparison_table_is_computed_not_typed(m):
    rows = m["page"]["tables"]["randomization_table"]["rows"]
    dr = m["data_randomization"]
    assert [r[0] for r in rows] == [H.METHODS[k].label for k in m["methods"]]
    for row, key in zip(rows, m["methods"], strict=True):
        r = dr[key]
        assert row[2] == H.plus_minus(r["spearman_abs"], r["spearman_abs_std"], 2)
        theirs = H.METHODS[key].mnist_permuted_spearman_abs
        assert row[-2] == ("—" if theirs is None else f"{theirs:.2f}")
        if theirs is not None:
            same = (theirs >= 0.5) == r["measured_insensitive"]
            assert row[-1] == ("yes" if same else "no")
    assert m["n_same_mnist"] == sum(r[-1] == "yes" for r in rows)
