"""The claim judgements of the filter-sweep, explorer and beyond-the-draft chapters: each
returns the measured text the page shows and a verdict that flips at its documented threshold."""

from __future__ import annotations

import pytest

from backpropvis.claims import beyond_the_draft as bd
from backpropvis.claims import explorer as ex
from backpropvis.claims import filter_sweeps as fs
from backpropvis.claims.verdicts import NOT_REPRODUCED, PARTLY, REPRODUCED


def test_cleaner_claim_reproduced_only_when_rho_rises_at_every_step():
    measured, verdict = fs.cleaner_claim({"1": 0.1, "2": 0.4, "4": 0.9}, "N")
    assert (measured, verdict) == ("ρ 0.100 at N=1 → 0.900 at N=4", REPRODUCED)
    assert fs.cleaner_claim({1: 0.1, 2: 0.05, 4: 0.9}, "N")[1] == PARTLY
    assert fs.cleaner_claim({1: 0.5, 2: 0.6, 4: 0.4}, "N_h")[1] == NOT_REPRODUCED


@pytest.mark.parametrize(
    ("slope", "verdict"),
    [
        (-0.5 + 0.9 * fs.SLOPE_TOL, REPRODUCED),
        (-0.5 - 1.1 * fs.SLOPE_TOL, PARTLY),
        (-0.5 + 0.9 * fs.SLOPE_TOL_PARTLY, PARTLY),
        (-0.5 - 1.1 * fs.SLOPE_TOL_PARTLY, NOT_REPRODUCED),
    ],
)
def test_error_slope_claim_flips_at_its_tolerances(slope, verdict):
    measured, got = fs.error_slope_claim(slope)
    assert measured == f"slope {slope:.3f} (theory -0.5)"
    assert got == verdict


def test_kernel_size_claim_flips_at_its_relative_tolerance():
    measured, verdict = fs.kernel_size_claim(3.4, 11 / 3, 11, 3)
    assert measured == "error k=11 / k=3: 3.40 (√(p/N) predicts 3.67)"
    assert verdict == REPRODUCED
    inside, outside = 1 - 0.9 * fs.KERNEL_RTOL, 1 - 1.1 * fs.KERNEL_RTOL
    assert fs.kernel_size_claim(inside * 2.0, 2.0, 7, 3)[1] == REPRODUCED
    assert fs.kernel_size_claim(outside * 2.0, 2.0, 7, 3)[1] == NOT_REPRODUCED


def _comparison(holds: bool) -> dict:
    return {
        "size": 64,
        "fc": 0.5,
        "conv": 0.7,
        "holds": holds,
        "at_full_size": {"size": 224, "fc": 2.0, "conv": 0.6},
    }


def test_fc_vs_conv_claim_partly_when_the_convnet_wins_only_on_the_full_image():
    measured, verdict = fs.fc_vs_conv_claim(_comparison(True), "first")
    assert measured == ("rel. error at 64px: FC 0.50 vs conv 0.70; at 224px: FC 2.00 vs conv 0.60")
    assert verdict == REPRODUCED
    assert fs.fc_vs_conv_claim(_comparison(False), "first")[1] == PARTLY
    assert fs.fc_vs_conv_claim(_comparison(False), "comparable")[1] == NOT_REPRODUCED


def test_same_padding_claim_needs_same_closer_to_one_than_valid():
    measured, verdict = fs.same_padding_claim(0.6, 1.1)
    assert (measured, verdict) == ("border/inside weight: VALID 0.60, SAME 1.10", REPRODUCED)
    assert fs.same_padding_claim(0.9, 1.2)[1] == NOT_REPRODUCED


def test_maxpool_deconv_claim_needs_a_rise_above_the_margin():
    m = bd.MAXPOOL_MARGIN
    measured, verdict = bd.maxpool_deconv_claim(0.1, 0.1 + 1.1 * m)
    assert measured == f"ρ(input) 0.100 → {0.1 + 1.1 * m:.3f}"
    assert verdict == REPRODUCED
    assert bd.maxpool_deconv_claim(0.1, 0.1 + 0.9 * m)[1] == PARTLY
    assert bd.maxpool_deconv_claim(0.1, 0.05)[1] == NOT_REPRODUCED


def test_maxpool_gbp_claim_flips_at_the_margin_and_its_partial_bound():
    m, p = bd.MAXPOOL_MARGIN, bd.MAXPOOL_GBP_PARTLY
    measured, verdict = bd.maxpool_gbp_claim(0.8, 0.8 - 0.9 * m)
    assert measured.startswith("GBP ρ(limit) 0.800 → ")
    assert verdict == REPRODUCED
    assert bd.maxpool_gbp_claim(0.8, 0.8 + 1.1 * m)[1] == PARTLY
    assert bd.maxpool_gbp_claim(0.8, 0.8 - 0.9 * p)[1] == PARTLY
    assert bd.maxpool_gbp_claim(0.8, 0.8 - 1.1 * p)[1] == NOT_REPRODUCED


def test_logit_layer_claim_needs_saliency_low_and_gbp_high():
    lo, hi = bd.LOGIT_PLAIN_BELOW, bd.LOGIT_GBP_ABOVE
    measured, verdict = bd.logit_layer_claim(lo - 0.01, hi + 0.01)
    assert measured == f"rank ρ plain {lo - 0.01:.3f}, GBP {hi + 0.01:.3f}"
    assert verdict == REPRODUCED
    assert bd.logit_layer_claim(lo + 0.01, hi + 0.01)[1] == PARTLY
    assert bd.logit_layer_claim(lo - 0.01, hi - 0.01)[1] == PARTLY
    assert bd.logit_layer_claim(0.5, 0.4)[1] == NOT_REPRODUCED


def test_adversarial_claim_needs_the_order_and_most_photos_flipped():
    after = {"plain": 0.2, "guided": 0.5, "deconv": 0.9}
    above, below = bd.FLIPPED_ABOVE + 0.25, bd.FLIPPED_ABOVE - 0.25
    measured, verdict = bd.adversarial_claim(after, above)
    assert measured == "plain 0.200, guided 0.500, deconv 0.900 (75% flipped)"
    assert verdict == REPRODUCED
    assert bd.adversarial_claim(after, below)[1] == PARTLY
    swapped = {"plain": 0.6, "guided": 0.5, "deconv": 0.9}
    assert bd.adversarial_claim(swapped, above)[1] == NOT_REPRODUCED


def test_trained_above_claim_flips_at_the_margin():
    m = bd.TODO_MARGIN
    measured, verdict = bd.trained_above_claim(0.5 + 1.1 * m, 0.5, "edge ρ")
    assert measured == f"edge ρ {0.5 + 1.1 * m:.3f} vs 0.500 untrained"
    assert verdict == REPRODUCED
    assert bd.trained_above_claim(0.5 + 0.9 * m, 0.5, "x")[1] == PARTLY
    assert bd.trained_above_claim(0.4, 0.5, "x")[1] == NOT_REPRODUCED


def test_update_speed_word_flips_at_the_target():
    assert ex.update_speed_word(0.9 * ex.UPDATE_TARGET_S) == "meets"
    assert ex.update_speed_word(ex.UPDATE_TARGET_S) == "meets"
    assert ex.update_speed_word(1.1 * ex.UPDATE_TARGET_S) == "misses"
