"""How a chapter's metrics are compared with its committed baseline: one tolerance per kind of
number, chosen from what the number means and from the drift measured across CPU kernel paths.

The rule and the measurements behind each tolerance are written out in tests/baselines/README.md;
a test keeps that page and the constants below in step. Kinds, first match wins:

- ``timing``: seconds, load averages: they describe the run, not the science. Not compared.
- ``exact``: strings (verdicts, names), booleans, integers (counts, classes), ``None``, the set
  of keys and the length of every list.
- ``attack``: statistics of adversarially attacked images. Sign-gradient steps flip where the
  gradient is near zero, so rounding changes the attacked image itself: each mean is compared
  within its standard error over photos (``std / sqrt(n)``), each spread within the standard
  error of a standard deviation (``std / sqrt(2 (n - 1))``), never tighter than ``SIMILARITY``;
  the norms of the perturbation to ``ATTACK_RTOL``; the fraction of flipped photos to one photo;
  which wrong class an attack reaches is not compared. The chapter's conclusion from them (the
  order of the rules) is compared exactly by :func:`conclusions`.
- ``unstable``: chapter 7's randomization curves that amplify rounding (HOG similarity of
  every method; every curve of Integrated Gradients): compared like attack statistics, within
  their standard error over photos; the chapter's conclusions from them (upper-half means,
  insensitive or not, verdicts) stay under their own kinds.
- ``claim text``: the measured text of a claim (``claims.<key>.measured``) is compared with its
  numbers masked: the numbers are compared, by their own kinds, where the metrics store them,
  and the claim's verdict is compared exactly.
- ``residual``: float64 identities that are zero up to rounding (Eq. 2 against autograd):
  within ``RESIDUAL_ATOL``.
- ``similarity``: correlations, rank correlations, SSIM, cosines, fractions and probabilities,
  all in [-1, 1]: absolute tolerance ``SIMILARITY``, since a relative one is meaningless near
  zero.
- ``magnitude``: every other number (errors, slopes, constants, ratios, filter counts):
  relative tolerance ``MAGNITUDE_RTOL``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Largest drift measured between kernel paths (ATEN_CPU_CAPABILITY=default / avx2 / avx512,
# OMP_NUM_THREADS=1) on the smoke runs, and the tolerance chosen from it (README: the table).
SIMILARITY = 2e-3  # measured at most 4.7e-4 (chapter 6, depth.plain[3].edges_std)
MAGNITUDE_RTOL = 2e-3  # measured at most 2.5e-4 relative (chapter 4, conv_error_slope_std)
RESIDUAL_ATOL = 1e-9  # measured 0: these identities hold to float64 rounding
ATTACK_RTOL = 1e-2  # measured at most 1.1e-3 relative (chapter 6, attacks.pgd.l2_relative)

TIMING = re.compile(r"(^|_)(time|times|seconds|elapsed|runtime|ms|s|load|load_avg)(_|$)|_time")
ATTACK_MAP = re.compile(r"^adversarial\.[^.]+\.(fgsm|pgd)\.")
ATTACK_SIZE = re.compile(r"^attacks\.[^.]+\.(l2|l2_relative|linf_255)$")
ATTACK_FLIPPED = re.compile(r"^attacks\.[^.]+\.flipped$")
CLAIM_TEXT = re.compile(r"^claims\.[^.]+\.measured$")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
ATTACK_CLASS = re.compile(r"^attacks\.[^.]+\.new_top\[\d+\]$")
# Chapter 7's randomization curves that amplify rounding: HOG features (orientation bins and block
# normalization of maps that are flat in places: a Grad-CAM map is upsampled from a few cells,
# randomized networks give near-zero maps), and Integrated Gradients (a sum over a few
# interpolation steps in the smoke run), whose rank correlations reorder near-ties.
UNSTABLE = re.compile(
    r"^(\w+\.(cascading|independent)\[\d+\]\.hog(_std)?"
    r"|integrated_gradients\.(cascading|independent)\[\d+\]\.\w+)$"
)
RESIDUAL = re.compile(
    r"^(eq2_errors_\w+\.\w+|eq2_max_abs_error|limit_valid_same_inner_max_diff"
    r"|deconv_change_between_photos)$"
)
SIMILARITY_NAME = re.compile(
    r"corr|rho|spearman|ssim|pearson|_cos$|autocorr|alignment|cross_photo|invariance|edges"
    r"|zero_maps|top5|hog",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Context:
    """What a tolerance may need besides the two values: the baseline's sibling leaves (for a
    statistic's spread over photos) and the number of photos behind each mean."""

    siblings: dict
    n_photos: int


def kind(path: str, value: object) -> str:
    """The kind of the leaf at dotted ``path`` (``a.b[2].c``) holding baseline ``value``."""
    last = path.rsplit(".", 1)[-1]
    if TIMING.search(last):
        return "timing"
    if ATTACK_CLASS.match(path):
        return "attack"
    if CLAIM_TEXT.match(path) and isinstance(value, str):
        return "claim text"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "exact"
    if isinstance(value, int) and not ATTACK_FLIPPED.match(path):
        return "exact"
    if ATTACK_MAP.match(path) or ATTACK_SIZE.match(path) or ATTACK_FLIPPED.match(path):
        return "attack"
    if UNSTABLE.match(path):
        return "unstable"
    if RESIDUAL.match(path):
        return "residual"
    if SIMILARITY_NAME.search(path):
        return "similarity"
    return "magnitude"


def attack_tolerance(path: str, want: float, ctx: Context) -> float | None:
    """Allowed absolute difference for an attack statistic; ``None``: not compared."""
    last = path.rsplit(".", 1)[-1]
    n = max(ctx.n_photos, 2)
    if ATTACK_CLASS.match(path):
        return None
    if ATTACK_FLIPPED.match(path):
        return 1 / n + 1e-12
    if ATTACK_SIZE.match(path):
        return ATTACK_RTOL * abs(want)
    if last.endswith("_std"):
        return max(SIMILARITY, abs(want) / math.sqrt(2 * (n - 1)))
    spread = ctx.siblings.get(f"{last}_std")
    if not isinstance(spread, (int, float)):
        return SIMILARITY
    return max(SIMILARITY, abs(spread) / math.sqrt(n))


def close(path: str, got: object, want: object, ctx: Context) -> str | None:
    """``None`` when leaf ``got`` agrees with baseline leaf ``want``; else the difference."""
    k = kind(path, want)
    if k == "timing":
        return None
    if k == "exact":
        same = got == want and type(got) is type(want)
        return None if same else f"{path}: {got!r} != {want!r} (exact)"
    if k == "claim text":
        same = isinstance(got, str) and NUMBER.sub("#", got) == NUMBER.sub("#", want)
        return None if same else f"{path}: {got!r} != {want!r} (claim text)"
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return f"{path}: {got!r} != {want!r} (not a number)"
    if math.isnan(want) or math.isnan(got):
        both = math.isnan(want) and math.isnan(got)
        return None if both else f"{path}: {got!r} != baseline {want!r}"
    if k in ("attack", "unstable"):
        tol = attack_tolerance(path, want, ctx)
    elif k == "residual":
        tol = RESIDUAL_ATOL
    elif k == "similarity":
        tol = SIMILARITY
    else:
        tol = MAGNITUDE_RTOL * abs(want) + RESIDUAL_ATOL
    if tol is None or abs(got - want) <= tol:
        return None
    return f"{path}: {got!r} != baseline {want!r} ({k}, |diff| {abs(got - want):.3g} > {tol:.3g})"


def compare(got, want, path: str = "", ctx: Context | None = None) -> list[str]:
    """Differences between two metrics trees beyond the rule's tolerances."""
    if ctx is None:
        photos = want.get("photos") if isinstance(want, dict) else None
        ctx = Context({}, len(photos) if isinstance(photos, list) else 1)
    if path and TIMING.search(path.rsplit(".", 1)[-1]):
        return []
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            have = sorted(got) if isinstance(got, dict) else got
            return [f"{path or '<root>'}: keys {have} != {sorted(want)}"]
        inner = Context(want, ctx.n_photos)
        return [d for k in want for d in compare(got[k], want[k], f"{path}.{k}".lstrip("."), inner)]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: {got!r} != {want!r} (length)"]
        return [
            d
            for i, (g, w) in enumerate(zip(got, want, strict=True))
            for d in compare(g, w, f"{path}[{i}]", ctx)
        ]
    diff = close(path, got, want, ctx)
    return [diff] if diff else []


def conclusions(metrics: dict) -> dict:
    """What a chapter concludes from numbers that are compared loosely, compared exactly.

    Chapter 6's adversarial section: for each attack, the rules ordered from the one whose map
    changes most (lowest rank correlation with the clean map) to the one that changes least,
    and whether most photos changed class.
    """
    out = {}
    for attack in ("fgsm", "pgd"):
        adv = metrics.get("adversarial", {})
        ranks = {r: v[attack]["spearman_abs"] for r, v in adv.items() if attack in v}
        if ranks:
            out[f"{attack}: rules from most to least changed"] = sorted(ranks, key=ranks.get)
        flipped = metrics.get("attacks", {}).get(attack, {}).get("flipped")
        if flipped is not None:
            out[f"{attack}: most photos change class"] = flipped > 0.5
    return out
