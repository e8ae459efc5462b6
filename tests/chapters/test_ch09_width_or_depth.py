"""Chapter 9 (Width or depth?): the phase diagram, the rank-one test by layer and the LRP family
through chapter 7's tests, on a smoke run.

The chapter runs once (depths 1 and 4, widths 4 and 64, two seeds on 8 px photos, 2 injections
of each sign; the real networks at 32 px on one photo with 2 injections; the digits' CNN trained
2 epochs, 10 test digits). The library's own tests are in tests/unit/test_width_depth.py.
"""

from __future__ import annotations

import math

import pytest

import helpers as H

STEM = "09_width_or_depth"


@pytest.fixture(scope="module")
def smoke(smoke_params):
    """This chapter's smoke parameters (tests/conftest.py)."""
    return smoke_params[STEM]


@pytest.fixture(scope="module")
def m(smoke, chapter_runner, tmp_path_factory):
    return chapter_runner(STEM, tmp_path_factory.mktemp("ch09"), **smoke)


def cell(m, method, depth, width, key):
    return H.grid_cell(m["grid"], method, depth, width)[key]["mean"]


def test_the_grid_holds_every_method_depth_and_width(m, smoke):
    assert m["methods"] == H.backward_methods()
    cells = {(r["method"], r["depth"], r["width"]) for r in m["grid"]}
    assert cells == {(k, d, w) for k in m["methods"] for d in smoke["depths"]
                     for w in smoke["widths"]}  # fmt: skip
    for row in m["grid"]:
        assert set(row) == {"method", "depth", "width", *H.GRID_MEASURES}
        for key in ("csc_signed", "csc_nonnegative"):
            assert 0 <= row[key]["mean"] <= 1 and row[key]["spread"] >= 0, row


def test_gbp_forgets_the_class_with_width_and_with_depth(m, smoke):
    (d0, d1), (w0, w1) = smoke["depths"], smoke["widths"]
    base = cell(m, "guided_backprop", d0, w0, "class_invariance")
    assert cell(m, "guided_backprop", d0, w1, "class_invariance") > base + H.EFFECT
    assert cell(m, "guided_backprop", d1, w0, "class_invariance") > base + H.EFFECT
    # the width explanation's image: GBP shows the photo more as N grows
    assert cell(m, "guided_backprop", d0, w1, "corr_input") > cell(
        m, "guided_backprop", d0, w0, "corr_input"
    )


def test_the_plain_gradient_keeps_the_class_at_every_depth_and_width(m):
    for row in m["grid"]:
        if row["method"] == "saliency":
            assert abs(row["class_invariance"]["mean"]) < 0.1, row
            assert row["csc_signed"]["mean"] < 0.8, row


def test_lrp_zplus_is_rank_one_at_depth(m, smoke):
    assert cell(m, "lrp_zplus", smoke["depths"][-1], smoke["widths"][0], "csc_signed") >= (
        H.RANK_ONE_AT
    )


def test_every_network_is_measured_from_its_logits_to_its_input(m, smoke):
    assert set(m["layers"]) == {"VGG-16, random", "ResNet-18, random", "MNIST CNN, trained"}
    relus = {"VGG-16, random": 15, "ResNet-18, random": 17, "MNIST CNN, trained": 3}
    for net, by in m["layers"].items():
        for levels in by.values():
            assert [lv["depth"] for lv in levels] == list(range(relus[net] + 2)), net
            assert levels[0]["layer"] == "logits" and levels[-1]["layer"] == "input"
            assert levels[-1]["channels"] == 3 and levels[-1]["random"] == pytest.approx(0.5)
            first = levels[0]["csc"]
            assert first == by["saliency"][0]["csc"], "one set of injections per network"
    vgg = m["layers"]["VGG-16, random"]
    assert vgg["guided_backprop"][-1]["csc"] >= H.RANK_ONE_AT
    assert vgg["saliency"][-1]["csc"] < 0.8  # near the random 0.5


def test_the_lrp_family_goes_through_chapter_7s_tests(m):
    results = m["lrp_randomization"]
    assert sorted(results) == sorted(H.method_keys())
    for key, r in results.items():
        assert r["predicted_insensitive"] == H.METHODS[key].ingredients.predicted_insensitive
        assert r["verdict"] == (
            "agree" if r["predicted_insensitive"] == r["measured_insensitive"] else "disagree"
        )
        assert not math.isnan(r["class_invariance"]), key
    assert results["lrp_zplus"]["measured_insensitive"]


def test_the_trained_network_is_named_and_why_zennit_cannot_take_the_offline_one(m):
    assert m["cnn_test"] > 0.8
    assert abs(m["zplus_sum"]["lite"] - 1) > 0.2
    assert m["zplus_sum"]["vgg"] == pytest.approx(1.0, abs=1e-3)
