"""The claim judgements of chapters 1-3: each verdict on both sides of each threshold, and the
measured text the chapter's claims table shows."""

from __future__ import annotations

import helpers as H
from backpropvis.claims import convnet_vs_fc as ch3
from backpropvis.claims import derivation as ch2
from backpropvis.claims import observations as ch1
from backpropvis.claims.verdicts import CORRECTED, NOT_REPRODUCED, PARTLY, REPRODUCED

EPS = 1e-6


# chapter 1: observations


def test_invariance_word_at_its_two_thresholds():
    assert H.invariance_word(H.CLASS_INVARIANT) == "class-invariant"
    assert H.invariance_word(H.CLASS_INVARIANT - EPS) == "partly class-dependent"
    assert H.invariance_word(H.CLASS_DEPENDENT) == "partly class-dependent"
    assert H.invariance_word(H.CLASS_DEPENDENT - EPS) == "class-dependent"


def test_logit_invariance_needs_every_network_for_reproduced():
    hi, lo = H.CLASS_INVARIANT, H.CLASS_INVARIANT - EPS
    measured, verdict = H.logit_invariance_claim({"trained": 0.95, "untrained": hi})
    assert measured == "mean ρ across logits: trained 0.950, untrained 0.900"
    assert verdict == REPRODUCED
    assert H.logit_invariance_claim({"trained": 0.95, "untrained": lo})[1] == PARTLY
    assert H.logit_invariance_claim({"trained": lo, "untrained": 0.1})[1] == NOT_REPRODUCED


def test_shows_photo_partial_threshold_depends_on_training():
    assert H.shows_photo_claim(0.6) == ("ρ(input) 0.600", REPRODUCED)
    assert H.shows_photo_claim(ch1.SHOWS_PHOTO)[1] == REPRODUCED
    assert H.shows_photo_claim(ch1.SHOWS_PHOTO - EPS)[1] == PARTLY
    assert H.shows_photo_claim(ch1.SHOWS_PHOTO_PARTLY)[1] == PARTLY
    assert H.shows_photo_claim(ch1.SHOWS_PHOTO_PARTLY - EPS)[1] == NOT_REPRODUCED
    between = (ch1.SHOWS_PHOTO_PARTLY + ch1.SHOWS_PHOTO_PARTLY_TRAINED) / 2
    assert H.shows_photo_claim(between, trained=True)[1] == PARTLY
    assert H.shows_photo_claim(between)[1] == NOT_REPRODUCED
    low = ch1.SHOWS_PHOTO_PARTLY_TRAINED - EPS
    assert H.shows_photo_claim(low, trained=True)[1] == NOT_REPRODUCED


def test_whole_image_counts_untrained_networks_above_the_trained_one():
    measured, verdict = H.whole_image_claim(trained=0.1, untrained=0.5, vgg16_untrained=0.3)
    assert measured == "ρ(input) untrained 0.300–0.500, trained 0.100"
    assert verdict == REPRODUCED
    assert H.whole_image_claim(0.4, 0.5, 0.3)[1] == PARTLY
    assert H.whole_image_claim(0.6, 0.5, 0.3)[1] == NOT_REPRODUCED
    assert H.whole_image_claim(0.3, 0.5, 0.3)[1] == PARTLY  # a tie is not "more"


def test_edges_compares_trained_with_its_twin():
    measured, verdict = H.edges_claim(0.3, 0.2)
    assert measured == "ρ(edges) trained 0.300, untrained twin 0.200"
    assert verdict == REPRODUCED
    assert H.edges_claim(0.2, 0.2)[1] == NOT_REPRODUCED
    assert H.edges_claim(0.1, 0.2)[1] == NOT_REPRODUCED


# chapter 2: derivation


def test_eq2_error_thresholds():
    assert H.eq2_claim(ch2.EQ2_EXACT) == ("1.0e-08", REPRODUCED)
    assert H.eq2_claim(ch2.EQ2_EXACT * 1.01)[1] == PARTLY
    assert H.eq2_claim(ch2.EQ2_PARTLY)[1] == PARTLY
    assert H.eq2_claim(ch2.EQ2_PARTLY * 1.01)[1] == NOT_REPRODUCED


def test_zero_mean_within_four_standard_errors():
    se = 0.01
    measured, verdict = H.zero_mean_claim(0.01, se)
    assert measured == "0.0100 ± 0.0196" and verdict == REPRODUCED
    assert H.zero_mean_claim(-ch2.ZERO_WITHIN_SE * se * 0.99, se)[1] == REPRODUCED
    assert H.zero_mean_claim(ch2.ZERO_WITHIN_SE * se * 1.01, se)[1] == NOT_REPRODUCED


def test_expectation_against_the_paper():
    paper = 0.798
    assert H.expectation_claim(0.8, paper) == ("0.800 (paper 0.798)", REPRODUCED)
    assert H.expectation_claim(paper * (1 + ch2.EXPECTATION_RTOL * 0.9), paper)[1] == REPRODUCED
    assert H.expectation_claim(paper * (1 + ch2.EXPECTATION_RTOL * 1.1), paper)[1] == CORRECTED


def test_eq5_scale_against_the_papers_four():
    assert H.eq5_scale_claim(1.0) == ("1.000 (paper 4.000)", CORRECTED)
    assert H.eq5_scale_claim(4.0 * (1 + 0.9 * ch2.EQ5_SCALE_RTOL))[1] == REPRODUCED
    assert H.eq5_scale_claim(4.0 * (1 - 1.1 * ch2.EQ5_SCALE_RTOL))[1] == CORRECTED


def test_converges_thresholds():
    assert H.converges_claim(0.97, 4096) == ("ρ = 0.970 at N = 4096", REPRODUCED)
    assert H.converges_claim(ch2.CONVERGED, 1)[1] == REPRODUCED
    assert H.converges_claim(ch2.CONVERGED - EPS, 1)[1] == PARTLY
    assert H.converges_claim(ch2.CONVERGED_PARTLY, 1)[1] == PARTLY
    assert H.converges_claim(ch2.CONVERGED_PARTLY - EPS, 1)[1] == NOT_REPRODUCED


def test_no_image_takes_the_largest_magnitude():
    assert H.no_image_claim([0.01, -0.04, 0.02]) == ("max |ρ| = 0.040", REPRODUCED)
    assert H.no_image_claim([0.01, ch2.NO_IMAGE])[1] == REPRODUCED
    assert H.no_image_claim([0.01, -(ch2.NO_IMAGE + EPS)])[1] == NOT_REPRODUCED


def test_coverage_against_the_patch_size():
    assert H.coverage_claim(147.0, 147) == ("147 (paper 147)", REPRODUCED)
    assert H.coverage_claim(147 * (1 + 0.9 * ch2.COVERAGE_RTOL), 147)[1] == REPRODUCED
    assert H.coverage_claim(49.0, 147) == ("49 (paper 147)", CORRECTED)


def test_concentration_rate_slope():
    assert H.concentration_rate_claim(-0.49) == ("slope -0.490 (theory -0.5)", REPRODUCED)
    assert H.concentration_rate_claim(-0.5 + ch2.RATE_TOL * 0.99)[1] == REPRODUCED
    assert H.concentration_rate_claim(-0.5 - ch2.RATE_TOL * 1.01)[1] == PARTLY
    assert H.concentration_rate_claim(-0.5 + ch2.RATE_TOL_PARTLY * 0.99)[1] == PARTLY
    assert H.concentration_rate_claim(-0.5 - ch2.RATE_TOL_PARTLY * 1.01)[1] == NOT_REPRODUCED


def test_filters_against_2700():
    assert H.filters_claim(1350.4) == ("1350 (paper 2700)", CORRECTED)
    assert H.filters_claim(2700 * (1 + 0.9 * ch2.FILTERS_RTOL))[1] == REPRODUCED
    assert H.filters_claim(2700 * (1 - 1.1 * ch2.FILTERS_RTOL))[1] == CORRECTED


# chapter 3: convnet versus fully connected


def _corr(conv_guided, fc_guided=0.05, conv_plain=0.0, fc_plain=-0.01):
    return {
        "conv": {"guided": conv_guided, "plain": conv_plain},
        "fc": {"guided": fc_guided, "plain": fc_plain},
    }


def test_only_conv_gbp_thresholds():
    measured, verdict = H.only_conv_gbp_claim(_corr(0.9, conv_plain=-0.1))
    assert measured == "ρ(limit) GBP-conv 0.900; others ≤ 0.100"
    assert verdict == REPRODUCED
    assert H.only_conv_gbp_claim(_corr(ch3.CLEAN))[1] == PARTLY  # "above" is strict
    assert H.only_conv_gbp_claim(_corr(ch3.CLEAN + EPS))[1] == REPRODUCED
    assert H.only_conv_gbp_claim(_corr(0.9, fc_guided=ch3.NOISE))[1] == PARTLY
    assert H.only_conv_gbp_claim(_corr(0.9, fc_plain=-ch3.NOISE + EPS))[1] == REPRODUCED
    assert H.only_conv_gbp_claim(_corr(0.3, fc_guided=0.4))[1] == NOT_REPRODUCED
