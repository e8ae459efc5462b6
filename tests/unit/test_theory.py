"""gbp_limit against a direct loop over patches; the expectations of Eqs. (3)-(4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import helpers as H
from backpropvis.core.theory import expected_h


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_gbp_limit_equals_loop_over_patches(padding):
    x = torch.randn(3, 7, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x[:, :3, :3] = 0  # a zero patch contributes nothing
    k = 3
    xp = F.pad(x, (1, 1, 1, 1)) if padding == "same" else x
    out = torch.zeros_like(xp)
    for r in range(xp.shape[1] - k + 1):
        for c in range(xp.shape[2] - k + 1):
            y = xp[:, r : r + k, c : c + k]
            if y.norm() > 0:
                out[:, r : r + k, c : c + k] += y / y.norm()  # D_j^T y_j / ||y_j||
    if padding == "same":
        out = out[:, 1:-1, 1:-1]
    assert torch.allclose(H.gbp_limit(x, k, padding), out, atol=1e-10)


def test_gbp_limit_errors():
    with pytest.raises(ValueError, match="smaller than the 7x7 kernel"):
        H.gbp_limit(torch.ones(3, 5, 5), 7)
    with pytest.raises(ValueError, match="padding must be"):
        H.gbp_limit(torch.ones(3, 9, 9), 3, "full")


def test_gbp_limit_fc_is_the_gbp_map_of_a_wide_fc_net():
    """Eq. (7): GBP of the FC net tends to ``N_h c^2 / (2 pi) gbp_limit_fc(x)``, in direction
    and in scale; the plain and DeconvNet maps have no component along it."""
    x = H.preprocess(H.load_image("chelsea", 8), "centered")  # d = 192, ||x|| = 1.47, not 1
    n_h, c = 100_000, 0.5
    net = H.FullyConnectedNet((3, 8, 8), n_h, n_logits=2, std=c, seed=0)
    maps = H.fc_map_sweep(net, x, [n_h], [0, 1], H.RULES)[0, :, 0]  # (R, T, 3, 8, 8)
    limit = H.gbp_limit_fc(x)
    unit_scale = n_h * c**2 / (2 * math.pi)  # N_h E[relu(V)] ||E[w 1(w.x > 0)]||
    for rule, rule_maps in zip(H.RULES, maps, strict=True):
        for m in rule_maps:
            # the map's fitted scale along the limit, in units of N_h c^2 / (2 pi)
            s = float((m * limit).sum() / (limit * limit).sum()) / unit_scale
            if rule == "guided":
                # seeds 0-4 x logits 0-1: rho 0.9888-0.9919 (sd 0.001; the predicted relative
                # error pi sqrt(d / N_h) = 0.138 gives 0.991), s 0.997-1.014 (sd 0.006; its
                # standard error 0.138 / sqrt(d) = 0.010)
                assert H.pearson(m, limit) > 0.985, rule
                assert abs(s - 1) < 0.05, (rule, s)
            else:  # same seeds: |s| <= 0.012 (plain), <= 0.028 (deconv, sd 0.013)
                assert abs(s) < 0.06, (rule, s)


def test_expected_values_by_monte_carlo():
    rng = np.random.default_rng(0)
    v = rng.normal(0, 2.0, 400_000)
    se = 2.0 / math.sqrt(len(v))
    assert abs(np.maximum(v, 0).mean() - expected_h("guided", 2.0)) < 5 * se
    assert expected_h("plain", 2.0) == 0.0
    w = rng.normal(0, 1.0, (200_000, 5))
    y = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    w_tilde = w * (w @ y > 0)[:, None]
    mean = w_tilde.mean(0)
    assert abs(np.linalg.norm(mean) - H.expected_w_tilde_norm(1.0)) < 0.01
    assert mean @ y / (np.linalg.norm(mean) * np.linalg.norm(y)) > 0.999
