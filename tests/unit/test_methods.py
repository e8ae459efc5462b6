"""The attribution methods of the registry (backpropvis.methods): each map on a tiny plain-ReLU
network against Captum or a hand computation, Captum against the book's rules, the sanity-check
metrics against the book's own, randomization touching only the layers it names, the computed
prediction, and the model randomization metric against Quantus's MPRT."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import helpers as H
from backpropvis.claims.verdicts import NOT_REPRODUCED, PARTLY
from backpropvis.core.metrics import is_degenerate, spearman
from backpropvis.methods.cam import gradcam_layer
from backpropvis.methods.modified import captum_rules_apply
from backpropvis.methods.registry import LRP_RULES, Ingredients, half_key, register
from backpropvis.studies.randomization import randomizations, weight_changes
from backpropvis.studies.sanity import average_ranks, hog_features

captum_attr = pytest.importorskip("captum.attr")


def tiny_net(act: type[nn.Module] = nn.ReLU, seed: int = 0) -> nn.Sequential:
    """Two convolutions with ReLUs, a max pool and a linear layer to 7 logits (12 x 12 input)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        act(),
        nn.Conv2d(4, 5, 3, padding=1),
        act(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(5 * 6 * 6, 7),
    ).eval()


@pytest.fixture(scope="module")
def net():
    return tiny_net()


@pytest.fixture(scope="module")
def xs():
    return torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(1))


TARGETS = [2, 5, 0]
CLOSE = {"rtol": 1e-5, "atol": 1e-6}


def maps_of(model, x, methods=tuple(H.METHODS), **kw):
    maps, idx = H.attribution_maps(model, x, TARGETS, methods, **kw)
    assert idx.tolist() == TARGETS
    return maps


def autograd_grad(model, x, targets=TARGETS):
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xg).gather(1, torch.tensor(targets)[:, None]).sum(), xg)
    return g


def test_saliency_and_gradient_x_input_are_the_gradient(net, xs):
    maps = maps_of(net, xs, ["saliency", "input_x_gradient"])
    g = autograd_grad(net, xs)
    torch.testing.assert_close(maps["saliency"], g, **CLOSE)
    torch.testing.assert_close(maps["input_x_gradient"], g * xs, **CLOSE)
    ixg = captum_attr.InputXGradient(net).attribute(xs.clone(), target=TARGETS)
    torch.testing.assert_close(maps["input_x_gradient"], ixg, **CLOSE)


def test_smoothgrad_is_captum_saliency_at_seeded_noisy_copies(net, xs):
    maps = maps_of(net, xs, ["smoothgrad"], smoothgrad_samples=5, smoothgrad_std=0.2, seed=3)
    gen = torch.Generator().manual_seed(3)  # the copies, drawn one after another
    noisy = [xs + 0.2 * torch.randn(xs.shape, generator=gen) for _ in range(5)]
    saliency = captum_attr.Saliency(net)
    ref = torch.stack([saliency.attribute(x, target=TARGETS, abs=False) for x in noisy]).mean(0)
    torch.testing.assert_close(maps["smoothgrad"], ref, **CLOSE)
    again = maps_of(net, xs, ["smoothgrad"], smoothgrad_samples=5, smoothgrad_std=0.2, seed=3)
    assert torch.equal(again["smoothgrad"], maps["smoothgrad"])  # seeded
    # hand check: a vanishing noise gives back the gradient
    tiny = maps_of(net, xs, ["smoothgrad"], smoothgrad_samples=3, smoothgrad_std=1e-7)
    torch.testing.assert_close(tiny["smoothgrad"], autograd_grad(net, xs), rtol=1e-3, atol=1e-5)


def test_integrated_gradients_is_captum_riemann_right_and_complete(net, xs):
    base = torch.full_like(xs[0], -0.5)
    maps = maps_of(net, xs, ["integrated_gradients"], ig_steps=6, baseline=base)
    ref = captum_attr.IntegratedGradients(net).attribute(
        xs.clone(), baselines=base.expand_as(xs), target=TARGETS, n_steps=6,
        method="riemann_right",
    )  # fmt: skip
    torch.testing.assert_close(maps["integrated_gradients"], ref, **CLOSE)
    # completeness (hand check): sum of IG = f(x) - f(x0) as the steps grow
    fine = maps_of(net, xs, ["integrated_gradients"], ig_steps=300, baseline=base)
    with torch.no_grad():
        gain = net(xs)[range(3), TARGETS] - net(base.expand_as(xs))[range(3), TARGETS]
    total = fine["integrated_gradients"].flatten(1).sum(1)
    torch.testing.assert_close(total, gain, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("ig_steps", [6, 7])
def test_the_maps_at_half_the_copies_and_steps_are_those_of_a_run_with_half(net, xs, ig_steps):
    """halves=True: SmoothGrad's first half of the copies and every second Riemann point are
    the maps of a run with half the copies and steps (for an odd count: its own passes)."""
    kw = {"smoothgrad_samples": 6, "smoothgrad_std": 0.2, "seed": 1, "batch_size": 4}
    both = maps_of(net, xs, ["smoothgrad", "integrated_gradients"], ig_steps=ig_steps,
                   halves=True, **kw)  # fmt: skip
    kw["smoothgrad_samples"] = 3
    half = maps_of(net, xs, ["smoothgrad", "integrated_gradients"], ig_steps=ig_steps // 2, **kw)
    assert set(both) == {"smoothgrad", "integrated_gradients", "smoothgrad@half",
                         "integrated_gradients@half"}  # fmt: skip
    for m in ("smoothgrad", "integrated_gradients"):
        torch.testing.assert_close(both[half_key(m)], half[m], **CLOSE)
        assert not torch.allclose(both[m], half[m], **CLOSE)  # the full run is another map
    # passes of 2 images (a slice of the photos per pass) and of 64 give the same maps
    for batch_size in (2, 64):
        kw |= {"smoothgrad_samples": 6, "batch_size": batch_size}
        other = maps_of(net, xs, ["smoothgrad", "integrated_gradients"], ig_steps=ig_steps, **kw)
        for m in other:
            torch.testing.assert_close(other[m], both[m], **CLOSE)


def test_guided_and_deconv_captum_equals_the_books_rules(net, xs):
    assert captum_rules_apply(net)
    maps = maps_of(net, xs, ["guided_backprop", "deconvnet"])  # Captum on a plain-ReLU model
    gb = captum_attr.GuidedBackprop(net).attribute(xs.clone(), target=TARGETS)
    torch.testing.assert_close(maps["guided_backprop"], gb, **CLOSE)
    book, _ = H.backprop_maps(net, xs, ["guided", "deconv", "plain"], per_image=TARGETS)
    torch.testing.assert_close(maps["guided_backprop"], book["guided"], **CLOSE)
    torch.testing.assert_close(maps["deconvnet"], book["deconv"], **CLOSE)
    torch.testing.assert_close(book["plain"], autograd_grad(net, xs), **CLOSE)
    for b, k in enumerate(TARGETS):  # per-image targets = one backprop_map per image
        ref = H.backprop_map(net, xs[b], k, "guided")
        torch.testing.assert_close(book["guided"][b], ref, **CLOSE)


def test_every_registered_method_matches_its_reference(net, xs):
    """Each registry entry with a reference computation (Captum, or autograd by hand) against
    the map the registry computes, on a plain-ReLU network; the ReLU6 twin for the book's rules.
    """
    with_reference = [m for m, entry in H.METHODS.items() if entry.reference is not None]
    assert len(with_reference) >= 6
    for model in (net, tiny_net(nn.ReLU6, seed=2)):
        maps = maps_of(model, xs)
        for m in with_reference:
            if m.endswith("gradcam") and not captum_rules_apply(model):
                continue  # Captum's GuidedGradCam is plain on ReLU6 (tested below)
            want = H.METHODS[m].reference(model, xs, TARGETS)
            torch.testing.assert_close(maps[m], want, **CLOSE, msg=m)


def test_registry_entries_say_what_they_are():
    assert H.method_keys("modified") == ["deconvnet", "guided_backprop"]
    assert H.method_keys() == list(H.METHODS)
    rules = {m: e.rule for m, e in H.METHODS.items() if e.rule}
    assert rules == {"saliency": "plain", "deconvnet": "deconv", "guided_backprop": "guided"}
    for key, entry in H.METHODS.items():
        assert entry.key == key and entry.label and entry.family
        assert entry.ingredients.backward in H.RULES + LRP_RULES
        assert isinstance(entry.implementation(tiny_net()), str)
        assert entry.sanity_checks in (True, False, None)
    with pytest.raises(ValueError, match="registered twice"):
        register(H.METHODS["saliency"])


def test_relu6_model_uses_the_books_rules_where_captum_silently_is_plain():
    net6 = tiny_net(nn.ReLU6, seed=2)
    x = 3 * torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(4))
    assert not captum_rules_apply(net6)
    impl = H.method_implementations(net6)
    assert "book" in impl["guided_backprop"] and "book" in impl["deconvnet"]
    maps, _ = H.attribution_maps(net6, x, [1, 3], ["guided_backprop"])
    for b, k in enumerate([1, 3]):
        ref = H.backprop_map(net6, x[b], k, "guided")
        torch.testing.assert_close(maps["guided_backprop"][b], ref, **CLOSE)
    captum_gb = captum_attr.GuidedBackprop(net6).attribute(x.clone(), target=[1, 3])
    torch.testing.assert_close(captum_gb, autograd_grad(net6, x, [1, 3]), **CLOSE)
    assert not torch.allclose(captum_gb, maps["guided_backprop"])


def test_gradcam_by_hand_and_guided_gradcam_is_captum(net, xs):
    maps = maps_of(net, xs, ["gradcam", "guided_gradcam", "guided_backprop"])
    layer, to_input = gradcam_layer(net)
    assert layer is net[3] and not to_input  # the last ReLU's output
    # hand computation: alpha_c = spatial mean of df/dA_c, relu(sum_c alpha_c A_c), bilinear
    xg = xs.clone().requires_grad_(True)
    a = net[:4](xg)
    out = net[4:](a).gather(1, torch.tensor(TARGETS)[:, None]).sum()
    (da,) = torch.autograd.grad(out, a)
    cam = F.relu((da.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=(12, 12), mode="bilinear")
    torch.testing.assert_close(maps["gradcam"], cam.detach(), **CLOSE)
    ggc = captum_attr.GuidedGradCam(net, net[3]).attribute(
        xs.clone(), target=TARGETS, interpolate_mode="bilinear"
    )
    torch.testing.assert_close(maps["guided_gradcam"], ggc, **CLOSE)
    torch.testing.assert_close(maps["guided_gradcam"], maps["guided_backprop"] * cam, **CLOSE)


def test_gradcam_layer_of_the_book_models():
    eff = H.load_model("efficientnet_lite0_untrained").model
    assert gradcam_layer(eff) == (eff._avg_pooling, True)
    vgg = H.load_model("vgg16_untrained").model
    assert gradcam_layer(vgg) == (vgg.avgpool, True)
    with pytest.raises(ValueError):
        gradcam_layer(nn.Sequential(nn.Linear(3, 2)))


def test_attribution_maps_argument_checks(net, xs):
    with pytest.raises(ValueError):
        H.attribution_maps(net, xs, "min")
    with pytest.raises(ValueError):
        H.attribution_maps(net, xs, [1, 2])
    with pytest.raises(ValueError):
        H.attribution_maps(net, xs, "max", ["lrp"])
    maps, idx = H.attribution_maps(net, xs, "max", ["saliency"])
    with torch.no_grad():
        assert idx.tolist() == net(xs).argmax(1).tolist()
    assert set(maps) == {"saliency"}


# --- metrics ---------------------------------------------------------------------------------


def test_average_ranks_equal_scipy():
    from scipy.stats import rankdata

    rng = np.random.default_rng(0)
    a = np.round(rng.standard_normal(500), 1)  # many ties
    np.testing.assert_allclose(average_ranks(a), rankdata(a))
    np.testing.assert_allclose(average_ranks(np.zeros(4)), [2.5] * 4)


def test_sanity_reference_equals_the_books_metrics():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.standard_normal((3, 48, 48)))
    b = a + torch.from_numpy(rng.standard_normal((3, 48, 48)))
    got = H.SanityReference(a).compare(b)
    want = H.sanity_similarity(a, b)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key
    hog_a, hog_b = (hog_features(H.normalize_map(m, "abs99")) for m in (a, b))
    assert got["hog"] == pytest.approx(spearmanr(hog_a, hog_b).statistic, abs=1e-12)
    same = H.SanityReference(a).compare(a)
    assert same.pop("degenerate") == 0.0
    assert all(v == pytest.approx(1.0) for v in same.values())


def test_similarities_to_a_degenerate_map_are_undefined():
    """All zero, or constant up to rounding (a Grad-CAM map after randomization, say): every
    sanity metric is NaN and the map is flagged, whichever side it is on."""
    rng = np.random.default_rng(3)
    a = torch.from_numpy(rng.standard_normal((3, 32, 32)))
    rounding = 1.0 + 1e-7 * torch.from_numpy(rng.standard_normal((3, 32, 32)))
    for flat in (torch.zeros_like(a), rounding, torch.full_like(a, 2.5)):
        assert is_degenerate(flat)
        got = H.SanityReference(a).compare(flat)
        assert got["degenerate"] == 1.0
        assert all(np.isnan(got[k]) for k in ("spearman_abs", "spearman", "ssim", "hog"))
        back = H.SanityReference(flat).compare(a)
        assert back["degenerate"] == 0.0 and np.isnan(back["spearman_abs"])
        assert all(np.isnan(v) for v in H.sanity_similarity(a, flat).values())
    assert not is_degenerate(a) and not is_degenerate(1.0 + 1e-3 * a)


def test_class_invariance_is_chapter_ones_score_without_degenerate_maps():
    rng = np.random.default_rng(2)
    common = rng.standard_normal((1, 3, 16, 16))
    maps = torch.from_numpy(common + 0.5 * rng.standard_normal((5, 3, 16, 16)))
    flat = maps.flatten(1).numpy()
    want = np.corrcoef(flat)[~np.eye(5, dtype=bool)].mean()  # mean off-diagonal Pearson
    assert H.class_invariance(maps) == pytest.approx(want, abs=1e-12)
    with_zero = torch.cat([maps, torch.zeros(1, 3, 16, 16, dtype=maps.dtype)])
    assert H.class_invariance(with_zero) == pytest.approx(want, abs=1e-12)
    assert np.isnan(H.class_invariance(torch.zeros(3, 1, 4, 4)))
    sims = H.similarity_matrices(maps, ("pearson", "ssim"))
    assert H.class_invariance(maps, "ssim", sims) == H.mean_offdiagonal(sims["ssim"])


# --- randomization ---------------------------------------------------------------------------


def test_randomization_changes_the_named_weights_and_no_others(net):
    donor = tiny_net(seed=9)
    groups = H.randomization_groups(net)
    assert [g for g, _ in groups] == ["0", "2", "6"]
    params = {
        g: {f"{n}.{k}" for n in names for k in dict(net.named_modules())[n].state_dict()}
        for g, names in groups
    }
    above: set[str] = set()
    for label, copy_ in randomizations(net, donor, groups, "cascading"):
        above |= params[label]
        assert weight_changes(net, copy_) == above
    for label, copy_ in randomizations(net, donor, groups, "independent"):
        assert weight_changes(net, copy_) == params[label]
    assert weight_changes(net, copy.deepcopy(net)) == set()


def test_randomization_run_scores_every_method_against_its_original(net, xs):
    donor = tiny_net(seed=9)
    groups = H.randomization_groups(net)
    methods = ["saliency", "guided_backprop"]
    orig, _ = H.attribution_maps(net, xs, "max", methods)

    def maps_of_net(model):
        return H.attribution_maps(model, xs, "max", methods)[0]

    run = H.randomization_run(net, donor, groups, orig, "cascading", maps_of_net)
    assert run.steps == ["6", "2", "0"]
    rebuilt = list(randomizations(net, donor, groups, "cascading"))
    for m in methods:
        assert [c["layer"] for c in run.curves[m]] == run.steps
        assert len(run.example[m]) == len(run.steps) + 1
        torch.testing.assert_close(run.example[m][0], orig[m][0])
        for step, (_, model) in zip(run.curves[m], rebuilt, strict=True):
            new = maps_of_net(model)[m]
            scores = [H.SanityReference(a).compare(b) for a, b in zip(orig[m], new, strict=True)]
            np.testing.assert_equal(
                {k: v for k, v in step.items() if k != "layer"}, H.mean_std(scores)
            )
        torch.testing.assert_close(run.final[m], maps_of_net(rebuilt[-1][1])[m])
    rules = H.randomization_run(
        net,
        donor,
        groups,
        {"guided": orig["guided_backprop"]},
        "independent",
        lambda model: H.backprop_maps(model, xs, "guided")[0],
        hog=False,
    )
    assert set(rules.curves["guided"][0]) == {
        "layer",
        "spearman_abs",
        "spearman",
        "ssim",
        "degenerate",
    } | {f"{k}_std" for k in ("spearman_abs", "spearman", "ssim", "degenerate")}


# --- the prediction ----------------------------------------------------------------------------


def test_prediction_follows_from_the_ingredients():
    assert Ingredients("guided").predicted_insensitive
    assert Ingredients("deconv", input=True).predicted_insensitive
    assert not Ingredients("plain").predicted_insensitive
    assert not Ingredients("guided", gradcam=True).predicted_insensitive
    assert Ingredients("zplus").predicted_insensitive
    assert not Ingredients("epsilon", input=True).predicted_insensitive
    predicted = {m for m, e in H.METHODS.items() if e.ingredients.predicted_insensitive}
    assert predicted == {"guided_backprop", "deconvnet", "lrp_zplus", "lrp_alpha2beta1"}
    assert set(H.method_implementations(tiny_net())) == set(H.METHODS)


# --- Quantus cross-check -----------------------------------------------------------------------


def test_cascading_metric_matches_quantus_mprt(net, xs):
    """Quantus's MPRT (Adebayo's test as maintained in Quantus) on the tiny network, against the
    book's cascading randomization with the same re-initialized layers and the same targets."""
    quantus = pytest.importorskip("quantus")
    seed = 7
    y = np.array(TARGETS)

    def explain(model, inputs, targets, **_):
        x = torch.as_tensor(inputs, dtype=torch.float32)
        maps, _ = H.attribution_maps(model.eval(), x, list(map(int, targets)), ["saliency"])
        return maps["saliency"].numpy()

    metric = quantus.MPRT(layer_order="top_down", seed=seed, disable_warnings=True)
    scores = metric(
        model=copy.deepcopy(net),
        x_batch=xs.numpy(),
        y_batch=y,
        a_batch=None,
        explain_func=explain,
        channel_first=True,
        device="cpu",
    )
    # the book's side: Quantus re-initializes each layer with reset_parameters under seed + 1
    donor = copy.deepcopy(net)
    for module in donor.modules():
        if hasattr(module, "reset_parameters"):
            torch.manual_seed(seed + 1)
            module.reset_parameters()
    groups = H.randomization_groups(net)
    ref = explain(net, xs.numpy(), y)
    layers = [k for k in scores if k != "original"]
    assert layers == ["6", "2", "0"]
    for (label, model), layer in zip(randomizations(net, donor, groups), layers, strict=True):
        assert label == layer
        new = explain(model, xs.numpy(), y)
        ours = [spearman(ref[b], new[b], absolute=True) for b in range(len(y))]
        np.testing.assert_allclose(scores[layer], ours, atol=1e-6)


# --- chapter 7's study (backpropvis.studies.every_method) ---------------------------------------


def result(verdict="agree", ci=0.0, measured=False):
    return {"verdict": verdict, "class_invariance": ci, "measured_insensitive": measured}


def test_claims_follow_the_verdict_rule():
    eight = H.method_keys("gradient", "modified", "cam")  # chapter 7's methods
    every = {m: result() for m in eight}
    assert H.prediction_claim(every) == ("agrees on 8 of 8", H.REPRODUCED)
    some = every | {m: result("disagree") for m in ("smoothgrad", "gradcam", "saliency")}
    text, verdict = H.prediction_claim(some)
    assert text == "agrees on 5 of 8 (not: saliency, smoothgrad, gradcam)"
    assert verdict == PARTLY
    half = every | {m: result("disagree") for m in eight[:4]}
    assert H.prediction_claim(half)[1] == NOT_REPRODUCED
    rules = every | {m: result(ci=0.95) for m in ("guided_backprop", "deconvnet")}
    assert H.class_invariance_claim(rules) == (
        "ρ ≥ 0.9 for deconvnet, guided_backprop",
        H.REPRODUCED,
    )
    assert H.class_invariance_claim(rules | {"gradcam": result(ci=0.9)})[1] == PARTLY
    assert H.class_invariance_claim(every) == ("ρ ≥ 0.9 for none", NOT_REPRODUCED)
    paper = H.sanity_checks_2018(eight)
    same = {m: result(measured=bool(v)) for m, v in paper.items()}
    assert H.sanity_checks_claim(same, paper) == ("same finding for 7 of 7", H.REPRODUCED)
    flipped = same | {"gradcam": result(measured=True)}
    assert H.sanity_checks_claim(flipped, paper) == (
        "same finding for 6 of 7 (not: gradcam)",
        PARTLY,
    )


def test_tables_name_methods_by_label():
    header, rows = H.prediction_rows(list(H.METHODS))
    assert len(header) == len(rows[0]) == 5
    assert [r[0] for r in rows] == [e.label for e in H.METHODS.values()]
    assert rows[5][1:] == ["guided", "no", "no", "yes"]  # guided backprop
    assert H.method_list([]) == "none"
    assert H.method_list(["gradcam", "saliency"]) == "Grad-CAM, saliency"


def test_repeated_images_share_one_forward_pass_and_their_noisy_copies(net, xs):
    """repeats=2 (each photo twice, two logits): every map is the map of that photo for that
    logit with the photo's own noisy copies, the map a run on the distinct photos gives."""
    logits = [[2, 5], [5, 0], [1, 6]]
    kw = {"smoothgrad_samples": 4, "smoothgrad_std": 0.2, "ig_steps": 4, "seed": 2}
    methods = ["smoothgrad", "integrated_gradients", "saliency"]
    seen = []  # images per forward pass
    hook = net.register_forward_hook(lambda m, i, o: seen.append(len(i[0])))
    try:  # passes of 2 images (a slice of the photos) and of 16 (every photo, several copies)
        for batch_size in (2, 16):
            seen.clear()
            both, _ = H.attribution_maps(
                net, xs.repeat_interleave(2, 0), sum(logits, []), ["smoothgrad"],
                repeats=2, batch_size=batch_size, **kw,
            )  # fmt: skip
            assert sum(seen) == 4 * 3 and max(seen) <= batch_size  # 4 copies of 3 photos, once
    finally:
        hook.remove()
    both, _ = H.attribution_maps(
        net, xs.repeat_interleave(2, 0), sum(logits, []), methods, repeats=2, **kw
    )
    for t in range(2):
        alone, _ = H.attribution_maps(net, xs, [k[t] for k in logits], methods, **kw)
        for m in methods:
            torch.testing.assert_close(both[m][t::2], alone[m], **CLOSE)
    with pytest.raises(ValueError, match="not runs of 3 identical copies"):
        H.attribution_maps(net, xs, TARGETS, methods, repeats=3, **kw)
    with pytest.raises(ValueError, match="whole divisor"):
        H.attribution_maps(net, xs, TARGETS, methods, repeats=2, **kw)


def test_smoothgrad_copies_left_to_the_device_are_the_papers_50_on_a_gpu_and_16_on_a_cpu():
    assert H.smoothgrad_samples_on(torch.device("cuda", 0)) == 50
    assert H.smoothgrad_samples_on("cpu") == H.SMOOTHGRAD_SAMPLES["cpu"] == 16
