"""Concentration: how fast sums over random filters approach their expectations (Section 3).

Monte Carlo checks of ``E[h(V)]`` and ``E[w~]`` (Eq. 4), the root-mean-square error of the
mean of ``N`` i.i.d. ``w~_i`` (``c sqrt((p/2 - 1/(2 pi)) / N)``), its measured decay and the
``N`` at which it falls below a tolerance, and the log-log fits used for every rate in the book.
Every draw comes from a named stream of :mod:`backpropvis.streams`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from . import streams
from .checks import check_positive_int, check_seed, check_std
from .rules import h
from .theory import expected_w_tilde_norm

__all__ = [
    "concentration_errors",
    "concentration_fit",
    "concentration_rms",
    "loglog_fit",
    "loglog_slopes",
    "mc_expected_h",
    "mc_w_tilde",
]


def mc_expected_h(rule: str, n_samples: int, c: float = 1.0, seed: int = 0) -> tuple[float, float]:
    """Monte Carlo ``E[h(V)]`` for ``V ~ N(0, c^2)``: ``(mean, standard error)``."""
    n = check_positive_int(n_samples, "n_samples")
    gen = streams.MC_H.generator(check_seed(seed))
    hv = h(torch.randn(n, generator=gen, dtype=torch.float64) * check_std(c), rule)
    return float(hv.mean()), float(hv.std() / math.sqrt(n))


def mc_w_tilde(
    y: torch.Tensor, n_samples: int, c: float = 1.0, seed: int = 0, chunk: int = 100_000
) -> dict[str, Any]:
    """Monte Carlo ``E[w~]``, ``w~ = w 1[w . y > 0]``, ``w ~ N(0, c^2 I_p)``, ``y``: ``(p,)``.

    Returns ``mean`` (the ``(p,)`` sample mean), ``proj`` and ``proj_se`` (its component along
    ``u = y / ||y||`` and that component's standard error), ``norm`` (``||mean||``), ``cos``
    (cosine of ``mean`` and ``y``), ``perp`` (norm of the part orthogonal to ``u``: sampling
    noise of size about ``c sqrt((p - 1) / (2 n))``), and ``cond_proj``, ``cond_proj_se``: the
    component along ``u`` of the conditional mean ``E[w | w . y > 0]``.
    """
    n, c = check_positive_int(n_samples, "n_samples"), check_std(c)
    u = (y / y.norm()).double().reshape(-1)
    gen = streams.MC_W_TILDE.generator(check_seed(seed))
    total, s1, s2, n_pos = torch.zeros_like(u), 0.0, 0.0, 0
    u32 = u.float()
    for lo in range(0, n, chunk):  # float32 draws, float64 sums across chunks
        w = torch.randn(min(chunk, n - lo), u.numel(), generator=gen) * c
        pos = w @ u32 > 0
        wt = w * pos[:, None]
        z = (wt @ u32).double()
        total += wt.sum(0).double()
        s1, s2, n_pos = s1 + float(z.sum()), s2 + float((z * z).sum()), n_pos + int(pos.sum())
    mean, proj, cond = total / n, s1 / n, s1 / n_pos
    return {
        "mean": mean,
        "proj": proj,
        "proj_se": math.sqrt(max(s2 / n - proj**2, 0.0) / (n - 1)),
        "norm": float(mean.norm()),
        "cos": float(mean @ u / mean.norm()),
        "perp": float((mean - (mean @ u) * u).norm()),
        "cond_proj": cond,
        "cond_proj_se": math.sqrt(max(s2 / n_pos - cond**2, 0.0) / (n_pos - 1)),
    }


def concentration_rms(p: int, n: Any, c: float = 1.0) -> Any:
    """``sqrt(E||(1/N) sum_i w~_i - E[w~]||^2) = c sqrt((p/2 - 1/(2 pi)) / N)`` (``n`` = ``N``)."""
    return c * np.sqrt((p / 2 - 1 / (2 * math.pi)) / np.asarray(n, dtype=np.float64))


def concentration_errors(
    y: torch.Tensor,
    sizes: Sequence[int],
    trials: int,
    c: float = 1.0,
    seed: int = 0,
    max_elems: int = 4_000_000,
) -> np.ndarray:
    """``||(1/N) sum_{i<=N} w~_i - E[w~]||_2`` for each ``N`` in ``sizes``, in ``trials`` runs.

    ``y``: a patch ``(p,)``; ``w~_i = w_i 1[w_i . y > 0]``, ``w_i ~ N(0, c^2 I_p)``. Each run
    draws one sequence of filters and reads its running mean at every ``N`` (so the sizes of one
    run are nested). Returns ``(trials, len(sizes))``.
    """
    trials, c = check_positive_int(trials, "trials"), check_std(c)
    todo = sorted({check_positive_int(s, "N") for s in sizes})
    u = (y / y.norm()).double().reshape(-1)
    mu = expected_w_tilde_norm(c) * u
    gen = streams.CONCENTRATION.generator(check_seed(seed), u.numel())
    step = max(1, max_elems // (trials * u.numel()))
    total, done, err = torch.zeros(trials, u.numel(), dtype=torch.float64), 0, {}
    for stop in todo:
        while done < stop:
            n = min(step, stop - done)
            w = torch.randn(trials, n, u.numel(), generator=gen) * c  # float32 draws
            total += (w * (w @ u.float() > 0)[..., None]).sum(1).double()
            done += n
        err[stop] = (total / stop - mu).norm(dim=1).numpy()
    return np.stack([err[int(s)] for s in sizes], axis=1)


def loglog_fit(n: Any, e: Any) -> tuple[float, float]:
    """Least-squares line ``log e = a + slope log n``: returns ``(slope, a)``."""
    slope, a = np.polyfit(np.log(np.asarray(n, float)), np.log(np.asarray(e, float)), 1)
    return float(slope), float(a)


def loglog_slopes(n: Sequence[int], err: np.ndarray, n_min: int) -> np.ndarray:
    """The fitted log-log slope of every run of a sweep over ``n``, sizes below ``n_min`` left
    out. ``err``: ``(..., S)`` errors with ``S = len(n)``; returns ``(runs,)`` slopes."""
    keep = np.asarray(n) >= n_min
    runs = np.asarray(err).reshape(-1, len(n))[:, keep]
    return np.array([loglog_fit(np.asarray(n)[keep], e)[0] for e in runs])


def concentration_fit(
    sizes: Sequence[int], errors: np.ndarray, eps: float = 0.1, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Log-log fits of :func:`concentration_errors` output ``(trials, len(sizes))``.

    ``slope``/``slope_se``: slope of the root-mean-square error over trials versus ``N`` and its
    bootstrap standard error (resampling trials). ``n_eps`` (95% bootstrap interval ``n_eps_lo``,
    ``n_eps_hi``): the ``N`` at which the fitted RMS error equals ``eps``. ``n_eps_q95``: the
    same for the fitted 95th percentile of the error (error ``< eps`` in 95% of runs).
    """
    errors = np.asarray(errors, dtype=np.float64)

    def fit(err: np.ndarray) -> tuple[float, float, float]:
        slope, a = loglog_fit(sizes, np.sqrt((err**2).mean(0)))
        s95, a95 = loglog_fit(sizes, np.percentile(err, 95, axis=0))
        return slope, math.exp((math.log(eps) - a) / slope), math.exp((math.log(eps) - a95) / s95)

    slope, n_eps, n_q95 = fit(errors)
    rng = np.random.default_rng(streams.BOOTSTRAP.seed(check_seed(seed)))
    boot = np.array([fit(errors[rng.integers(0, len(errors), len(errors))]) for _ in range(n_boot)])
    lo, hi = np.percentile(boot[:, 1], [2.5, 97.5])
    return {
        "slope": slope,
        "slope_se": float(boot[:, 0].std(ddof=1)),
        "n_eps": n_eps,
        "n_eps_lo": float(lo),
        "n_eps_hi": float(hi),
        "n_eps_q95": n_q95,
    }
