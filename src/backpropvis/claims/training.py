"""Chapter 8's claims, about networks the book trains on the digits, judged by the verdict rule
(:mod:`.verdicts`). Each returns ``(measured text, verdict)`` for
:meth:`backpropvis.book.record.Record.claim`. The data randomization test is judged by
chapter 7's :func:`~backpropvis.claims.every_method.prediction_claim` and
:func:`~backpropvis.claims.every_method.sanity_checks_claim`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .derivation import ZERO_WITHIN_SE
from .observations import SHOWS_PHOTO, SHOWS_PHOTO_PARTLY
from .verdicts import CLASS_DEPENDENT, CLASS_INVARIANT, at_least, judge

__all__ = [
    "gbp_invariance_trained_claim",
    "local_connections_trained_claim",
    "onset",
    "permuted_fit_claim",
    "step_b_breaks_claim",
    "step_b_init_claim",
    "structure_onset_claim",
]

#: A permuted-label model tests "at chance" within this much of ``1 / K`` test accuracy: a
#: tenth, one class's share, because a class whose training digits happen to carry their own
#: label more often than the others' (one draw of the permutation) is predicted right wholesale.
CHANCE_MARGIN = 0.1
#: The plain map "becomes structured" when its lag-1 autocorrelation gains at least this much.
STRUCTURE_GAIN = 0.2


def permuted_fit_claim(
    accuracy: Mapping[str, Mapping[str, float]], fit_at: float, chance: float
) -> tuple[str, str]:
    """Every network fits its permuted labels (training accuracy at least ``fit_at``) and tests
    at chance: reproduced; partly when some do."""
    fits = {n: a["train"] >= fit_at and abs(a["test"] - chance) <= CHANCE_MARGIN
            for n, a in accuracy.items()}  # fmt: skip
    text = "; ".join(f"{n} {a['train']:.3f} train, {a['test']:.3f} test" for n, a in
                     accuracy.items())  # fmt: skip
    return text, judge(all(fits.values()), any(fits.values()))


def _in_errors(step_b: Mapping[str, Mapping[str, float]]) -> str:
    return ", ".join(f"{n} {b['value']:.4f} ± {b['error']:.4f}" for n, b in step_b.items())


def step_b_init_claim(step_b: Mapping[str, Mapping[str, float]]) -> tuple[str, str]:
    """Step (b) holds at initialization: the departure of every network within
    ``ZERO_WITHIN_SE`` errors of zero."""
    zero = [abs(b["value"]) <= ZERO_WITHIN_SE * b["error"] for b in step_b.values()]
    return _in_errors(step_b), judge(all(zero), any(zero))


def step_b_breaks_claim(step_b: Mapping[str, Mapping[str, float]]) -> tuple[str, str]:
    """Training breaks step (b) (chapter 6's reading of TODO 1): after training, ``V`` of the
    label correlates with the units it weighs, by more than ``ZERO_WITHIN_SE`` errors, in every
    network."""
    broken = [b["value"] > ZERO_WITHIN_SE * b["error"] for b in step_b.values()]
    return _in_errors(step_b), judge(all(broken), any(broken))


def onset(steps: Sequence[int], values: Sequence[float]) -> int:
    """The first step at which a curve has made half of its change from the first value to
    the last."""
    first, last = values[0], values[-1]
    half = first + (last - first) / 2
    rising = last >= first
    return next(s for s, v in zip(steps, values, strict=True) if (v >= half) == rising)


def structure_onset_claim(
    steps: Sequence[int], step_b: Sequence[float], autocorr: Sequence[float]
) -> tuple[str, str]:
    """TODO (1): the plain map becomes structured (lag-1 autocorrelation up by at least
    ``STRUCTURE_GAIN``) as step (b) breaks, not before: reproduced when it gains structure no
    earlier than the departure reaches half its final size; partly when it gains it earlier."""
    gained = autocorr[-1] - autocorr[0]
    b_at, s_at = onset(steps, step_b), onset(steps, autocorr)
    text = f"autocorrelation {autocorr[0]:.2f} -> {autocorr[-1]:.2f}; half-way at step {s_at}, "
    text += f"step (b)'s departure at step {b_at}"
    return text, judge(gained >= STRUCTURE_GAIN and s_at >= b_at, gained >= STRUCTURE_GAIN)


def gbp_invariance_trained_claim(rho: Mapping[str, Mapping[str, float]]) -> tuple[str, str]:
    """GBP's class invariance (the paper's 2 (c)) survives training: the trained networks' mean
    correlation across logits at least ``CLASS_INVARIANT`` (partly: ``CLASS_DEPENDENT``); ``rho``
    ``{network: {"init", "trained"}}``."""
    text = "; ".join(f"{n} {r['init']:.2f} -> {r['trained']:.2f}" for n, r in rho.items())
    worst = min(r["trained"] for r in rho.values())
    return text, at_least(worst, CLASS_INVARIANT, CLASS_DEPENDENT)


def local_connections_trained_claim(corr_input: Mapping[str, Any]) -> tuple[str, str]:
    """Chapter 3's "it is the local connections", for trained networks: the convnet's GBP map
    correlates with the input at least ``SHOWS_PHOTO``, the fully connected net's below
    ``SHOWS_PHOTO_PARTLY``; partly when the convnet's shows it and the FC net's less so."""
    conv, fc = corr_input["conv"], corr_input["fc"]
    text = f"trained GBP ρ(input): convnet {conv:.2f}, fully connected {fc:.2f}"
    shows = conv >= SHOWS_PHOTO
    return text, judge(shows and fc < SHOWS_PHOTO_PARTLY, shows and fc < SHOWS_PHOTO)
