"""Width against depth (chapter 9): the rank-one test of Sixt et al. (CSC and its random
baseline), vectors injected at the logits through every method that is one backward pass, the
deep random convnets, LRP-z⁺'s conservation, and the grid's verdicts computed from the grid."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import helpers as H


def test_csc_of_identical_and_of_opposite_vectors_is_one():
    r = torch.randn(1, 16, 5, 5, generator=torch.Generator().manual_seed(0))
    assert H.csc(r.expand(4, -1, -1, -1)) == pytest.approx(1.0, abs=1e-12)
    scaled = torch.cat([r, -3 * r, 0.5 * r])  # |cos| ignores sign and scale
    assert H.csc(scaled) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("channels", [3, 10, 64])
def test_csc_of_independent_vectors_is_the_random_baseline(channels):
    gen = torch.Generator().manual_seed(channels)
    r = torch.randn(5, channels, 60, 60, generator=gen)  # 10 pairs x 3,600 positions
    assert H.csc(r) == pytest.approx(H.random_csc(channels), abs=0.01)


def test_the_random_baseline_is_uniform_for_three_channels():
    """In R^3 the cosine of two random directions is uniform on [-1, 1]: median |cos| 1/2;
    in high dimension it shrinks as 0.6745 / sqrt(C) (the normal's median |z|)."""
    assert H.random_csc(3) == pytest.approx(0.5, abs=1e-12)
    assert H.random_csc(4096) * math.sqrt(4096) == pytest.approx(0.6745, abs=0.002)
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        H.random_csc(0)


def test_csc_leaves_out_dead_positions_and_names_bad_shapes():
    r = torch.randn(3, 4, 2, 2, generator=torch.Generator().manual_seed(1))
    dead = r.clone()
    dead[0, :, 0, 0] = 0  # a dead unit in one injection: no cosine there
    kept = H.csc(dead)
    assert not math.isnan(kept)
    with pytest.raises(ValueError, match="V >= 2 relevances"):
        H.csc(r[:1])


def test_injections_are_seeded_and_nonnegative_ones_are_absolute_values():
    a = H.injections("signed", 4, 10, seed=3)
    assert torch.equal(a, H.injections("signed", 4, 10, seed=3))
    assert not torch.equal(a, H.injections("signed", 4, 10, seed=4))
    assert torch.equal(H.injections("nonnegative", 4, 10, seed=3), a.abs())
    with pytest.raises(ValueError, match="unknown injection 'positive'"):
        H.injections("positive", 4, 10, seed=3)


@pytest.fixture(scope="module")
def deep():
    return H.deep_convnet(3, 8, 10, n_logits=6, seed=2)


@pytest.fixture(scope="module")
def photo():
    x = H.load_images(["chelsea"], 10)
    return (x - x.mean()) / x.std()


def test_deep_convnet_is_seeded_frozen_and_shaped(deep, photo):
    again = H.deep_convnet(3, 8, 10, n_logits=6, seed=2)
    other = H.deep_convnet(3, 8, 10, n_logits=6, seed=3)
    for a, b, c in zip(deep.parameters(), again.parameters(), other.parameters(), strict=True):
        assert torch.equal(a, b) and not torch.equal(a, c) and not a.requires_grad
    assert deep(photo).shape == (1, 6)
    assert sum(isinstance(m, nn.ReLU) for m in deep) == 3
    with pytest.raises(ValueError, match="depth"):
        H.deep_convnet(0, 8, 10)


def test_a_one_hot_injection_is_the_methods_map(deep, photo):
    """The map of logit k is the backward pass of e_k, for every method that is one."""
    methods = H.backward_methods()
    assert set(H.method_keys("lrp")) < set(methods)
    assert {"saliency", "guided_backprop", "deconvnet"} < set(methods)
    assert "smoothgrad" not in methods and "gradcam" not in methods
    xs = photo.expand(6, -1, -1, -1)
    maps, _ = H.attribution_maps(deep, xs, list(range(6)), methods)
    for m in methods:
        got, _ = H.injected(deep, xs, torch.eye(6), m)
        torch.testing.assert_close(got, maps[m], rtol=1e-5, atol=1e-7, msg=m)


def test_injections_are_linear_for_the_linear_backward_passes(deep, photo):
    """The plain gradient and LRP's rules pass a sum of vectors down as the sum of their
    relevances; guided backprop's relu of the gradient does not."""
    v = H.injections("signed", 2, 6, seed=0)
    xs = photo.expand(3, -1, -1, -1)
    for m, linear in (("saliency", True), ("lrp_zplus", True), ("guided_backprop", False)):
        rel, _ = H.injected(deep, xs, torch.cat([v, v.sum(0, keepdim=True)]), m)
        same = torch.allclose(rel[0] + rel[1], rel[2], rtol=1e-4, atol=1e-6)
        assert same == linear, m


def test_hidden_relevances_are_read_at_every_relu_in_forward_order(deep, photo):
    rel, hidden = H.injected(deep, photo, torch.ones(1, 6), "guided_backprop", layers=True)
    assert [name for name, _ in hidden] == ["1", "3", "5"]
    assert [tuple(r.shape) for _, r in hidden] == [(1, 8, 10, 10)] * 3
    # at the last ReLU's output, before its rule: V^T of the injected vector
    torch.testing.assert_close(hidden[-1][1].flatten(1), torch.ones(1, 6) @ deep[7].weight)


def test_bad_injections_and_methods_are_named(deep, photo):
    with pytest.raises(ValueError, match=r"vectors must be \(B, K\) = \(1, 6\)"):
        H.injected(deep, photo, torch.ones(1, 5), "saliency")
    with pytest.raises(ValueError, match="SmoothGrad is not one backward pass"):
        H.injected(deep, photo, torch.ones(1, 6), "smoothgrad")


def test_lrp_zplus_conserves_relevance_where_the_rule_promises_it(photo):
    """Without biases every unit passes on exactly the relevance it receives: the input's
    relevance sums to the logit's (the ReLU network of the grid). torchvision's ResNet-18 with
    zennit's canonizer comes close (its residual sums split the relevance); the offline
    EfficientNet-Lite0, whose residual sums zennit cannot canonize, does not."""
    assert H.conservation(H.deep_convnet(4, 16, 10, seed=1), photo, "lrp_zplus") == (
        pytest.approx(1.0, abs=1e-5)
    )
    resnet = H.load_model("resnet18_untrained", seed=0).model
    x = H.load_images(["chelsea"], 32)
    assert H.conservation(resnet, x, "lrp_zplus") == pytest.approx(1.0, abs=0.1)
    lite = H.load_model("efficientnet_lite0").model
    assert abs(H.conservation(lite, x, "lrp_zplus") - 1) > 0.2
    # LRP-α2β1 gives twice the positive share less the negative: conserved as well
    assert H.conservation(H.deep_convnet(2, 8, 10, seed=1), photo, "lrp_alpha2beta1") == (
        pytest.approx(1.0, abs=1e-5)
    )


def synthetic_grid(base, width_gain, depth_gain, csc_deep=1.0):
    """A 2 x 2 grid of every backward method whose class invariance is ``base`` at the
    shallow narrow corner and gains ``width_gain`` and ``depth_gain``."""
    rows = []
    for m in H.backward_methods():
        for d, w in ((1, 4), (1, 64), (8, 4), (8, 64)):
            ci = base + width_gain * (w == 64) + depth_gain * (d == 8)
            row = {"method": m, "depth": d, "width": w}
            row |= {k: {"mean": 0.5, "spread": 0.0} for k in H.GRID_MEASURES}
            row["class_invariance"] = {"mean": min(ci, 1.0), "spread": 0.0}
            row["csc_signed"] = {"mean": csc_deep if d == 8 else 0.5, "spread": 0.0}
            rows.append(row)
    return rows


def test_the_grids_verdicts_are_computed_from_the_grid():
    both = synthetic_grid(0.3, 0.62, 0.65)
    e = H.explains(both, "guided_backprop")
    assert e["grows_with_width"] and e["grows_with_depth"]
    assert e["right"] == "both"
    assert e["share_width"] == pytest.approx(0.62 / 0.7)
    assert H.width_claim(both)[1] == "reproduced"
    flat = synthetic_grid(0.3, 0.05, 0.0)
    assert H.explains(flat, "guided_backprop")["right"] == "neither"
    assert H.explains(flat, "saliency")["right"] == "both"  # both predict no growth
    assert H.explains(synthetic_grid(0.3, 0.0, 0.5), "guided_backprop")["right"] == "depth only"
    # the γ rule is outside Sixt et al.'s theorem: its depth prediction is never right
    assert H.explains(flat, "epsilon_gamma_box")["right"] == "width only"
    assert H.width_claim(flat)[1] == "not reproduced"
    # CSC 1 at depth for every method: right for the non-negative ones only
    methods = H.backward_methods()
    assert H.depth_claim(synthetic_grid(0.3, 0, 0, csc_deep=1.0), methods)[1] == "partly"
    # CSC 0.5 at depth for every method: right for the two exceptions only (2 of 6)
    assert H.depth_claim(synthetic_grid(0.3, 0, 0, csc_deep=0.5), methods)[1] == "not reproduced"


def test_passes_at_is_the_level_below_which_csc_stays_high():
    levels = [{"depth": d, "layer": str(d), "csc": c}
              for d, c in enumerate([0.1, 0.995, 0.98, 0.999, 1.0])]  # fmt: skip
    assert H.passes_at(levels, 0.99)["depth"] == 3
    assert H.passes_at(levels[:3], 0.99) is None
