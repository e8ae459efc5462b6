"""gbp_limit against a direct loop over patches; the expectations of Eqs. (3)-(4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import helpers as H


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


def test_gbp_limit_errors_and_fc_limit():
    with pytest.raises(ValueError, match="smaller than the 7x7 kernel"):
        H.gbp_limit(torch.ones(3, 5, 5), 7)
    with pytest.raises(ValueError, match="padding must be"):
        H.gbp_limit(torch.ones(3, 9, 9), 3, "full")
    x = torch.randn(3, 4, 4)
    assert math.isclose(float(H.gbp_limit_fc(x).norm()), 1.0, rel_tol=1e-6)
    torch.testing.assert_close(H.gbp_limit_fc(x), x / x.norm())  # Eq. (7): the direction of x


def test_expected_values_by_monte_carlo():
    rng = np.random.default_rng(0)
    v = rng.normal(0, 2.0, 400_000)
    se = 2.0 / math.sqrt(len(v))
    assert abs(np.maximum(v, 0).mean() - H.expected_h("guided", 2.0)) < 5 * se
    assert H.expected_h("plain", 2.0) == 0.0
    w = rng.normal(0, 1.0, (200_000, 5))
    y = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    w_tilde = w * (w @ y > 0)[:, None]
    mean = w_tilde.mean(0)
    assert abs(np.linalg.norm(mean) - H.expected_w_tilde_norm(1.0)) < 0.01
    assert mean @ y / (np.linalg.norm(mean) * np.linalg.norm(y)) > 0.999
