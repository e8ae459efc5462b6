"""Chapter 6 (Beyond the draft): DeconvNet and max pooling, depth, sanity checks, adversarial
examples, TODO 1 and 2, on a smoke run; and the helpers the chapter added.

The chapter runs once (96 x 96 photos, 3 photos, N up to 64, 4 VGG layers). Thresholds sit
between the smoke values of seeds 0 and 1 and the nearest value that would contradict the
trend, with margins of several times the spread over photos the chapter reports.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

import helpers as H
from backpropvis.studies.randomization import randomizations

STEM = "06_beyond_the_draft"


@pytest.fixture(scope="module")
def smoke(smoke_params):
    """This chapter's smoke parameters (tests/conftest.py)."""
    return smoke_params[STEM]


@pytest.fixture(scope="module")
def m(smoke, chapter_runner, tmp_path_factory):
    return chapter_runner(STEM, tmp_path_factory.mktemp("ch06"), **smoke)


# --- the chapter, smoke run -----------------------------------------------------------------


def test_metrics_layout(smoke, m):
    assert m["model"] in ("efficientnet_lite0", "vgg16")
    for key in ("cascading", "independent", "adversarial", "deconv_maxpool", "depth"):
        assert set(m[key]) == set(H.RULES), key
    n_steps = len(m["randomization_steps"])
    for r in H.RULES:
        assert len(m["cascading"][r]) == len(m["independent"][r]) == n_steps > 3
        assert len(m["depth"][r]) == len(smoke["depth_layers"])
        assert len(m["deconv_maxpool"][r]["pool"]) == len(smoke["n_values"])


def test_deconv_without_pooling_ignores_the_input(m):
    # sum_j D_j^T sum_i relu(V_ij) w_i has no x in it: identical maps for different photos
    assert min(m["deconv_cross_photo"]) > 0.9999
    for s in m["deconv_maxpool"]["deconv"]["no_pool"]:
        assert abs(s["corr_input"]) < 0.05
        assert abs(s["corr_limit"]) < 0.05


def test_gbp_approaches_the_limit_and_plain_stays_noise(m):
    gbp = [s["corr_limit"] for s in m["deconv_maxpool"]["guided"]["no_pool"]]
    assert gbp == sorted(gbp) and gbp[-1] > 0.7
    for key in ("no_pool", "pool"):
        for s in m["deconv_maxpool"]["plain"][key]:
            assert abs(s["corr_input"]) < 0.03


def test_max_pooling_makes_deconv_interpretable_and_changes_gbp(m):
    dp = m["deconv_maxpool"]
    pooled, plain = dp["deconv"]["pool"][-1], dp["deconv"]["no_pool"][-1]
    assert pooled["corr_input"] > 0.15 > abs(plain["corr_input"]) + 0.1
    # GBP is not "unaffected": it moves away from the limit and towards the edges
    assert dp["guided"]["pool"][-1]["corr_limit"] < dp["guided"]["no_pool"][-1]["corr_limit"] - 0.1
    assert dp["guided"]["pool"][-1]["edges"] > dp["guided"]["no_pool"][-1]["edges"] + 0.1


def test_depth_gbp_survives_deconv_needs_a_pool(smoke, m):
    layers = smoke["depth_layers"]
    for d in m["depth"]["guided"]:
        assert d["corr_input"] > 0.6
    for d in m["depth"]["plain"]:
        assert abs(d["corr_input"]) < 0.03
    for layer, d in zip(layers, m["depth"]["deconv"], strict=True):
        if layer <= 2:  # before VGG-16's first max pool: no x in the map
            assert d["cross_photo"] > 0.999 and abs(d["corr_input"]) < 0.02
        else:
            assert d["cross_photo"] < 0.8 and d["corr_input"] > 0.05


def test_cascading_randomization_sanity_checks(m):
    c = m["cascading"]
    assert c["guided"][0]["spearman_abs"] > 0.95 and c["deconv"][0]["spearman_abs"] > 0.95
    assert c["plain"][0]["spearman_abs"] < 0.7
    assert c["plain"][0]["ssim"] < c["guided"][0]["ssim"] - 0.3
    # every layer random: GBP and DeconvNet are no longer the original map
    assert c["guided"][-1]["spearman_abs"] < 0.5 and c["deconv"][-1]["spearman_abs"] < 0.6
    assert c["plain"][-1]["spearman_abs"] < c["plain"][0]["spearman_abs"]


def test_independent_randomization(m):
    """One group alone: the top groups leave GBP and DeconvNet as they were, a group near the
    input changes every rule, more than re-initializing everything above it (cascading) does;
    the one dead step is _blocks.15 for the rules that use the forward masks."""
    steps, ind, casc = m["randomization_steps"], m["independent"], m["cascading"]
    for r in H.RULES:
        assert [s["layer"] for s in ind[r]] == [s["layer"] for s in casc[r]] == steps
    # all-zero maps (every photo) exactly where guided and plain lose the input: _blocks.15
    # alone leaves every ReLU6 of the trained head at <= 0 (see the test below); DeconvNet
    # ignores the forward masks and never gives a zero map
    zero = {
        r: {s["layer"]: s["degenerate"] for s in ind[r] if s["degenerate"] > 0} for r in H.RULES
    }
    assert zero == {"guided": {"_blocks.15": 1.0}, "plain": {"_blocks.15": 1.0}, "deconv": {}}
    assert all(s["degenerate"] == 0.0 for r in H.RULES for s in casc[r])
    assert m["dead_groups"] == "_blocks.15"
    live = [i for i, s in enumerate(steps) if s != "_blocks.15"]
    # the top groups (steps 1.. differ from cascading: one group, not all above it): GBP and
    # DeconvNet keep their map (photo SD <= 0.016), the saliency map is not its own (<= 0.44,
    # photo SD up to 0.13)
    for i in live[:3]:
        assert ind["guided"][i]["spearman_abs"] > 0.9 and ind["deconv"][i]["spearman_abs"] > 0.85
        assert ind["plain"][i]["spearman_abs"] < 0.7
    # one group near the input (_blocks.0, _conv_stem) changes every rule ...
    for r in H.RULES:
        assert all(s["spearman_abs"] < 0.45 for s in ind[r][-2:]), r
    # ... and GBP more than randomizing the whole network does (0.05-0.07 versus 0.22-0.32,
    # photo SD <= 0.053): the trained top on random low-level features, not an untrained net
    lone = np.mean([s["spearman_abs"] for s in ind["guided"][-2:]])
    assert lone < np.mean([s["spearman_abs"] for s in casc["guided"][-2:]]) - 0.1


def test_blocks_15_alone_switches_the_trained_head_off(smoke):
    """Why independent randomization of _blocks.15 gives all-zero guided and plain maps: its
    random outputs, through the trained head's batch norm, leave every ReLU6 of the head at
    <= 0, so the logits do not depend on the input (measured: max logit SD over photos 0)."""
    lm = H.load_model("auto")
    donor = H.load_model(f"{lm.name}_untrained", seed=smoke["seed"])
    if lm.name != "efficientnet_lite0":
        pytest.skip(f"the dead step is EfficientNet-Lite0's; the trained model is {lm.name}")
    groups = H.randomization_groups(lm.model)
    steps = randomizations(lm.model, donor.model, groups, "independent")
    model = next(mdl for label, mdl in steps if label == "_blocks.15")
    acts = []  # EfficientNet-Lite0's one `_swish` ReLU6 serves the stem and, last, the head
    hook = model._swish.register_forward_hook(lambda mod, i, o: acts.append(i[0]))
    xs = torch.stack([H.load_image(p, smoke["size"]) for p in smoke["photos"][:2]])
    with torch.no_grad():
        logits = model(lm.prepare(xs))
    hook.remove()
    assert (
        len(acts) == 2 and float(acts[-1].max()) <= 0.0
    )  # every unit off: no mask lets a gradient through
    assert float(logits.std(0).max()) == pytest.approx(0.0, abs=1e-5)


def test_adversarial_examples(m):
    a, eps = m["attacks"], m["eps_255"]
    assert a["pgd"]["flipped"] >= 2 / 3 and a["fgsm"]["flipped"] >= 1 / 3
    for st in a.values():
        assert st["linf_255"] <= eps + 1e-3 and st["l2"] > 0
    adv = m["adversarial"]
    pgd = [adv[r]["pgd"]["spearman_abs"] for r in ("plain", "guided", "deconv")]
    assert pgd[0] + 0.15 < pgd[1] < pgd[2]
    # DeconvNet's stability is blindness: maps of different photos agree as much
    assert adv["deconv"]["cross_photo"]["spearman_abs"] > 0.95
    assert adv["guided"]["pgd"]["spearman_abs"] > adv["guided"]["cross_photo"]["spearman_abs"] + 0.3


def test_claims_and_verdicts(m, expected_verdicts):
    """The chapter states its claims once, with the verdicts the scorecard showed before."""
    verdicts = {key: c["verdict"] for key, c in m["claims"].items()}
    assert verdicts == expected_verdicts[STEM]  # the one table of expected verdicts
    for c in m["claims"].values():
        assert set(c) == {"section", "claim", "measured", "verdict"}


def test_todo_trained_saliency_breaks_independence(m):
    t = m["todo"]
    assert t["alignment"]["trained"]["mean"] > 0.1
    assert abs(t["alignment"]["untrained"]["mean"]) < 0.05
    assert t["trained"]["plain"]["autocorr"] > t["untrained"]["plain"]["autocorr"] + 0.1


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_images():
    return torch.stack([H.load_image(p, 40) for p in ("chelsea", "astronaut")])


@pytest.mark.parametrize("cls", [H.ThreeLayerConvNet, H.MaxPoolConvNet])
def test_backprop_maps_equals_backprop_map(cls, small_images):
    net = cls(24, 5, n_logits=7, seed=3)
    xs = H.preprocess(small_images, "centered")
    maps, idx = H.backprop_maps(net, xs, targets=4)
    assert idx.tolist() == [4, 4]
    listed, _ = H.backprop_maps(net, xs, ("guided",), targets=[2, 4])
    assert listed["guided"].shape == (2, 2, 3, 40, 40)
    for r in H.RULES:
        for b in range(2):
            ref = H.backprop_map(net, xs[b], 4, r)
            torch.testing.assert_close(maps[r][b], ref, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(listed["guided"][1, 0], maps["guided"][0])


def test_backprop_maps_inplace_relu_relu6_and_max_target():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.ReLU(inplace=True),
        nn.Conv2d(8, 8, 3),
        nn.ReLU6(),
        nn.Flatten(),
        nn.Linear(8 * 12 * 12, 5),
    ).eval()
    xs = torch.randn(1, 3, 16, 16)
    maps, idx = H.backprop_maps(model, xs)
    for r in H.RULES:
        ref = H.backprop_map(model, xs[0], int(idx[0]), r)
        torch.testing.assert_close(maps[r][0], ref, rtol=1e-5, atol=1e-6)
    # the model is restored: plain backprop_maps equals autograd's gradient
    xg = xs.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xg)[0, int(idx[0])], xg)
    torch.testing.assert_close(maps["plain"], g)


def test_max_pool_of_size_one_is_the_plain_net(small_images):
    x = H.preprocess(small_images[0], "centered")
    a, b = H.MaxPoolConvNet(16, 5, 7, seed=2, pool_size=1), H.ThreeLayerConvNet(16, 5, 7, seed=2)
    for r in H.RULES:
        torch.testing.assert_close(H.backprop_map(a, x, 3, r), H.backprop_map(b, x, 3, r))
    with pytest.raises(ValueError):
        H.MaxPoolConvNet(16, 5, 7, pool_size=4)


def test_deconv_map_of_the_three_layer_net_is_input_free(small_images):
    net = H.ThreeLayerConvNet(32, 5, 7, seed=5)
    maps, _ = H.backprop_maps(net, H.preprocess(small_images, "centered"), ("deconv",), 1)
    torch.testing.assert_close(maps["deconv"][0], maps["deconv"][1])


def test_layer_readouts_deterministic_and_checked():
    feats = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU()).eval()
    x = torch.randn(2, 3, 10, 10)
    a, b = H.LayerReadouts(feats, [1, 3], seed=4), H.LayerReadouts(feats, [1, 3], seed=4)
    out = a(x)
    assert out.shape == (2, 2) and torch.equal(out, b(x))
    assert not torch.equal(out, H.LayerReadouts(feats, [1, 3], seed=5)(x))
    with pytest.raises(ValueError):
        H.LayerReadouts(feats, [4])


def test_randomization_groups_and_copies():
    trained = H.load_model("efficientnet_lite0_untrained", seed=1).model
    donor = H.load_model("efficientnet_lite0_untrained", seed=2).model
    groups = H.randomization_groups(trained)
    labels = [g for g, _ in groups]
    assert labels[0] == "_conv_stem" and labels[-2:] == ["_conv_head", "_fc"]
    assert len(groups) == 10 and sum(len(n) for _, n in groups) == 16 + 5
    vgg_labels = [g for g, _ in H.randomization_groups(H.load_model("vgg16_untrained").model)]
    assert len(vgg_labels) == 16 and vgg_labels[-1] == "classifier.6"
    cascade = list(randomizations(trained, donor, groups, "cascading"))
    assert [lab for lab, _ in cascade] == labels[::-1]
    last = cascade[-1][1].state_dict()
    assert all(torch.equal(v, donor.state_dict()[k]) for k, v in last.items())
    label, one = next(randomizations(trained, donor, groups, "independent"))
    changed = {
        k for k, v in one.state_dict().items() if not torch.equal(v, trained.state_dict()[k])
    }
    assert label == "_fc" and changed and all(k.startswith("_fc.") for k in changed)
    with pytest.raises(ValueError):
        next(randomizations(trained, donor, groups, "sideways"))


def test_fgsm_and_pgd_stay_in_the_ball():
    lm = H.load_model("auto")  # a trained model: the untrained one's loss is flat
    imgs = torch.stack([H.load_image("chelsea", 64), H.load_image("coffee", 64)])
    eps = 3 / 255
    with torch.no_grad():
        labels = lm.model(lm.prepare(imgs)).argmax(1)

    def loss(x):
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(lm.model(lm.prepare(x)), labels))

    for adv in (H.fgsm(lm, imgs, eps), H.pgd(lm, imgs, eps, steps=3)):
        assert float((adv - imgs).abs().max()) <= eps + 1e-6
        assert float(adv.min()) >= 0 and float(adv.max()) <= 1
        assert loss(adv) > loss(imgs)


def test_metric_helpers():
    rng = np.random.default_rng(0)
    img = torch.from_numpy(rng.random((3, 32, 32), dtype=np.float32))
    cast = img + torch.tensor([5.0, -3.0, 1.0])[:, None, None]
    assert H.centered_pearson(cast, img) == pytest.approx(1.0)
    assert H.pearson(cast, img) < 0.5
    noise = rng.standard_normal((128, 128))
    assert abs(H.lag1_autocorrelation(noise)) < 0.03
    smooth = np.cumsum(np.cumsum(noise, 0), 1)
    assert H.lag1_autocorrelation(smooth) > 0.9
    sims = H.sanity_similarity(img, img)
    assert all(v == pytest.approx(1.0) for v in sims.values())
    stats = H.mean_std([{"a": 1.0}, {"a": 3.0}])
    assert stats == {"a": 2.0, "a_std": pytest.approx(math.sqrt(2))}
    with pytest.raises(ValueError):
        H.edge_score(img, img, "kendall")


def test_last_layer_alignment():
    torch.manual_seed(0)
    feats = torch.rand(4, 64)
    model = nn.Sequential(nn.Identity(), nn.Linear(64, 3, bias=False)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(3, 64))
    assert H.last_layer_alignment(model, feats).abs().max() < 0.45
    with torch.no_grad():
        model[1].weight[:] = feats[0]  # every class row equals image 0's features
    assert H.last_layer_alignment(model, feats[:1])[0] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError):
        H.last_layer_alignment(nn.Sequential(nn.Identity()), feats)


def test_attack_summary_by_hand():
    clean = torch.zeros(2, 3, 2, 2)
    adv = clean.clone()
    adv[0, 0, 0, 0] = 2 / 255
    clean_b = clean + 0.5
    s = H.attack_summary(clean_b, clean_b + adv, torch.tensor([1, 2]), torch.tensor([3, 2]))
    assert s["flipped"] == 0.5 and s["new_top"] == [3, 2]
    assert s["linf_255"] == pytest.approx(2.0)
    assert s["l2"] == pytest.approx((2 / 255) / 2)
    assert s["l2_relative"] == pytest.approx((2 / 255) / math.sqrt(12 * 0.25) / 2)


def test_randomization_run_with_an_identical_donor_changes_nothing():
    """With the donor a copy of the model, every step leaves every map as it was."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)
    ).eval()
    donor = copy.deepcopy(model)
    groups = H.randomization_groups(model)
    xs = torch.randn(2, 3, 10, 10)
    orig, _ = H.backprop_maps(model, xs, H.RULES)
    run = H.randomization_run(
        model, donor, groups, orig, "cascading",
        lambda net: H.backprop_maps(net, xs, H.RULES)[0], hog=False,
    )  # fmt: skip
    assert run.steps == [g for g, _ in groups][::-1]
    for r in H.RULES:
        assert len(run.curves[r]) == len(run.steps) and len(run.example[r]) == len(run.steps) + 1
        for row in run.curves[r]:
            assert row["spearman_abs"] == pytest.approx(1.0) and row["degenerate"] == 0.0
