"""The metrics against their definitions; normalizations; paired verdicts; border measures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import helpers as H
from backpropvis.core.metrics import cosine, noise_to_signal, spearman


def test_metrics_against_definitions():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 16, 16))
    b = a + 0.5 * rng.normal(size=a.shape)
    assert math.isclose(H.pearson(a, b), np.corrcoef(a.ravel(), b.ravel())[0, 1], rel_tol=1e-12)
    assert H.pearson(a, a) == pytest.approx(1.0) and H.pearson(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.exp(a)) == pytest.approx(1.0)
    assert spearman(a, -a, absolute=True) == pytest.approx(1.0)
    assert H.ssim(a, 3 * a + 1) == pytest.approx(1.0)  # min-max normalization first
    assert H.ssim(a, rng.normal(size=a.shape)) < 0.2
    m = H.similarity_matrices([a, b, -a], ("pearson",))["pearson"]
    assert m.shape == (3, 3) and np.allclose(np.diag(m), 1) and m[0, 2] == pytest.approx(-1)
    assert H.relative_error(2 * a, a) == pytest.approx(0.0, abs=1e-6)
    cos = cosine(a, b)
    assert H.relative_error(b, a) == pytest.approx(math.sqrt(1 / cos**2 - 1))
    assert noise_to_signal(1 / math.sqrt(2)) == pytest.approx(1.0)


def test_normalizations():
    m = np.random.default_rng(2).normal(size=(3, 10, 10))
    mm = H.normalize_map(m)
    assert mm.shape == m.shape and mm.min() == 0 and mm.max() == 1
    a = H.normalize_map(m, "abs99")
    assert a.shape == (10, 10) and a.min() >= 0 and a.max() == 1
    d = H.normalize_map(m, "diverging")
    assert d.min() >= -1 and d.max() <= 1
    # by hand: the global min-max of the paper, over pixels and channels together
    small = np.array([[[-2.0, 0.0]], [[2.0, 6.0]], [[1.0, 4.0]]])  # (3, 1, 2)
    np.testing.assert_allclose(H.normalize_map(small), (small + 2) / 8)
    # by hand: 99 pixels of channel sum +-1 and one outlier of -1000 (split over channels).
    # numpy's 99th percentile of |sum| = 1 + 0.01 * 999 = 10.99 (linear, index 98.01): the
    # outlier clips to 1 (abs99) or -1 (diverging, sign kept), the others read 1 / 10.99.
    sums = np.where(np.arange(100) % 2 == 0, 1.0, -1.0).reshape(10, 10)
    sums[3, 7] = -1000.0
    outlier = np.stack([sums / 2, sums / 4, sums / 4])  # channel sums = sums
    q = 10.99
    np.testing.assert_allclose(H.normalize_map(outlier, "abs99"), np.minimum(abs(sums) / q, 1))
    np.testing.assert_allclose(H.normalize_map(outlier, "diverging"), np.clip(sums / q, -1, 1))
    with pytest.raises(ValueError, match="unknown normalization"):
        H.normalize_map(m, "zscore")


def test_paired_verdicts_and_border_measures():
    # paired scores: a constant gap is decisive, a gap inside the noise is not
    assert H.better_by_one_sd([0.9, 0.8, 0.7], [0.5, 0.4, 0.3]) == "first"
    assert H.better_by_one_sd([0.9, 0.8, 0.7], [0.5, 0.4, 0.3], sign=-1) == "second"
    assert H.better_by_one_sd([1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]) == "comparable"
    border = H.border_mask((8, 8), 2)
    assert border.sum() == 64 - 16 and not border[2:6, 2:6].any()
    assert not H.border_mask((8, 8), 0).any()
    x = torch.rand(3, 8, 8) + 0.1
    assert H.border_gain(x, x, border) == pytest.approx(1.0)
    doubled = torch.where(border, 2 * x, x)  # the border weighted twice as much
    assert H.border_gain(doubled, x, border) == pytest.approx(2.0)


def test_plus_minus_writes_a_mean_and_its_spread_as_the_tables_do():
    assert H.plus_minus(0.12345, 0.0456) == "0.123 ± 0.046"
    assert H.plus_minus(-0.5, 1.96 * 0.01, 4) == "-0.5000 ± 0.0196"
