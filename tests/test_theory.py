"""gbp_limit against a direct loop over patches; the metrics against their definitions."""

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


def test_metrics_against_definitions():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 16, 16))
    b = a + 0.5 * rng.normal(size=a.shape)
    assert math.isclose(H.pearson(a, b), np.corrcoef(a.ravel(), b.ravel())[0, 1], rel_tol=1e-12)
    assert H.pearson(a, a) == pytest.approx(1.0) and H.pearson(a, -a) == pytest.approx(-1.0)
    assert H.spearman(a, np.exp(a)) == pytest.approx(1.0)
    assert H.spearman(a, -a, absolute=True) == pytest.approx(1.0)
    assert H.ssim(a, 3 * a + 1) == pytest.approx(1.0)  # min-max normalization first
    assert H.ssim(a, rng.normal(size=a.shape)) < 0.2
    m = H.similarity_matrices([a, b, -a], ("pearson",))["pearson"]
    assert m.shape == (3, 3) and np.allclose(np.diag(m), 1) and m[0, 2] == pytest.approx(-1)
    assert H.relative_error(2 * a, a) == pytest.approx(0.0, abs=1e-6)
    cos = H.cosine(a, b)
    assert H.relative_error(b, a) == pytest.approx(math.sqrt(1 / cos**2 - 1))
    assert H.noise_to_signal(1 / math.sqrt(2)) == pytest.approx(1.0)


def test_normalizations():
    m = np.random.default_rng(2).normal(size=(3, 10, 10))
    mm = H.normalize_map(m)
    assert mm.shape == m.shape and mm.min() == 0 and mm.max() == 1
    a = H.normalize_map(m, "abs99")
    assert a.shape == (10, 10) and a.min() >= 0 and a.max() == 1
    d = H.normalize_map(m, "diverging")
    assert d.min() >= -1 and d.max() <= 1
    with pytest.raises(ValueError, match="unknown normalization"):
        H.normalize_map(m, "zscore")


def test_plot_grid_and_metrics_file(tmp_path):
    x = H.load_image("coffee", 16)
    fig = H.plot_grid([[x, x[0]], [None, x]], row_labels=["a", "b"], col_labels=["c", "d"])
    assert len(fig.axes) == 4
    path = H.save_metrics(tmp_path, "demo", {"a": np.float32(1.5), 2: torch.tensor([1.0])})
    assert path.read_text().count('"a": 1.5') == 1


def test_sweep_slopes_paired_verdicts_and_border_measures():
    n = [1, 4, 16, 64, 256]
    err = np.stack([3.0 * np.asarray(n, float) ** -0.5, 2.0 * np.asarray(n, float) ** -1.0])
    np.testing.assert_allclose(H.loglog_slopes(n, err, n_min=4), [-0.5, -1.0], atol=1e-12)
    np.testing.assert_allclose(H.loglog_slopes(n, err[None], n_min=1), [-0.5, -1.0], atol=1e-12)
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


def test_glue_shows_nothing_twice(capsys):
    # A cell ending in a glue call must not display the value again as the cell's result.
    assert H.glue("answer", 42) is None
    assert capsys.readouterr().out in ("", "answer = 42\n")  # printed only without myst-nb
