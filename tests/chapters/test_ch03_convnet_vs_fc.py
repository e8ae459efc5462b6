"""Chapter 3 (Convnet versus fully connected, Figure 2): only GBP of the convnet recovers the
image, the FC network's GBP is the input buried in noise of the predicted size, plain maps are
uncorrelated with everything.

The chapter runs once with smoke parameters (64 x 64 photos, two seeds). Tolerances: the
seed-to-seed spread of Pearson's rho at these sizes is about 0.01 (see the chapter's std
columns), so margins of 0.05 and more are many standard deviations wide; the FC map's rho is
checked against its prediction within 4 standard errors measured over six seeds.
"""

from __future__ import annotations

import math

import pytest
import torch

import helpers as H

STEM = "03_convnet_vs_fc"


@pytest.fixture(scope="module")
def smoke(smoke_params):
    """This chapter's smoke parameters (tests/conftest.py)."""
    return smoke_params[STEM]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("ch03")


@pytest.fixture(scope="module")
def m(smoke, chapter_runner, workdir):
    return chapter_runner(STEM, workdir, **smoke)


def test_metrics_have_the_issue_keys(smoke, m):
    for key in ("corr_to_limit", "corr_to_input"):
        for net in ("conv", "fc"):
            assert set(m[key][net]) == {"guided", "plain"}
    assert m["n_seeds"] == smoke["n_seeds"]


def test_gbp_convnet_recovers_its_limit(m):
    assert m["corr_to_limit"]["conv"]["guided"] > 0.85
    # the map approaches the contrast-weighted limit of Eq. (5), not the input itself
    assert m["corr_to_limit"]["conv"]["guided"] > m["corr_to_input"]["conv"]["guided"] + 0.02
    assert m["ssim_to_limit"]["conv"]["guided"] > m["ssim_to_limit"]["fc"]["guided"] + 0.2


def test_gbp_fc_is_weak_but_positive(smoke, m):
    fc = m["corr_to_limit"]["fc"]["guided"]
    d = 3 * smoke["size"] ** 2
    predicted = 1 / math.sqrt(1 + math.pi**2 * d / smoke["hidden"])  # 0.129 here
    # Measured over weight seeds 0..5 x both photos (12 maps, logit 482): rho 0.126 mean,
    # 0.0076 SD per map; the chapter averages 2 seeds x 2 photos, SE 0.0076 / 2 = 0.0038.
    # 4 SE = 0.015: a law off by a factor 2 in d / N_h (rho 0.18 or 0.09) fails.
    assert abs(fc - predicted) < 4 * 0.0038
    assert m["corr_to_limit"]["conv"]["guided"] - fc > 0.5
    # the FC limit is x / ||x||: Pearson is scale invariant, so both references agree
    assert fc == pytest.approx(m["corr_to_input"]["fc"]["guided"], abs=1e-6)


def test_plain_maps_are_uncorrelated(m):
    for key in ("corr_to_limit", "corr_to_input"):
        for net in ("conv", "fc"):
            assert abs(m[key][net]["plain"]) < 0.03
            assert m[f"{key}_std"][net]["plain"] < 0.03


def test_noise_to_signal_law(smoke, m):
    """Relative error to the limit: pi sqrt(P / (N ||L||^2)) (conv), pi sqrt(d / N_h) (FC)."""
    conv, fc = m["rel_error_gbp"]["conv"], m["rel_error_gbp"]["fc"]
    assert 0.8 < conv["measured"] / conv["predicted"] < 1.2
    assert 0.93 < fc["measured"] / fc["predicted"] < 1.07
    d = 3 * smoke["size"] ** 2
    assert fc["predicted"] == pytest.approx(math.pi * math.sqrt(d / smoke["hidden"]), rel=1e-6)


def test_claims_and_verdicts(m):
    """The scorecard's verdict on these smoke parameters before the claim moved into the
    chapter (scripts/scorecard.py at 73fcf95 over the smoke baseline): the same here."""
    claim = m["claims"]["only_conv_gbp"]
    assert set(m["claims"]) == {"only_conv_gbp"}
    assert claim["section"] == "4, Fig. 2"
    assert claim["claim"] == (
        "Only GBP in the convnet gives a clean picture; plain maps and FC are noise"
    )
    assert claim["verdict"] == "reproduced"
    assert claim["measured"].startswith("ρ(limit) GBP-conv ")


def test_fc_map_sweep_batches_images_and_rules_exactly():
    """One stream for several photos and rules equals FullyConnectedNet.maps per photo."""
    xs = H.preprocess(torch.stack([H.load_image(p, 16) for p in ("chelsea", "rocket")]), "none")
    net = H.FullyConnectedNet((3, 16, 16), 700, n_logits=5, std=0.3, seed=4)
    out = H.fc_map_sweep(net, xs, [700, 300], targets=[4, 1], rules=["guided", "plain"])
    assert out.shape == (2, 2, 2, 2, 3, 16, 16)
    for r_i, rule in enumerate(["guided", "plain"]):
        for b in range(2):
            ref = net.maps(xs[b], [4, 1], rule, sizes=[700, 300])
            torch.testing.assert_close(out[:, r_i, b], ref, rtol=1e-4, atol=1e-5)
