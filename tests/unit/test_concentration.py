"""Log-log fits of convergence rates (the concentration module)."""

from __future__ import annotations

import numpy as np

import helpers as H


def test_sweep_slopes():
    n = [1, 4, 16, 64, 256]
    err = np.stack([3.0 * np.asarray(n, float) ** -0.5, 2.0 * np.asarray(n, float) ** -1.0])
    np.testing.assert_allclose(H.loglog_slopes(n, err, n_min=4), [-0.5, -1.0], atol=1e-12)
    np.testing.assert_allclose(H.loglog_slopes(n, err[None], n_min=1), [-0.5, -1.0], atol=1e-12)
