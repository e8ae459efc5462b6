"""Chapter 2's claims (the paper's Section 3, Eqs. (2)-(6) and the concentration bound), judged
by the verdict rule (:mod:`.verdicts`). Each ``*_claim`` returns ``(measured text, verdict)``
for :meth:`backpropvis.book.record.Record.claim`.

Thresholds:

- Eq. (2) is an identity: reproduced at a largest autograd difference of :data:`EQ2_EXACT`
  (1e-8; float64) or less, partly up to :data:`EQ2_PARTLY` (1e-4);
- an expectation the paper says is zero: reproduced within :data:`ZERO_WITHIN_SE` (4) standard
  errors of its Monte Carlo estimate;
- a constant the paper states (:func:`~.verdicts.versus_paper`): reproduced within a relative
  tolerance, else corrected; :data:`EXPECTATION_RTOL` (5 %) for the expectations of Eq. (4),
  :data:`EQ5_SCALE_RTOL` (10 %) for the scale of Eq. (5), :data:`COVERAGE_RTOL` (1 %) for the
  coverage count of Eq. (6) and :data:`FILTERS_RTOL` (25 %) for "about 2700 filters";
- convergence to the limit of Eq. (5): reproduced at Pearson :data:`CONVERGED` (0.95), partly
  from :data:`CONVERGED_PARTLY` (0.8); the plain map carries no image at
  :math:`|\\rho| \\le` :data:`NO_IMAGE` (0.05);
- the :math:`N^{-1/2}` rate of the concentration error: slope within :data:`RATE_TOL` (0.03) of
  -1/2, partly within :data:`RATE_TOL_PARTLY` (0.06).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..core.metrics import plus_minus
from .verdicts import at_least, at_most, near, versus_paper

__all__ = [
    "concentration_rate_claim",
    "converges_claim",
    "coverage_claim",
    "eq2_claim",
    "eq5_scale_claim",
    "expectation_claim",
    "filters_claim",
    "no_image_claim",
    "zero_mean_claim",
]

EQ2_EXACT, EQ2_PARTLY = 1e-8, 1e-4
ZERO_WITHIN_SE = 4
EXPECTATION_RTOL, EQ5_SCALE_RTOL, COVERAGE_RTOL, FILTERS_RTOL = 0.05, 0.1, 0.01, 0.25
CONVERGED, CONVERGED_PARTLY, NO_IMAGE = 0.95, 0.8, 0.05
RATE_TOL, RATE_TOL_PARTLY = 0.03, 0.06
#: The paper's constants: Eq. (5)'s scale in units of the corrected :math:`Nc^2/(2\pi)`, and
#: the filters it estimates for error 0.1 with 3 x 3 x 3 filters.
PAPER_EQ5_SCALE, PAPER_FILTERS = 4.0, 2700.0


def _versus(value: float, paper: float, rel_tol: float, fmt: str = ".3f") -> tuple[str, str]:
    return f"{value:{fmt}} (paper {paper:{fmt}})", versus_paper(value, paper, rel_tol)


def eq2_claim(max_error: float) -> tuple[str, str]:
    """Eq. (2): the largest difference between autograd and the explicit sum."""
    return f"{max_error:.1e}", at_most(max_error, EQ2_EXACT, EQ2_PARTLY)


def zero_mean_claim(mean: float, se: float) -> tuple[str, str]:
    """An expectation that is zero (the plain rule's :math:`E[h(V)] = E[V]`): its Monte Carlo
    ``mean`` and standard error ``se``, shown as mean ± 1.96 se."""
    return plus_minus(mean, 1.96 * se, 4), near(mean, 0.0, ZERO_WITHIN_SE * se)


def expectation_claim(measured_over_c: float, paper_over_c: float) -> tuple[str, str]:
    """An expectation of Eq. (4) (:math:`E[\\sigma(V)]`, :math:`\\|E[\\tilde w]\\|`) in units
    of ``c``, against the paper's value."""
    return _versus(measured_over_c, paper_over_c, EXPECTATION_RTOL)


def eq5_scale_claim(scale: float) -> tuple[str, str]:
    """Eq. (5)'s constant: the fitted scale of the GBP map in units of :math:`Nc^2/(2\\pi)`,
    against the paper's :math:`2c^2N/\\pi` (4 in those units)."""
    return _versus(scale, PAPER_EQ5_SCALE, EQ5_SCALE_RTOL)


def converges_claim(rho: float, n: int) -> tuple[str, str]:
    """GBP of a random convnet approaches the limit of Eq. (5): Pearson ``rho`` at ``N = n``."""
    return f"ρ = {rho:.3f} at N = {n}", at_least(rho, CONVERGED, CONVERGED_PARTLY)


def no_image_claim(rhos: Iterable[float]) -> tuple[str, str]:
    """The plain map carries no image: its correlations with the limit over the sweep."""
    worst = max(abs(v) for v in rhos)
    return f"max |ρ| = {worst:.3f}", at_most(worst, NO_IMAGE)


def coverage_claim(interior: float, p: int) -> tuple[str, str]:
    """Eq. (6)'s :math:`\\sum_j D_j^T D_j \\approx pI`: the interior coverage count against
    the patch size ``p``."""
    return _versus(interior, p, COVERAGE_RTOL, ".0f")


def concentration_rate_claim(slope: float) -> tuple[str, str]:
    """The concentration error falls as :math:`N^{-1/2}`: its fitted log-log slope."""
    measured = f"slope {slope:.3f} (theory {-0.5:g})"
    return measured, near(slope, -0.5, RATE_TOL, RATE_TOL_PARTLY)


def filters_claim(n_for_eps: float) -> tuple[str, str]:
    """ "About 2700 filters" for error 0.1 with 3 x 3 x 3 filters: the measured ``N``."""
    return _versus(n_for_eps, PAPER_FILTERS, FILTERS_RTOL, ".0f")
