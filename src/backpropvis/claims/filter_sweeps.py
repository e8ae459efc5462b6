"""Chapter 4's claims (the paper's Section 4, Figures 3 and 4), judged by the verdict rule
(:mod:`.verdicts`). Each ``*_claim`` returns ``(measured text, verdict)`` for
:meth:`backpropvis.book.record.Record.claim`.

Thresholds:

- a map "gets cleaner" as the network grows when its correlation with the limit rises at every
  step of the sweep (reproduced), or from the smallest to the largest network (partly);
- an error falls as :math:`N^{-1/2}` when its fitted log-log slope is within
  :data:`SLOPE_TOL` (0.05) of -1/2, partly within :data:`SLOPE_TOL_PARTLY` (0.1);
- the filters needed grow with the patch size as :math:`\\sqrt{p/N}` says when the error ratio
  of the largest to the smallest kernel is within :data:`KERNEL_RTOL` (0.2, relative) of
  :math:`k_{\\max}/k_{\\min}`;
- the FC network is "worse than the convnet" when the convnet is better by the book's one-SD rule
  (:func:`~backpropvis.core.metrics.better_by_one_sd`) at the paper's FC resolution
  (reproduced), or only on the full image (partly);
- SAME padding alleviates the boundary inconsistency when the limit's border weight (over its
  inside mean) is closer to 1 with SAME padding than with VALID.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .verdicts import judge, near

__all__ = [
    "SLOPE_TOL",
    "SLOPE_TOL_PARTLY",
    "cleaner_claim",
    "error_slope_claim",
    "fc_vs_conv_claim",
    "kernel_size_claim",
    "same_padding_claim",
]

SLOPE_TOL, SLOPE_TOL_PARTLY = 0.05, 0.1
KERNEL_RTOL = 0.2


def cleaner_claim(rho_by_size: Mapping[Any, float], name: str) -> tuple[str, str]:
    """A sweep's map gets cleaner: ``rho_by_size[n]``, its correlation with the limit for each
    network size ``n`` (named ``name`` in the text: ``"N"``, ``"N_h"``)."""
    d = {int(n): v for n, v in rho_by_size.items()}
    v = [d[n] for n in sorted(d)]
    rises = sum(b > a for a, b in zip(v, v[1:], strict=False))
    lo, hi = min(d), max(d)
    measured = f"ρ {d[lo]:.3f} at {name}={lo} → {d[hi]:.3f} at {name}={hi}"
    return measured, judge(rises == len(v) - 1, d[hi] > d[lo])


def error_slope_claim(slope: float) -> tuple[str, str]:
    """An error to the limit falls as :math:`N^{-1/2}`: its fitted log-log slope."""
    measured = f"slope {slope:.3f} (theory -0.5)"
    return measured, near(slope, -0.5, SLOPE_TOL, SLOPE_TOL_PARTLY)


def kernel_size_claim(ratio: float, sqrt_p: float, k_hi: int, k_lo: int) -> tuple[str, str]:
    """The filters needed grow with ``p``: the error ratio of kernel ``k_hi`` to ``k_lo`` at
    one ``N``, against the ratio ``sqrt_p`` (:math:`k_{hi}/k_{lo}`) that :math:`\\sqrt{p/N}`
    predicts."""
    measured = f"error k={k_hi} / k={k_lo}: {ratio:.2f} (√(p/N) predicts {sqrt_p:.2f})"
    return measured, judge(math.isclose(ratio, sqrt_p, rel_tol=KERNEL_RTOL))


def fc_vs_conv_claim(comparison: Mapping[str, Any], full_size_better: str) -> tuple[str, str]:
    """ "Even :math:`N_h = 100000` cannot achieve a comparable performance to the convnet with
    N = 16": reproduced when the convnet is better (``comparison["holds"]``, by the one-SD rule)
    at the paper's FC resolution, partly when only on the full image (``full_size_better`` is
    ``"first"``: the convnet). ``comparison``: relative errors ``fc`` and ``conv`` at ``size``,
    and the same under ``at_full_size``."""
    c, full = comparison, comparison["at_full_size"]
    measured = (
        f"rel. error at {c['size']}px: FC {c['fc']:.2f} vs conv {c['conv']:.2f}; "
        f"at {full['size']}px: FC {full['fc']:.2f} vs conv {full['conv']:.2f}"
    )
    return measured, judge(bool(c["holds"]), full_size_better == "first")


def same_padding_claim(valid: float, same: float) -> tuple[str, str]:
    """SAME padding alleviates the boundary inconsistency: the limit's border weight over its
    inside mean with VALID and with SAME padding (1: no inconsistency)."""
    measured = f"border/inside weight: VALID {valid:.2f}, SAME {same:.2f}"
    return measured, judge(abs(same - 1) < abs(valid - 1))
