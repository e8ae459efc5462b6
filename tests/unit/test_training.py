"""Chapter 8's library: the digits, the trained networks and their seeded training, step (b)
measured, Grad-CAM's layer in a sequential CNN, the maps of a trained model against their
references, the data randomization table and the chapter's claims."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import helpers as H
from backpropvis.claims.training import CHANCE_MARGIN
from backpropvis.claims.verdicts import NOT_REPRODUCED, PARTLY, REPRODUCED
from backpropvis.methods.cam import gradcam_layer

pytest.importorskip("captum.attr")


@pytest.fixture(scope="module")
def digits():
    return H.load_digits_split(12, 300, seed=0)


def test_digits_split_is_stratified_seeded_and_shaped_like_photos(digits):
    assert digits.train_x.shape == (1497, 3, 12, 12) and digits.test_x.shape == (300, 3, 12, 12)
    assert 0 <= float(digits.train_x.min()) and float(digits.train_x.max()) <= 1
    assert torch.equal(digits.train_x[:, 0], digits.train_x[:, 2])  # gray, three channels
    counts = torch.bincount(digits.test_y, minlength=10)
    assert counts.sum() == 300 and int(counts.min()) >= 28 and int(counts.max()) <= 32
    again = H.load_digits_split(12, 300, seed=0)
    assert torch.equal(again.test_x, digits.test_x) and torch.equal(again.test_y, digits.test_y)
    other = H.load_digits_split(12, 300, seed=1)
    assert not torch.equal(other.test_y, digits.test_y)
    centred = digits.prepare(digits.train_x)
    assert abs(float(centred.mean())) < 1e-4 and abs(float(centred.std()) - 1) < 1e-4


def test_permuted_labels_keep_every_class_count(digits):
    y = digits.train_y
    p = H.permuted_labels(y, 3)
    assert torch.equal(torch.bincount(p), torch.bincount(y))
    assert float((p == y).float().mean()) < 0.2
    assert torch.equal(p, H.permuted_labels(y, 3)) and not torch.equal(p, H.permuted_labels(y, 4))


def test_bad_digit_settings_name_the_problem():
    with pytest.raises(ValueError, match="n_test must leave every class"):
        H.load_digits_split(16, 1795)
    with pytest.raises(ValueError, match="size must be at least"):
        H.load_digits_split(4)
    with pytest.raises(ValueError, match="multiple of 4"):
        H.sanity_cnn(18)
    with pytest.raises(ValueError, match="size must be at least 7"):
        H.trainable_convnet(8, 7, size=6)


def test_the_trained_networks_are_the_papers_and_start_seeded():
    conv = H.trainable_convnet(8, 5, size=12, seed=0)
    assert [type(m) for m in conv] == [nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear]
    assert conv[0].bias is None and conv[3].bias is None  # Eq. (1): no biases
    assert conv[3].in_features == 8 * 8 * 8  # N J, J = (12 - 5 + 1)^2
    w = conv[3].weight
    assert abs(float(w.detach().std()) * (8 * 64) ** 0.5 - 1) < 0.05  # N(0, 1 / fan-in)
    again = H.trainable_convnet(8, 5, size=12, seed=0)
    assert all(
        torch.equal(a, b) for a, b in zip(conv.parameters(), again.parameters(), strict=True)
    )
    fc = H.trainable_fc_net(32, size=12)
    assert fc(torch.zeros(2, 3, 12, 12)).shape == (2, 10)
    assert H.sanity_cnn(12)(torch.zeros(1, 3, 12, 12)).shape == (1, 10)


def test_training_is_bitwise_repeatable_and_keeps_its_checkpoints(digits):
    x, y = digits.prepare(digits.train_x[:128]), digits.train_y[:128]
    runs = [
        H.train(H.sanity_cnn(12), x, y, 2, checkpoints=[0, 1, 3], progress=False) for _ in range(2)
    ]
    for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert sorted(runs[0].checkpoints) == [0, 1, 3, 4]  # 2 epochs of 2 steps; the last step
    start = runs[0].at(0)
    init = H.sanity_cnn(12).parameters()
    assert all(torch.equal(a, b) for a, b in zip(start.parameters(), init, strict=True))
    with pytest.raises(ValueError, match="no checkpoint at step 2"):
        runs[0].at(2)
    other = H.train(H.sanity_cnn(12), x, y, 2, seed=1, progress=False)
    assert not torch.equal(other.model[0].weight, runs[0].model[0].weight)


def test_training_fits_and_stops_when_asked(digits):
    x, y = digits.prepare(digits.train_x[:64]), digits.train_y[:64]
    run = H.train(H.trainable_fc_net(256, 12), x, y, 100, lr=3e-3, fit_at=1.0, progress=False)
    assert run.fitted_at is not None and run.epochs == run.fitted_at
    assert run.history[-1]["train_accuracy"] == 1.0 == H.accuracy(run.model, x, y)
    longer = H.train(H.trainable_fc_net(256, 12), x, y, run.fitted_at + 3, lr=3e-3,
                     fit_at=1.0, stop_when_fit=False, progress=False)  # fmt: skip
    assert longer.fitted_at == run.fitted_at and longer.epochs == run.fitted_at + 3
    with pytest.raises(ValueError, match="64 inputs for 63 labels"):
        H.train(H.trainable_fc_net(8, 12), x, y[:-1], 1, progress=False)
    with pytest.raises(ValueError, match="fit_at must be a training accuracy"):
        H.train(H.trainable_fc_net(8, 12), x, y, 1, fit_at=0, progress=False)


def test_step_b_is_zero_within_its_error_at_initialization_and_sees_dependence(digits):
    xs, ys = digits.prepare(digits.test_x[:60]), digits.test_y[:60]
    for seed in range(3):
        net = H.trainable_convnet(16, 5, size=12, seed=seed)
        b = H.step_b_departure(net, xs, ys, seed=seed)
        assert abs(b["value"]) <= 4 * b["error"], b
        assert b["n_units"] == 16 * 64 and b["error"] > 0
    # V of class k made of the units class k activates: a departure of many errors
    with torch.no_grad():
        z = net[1](net[0](xs)).flatten(1)
        for k in range(10):
            net[3].weight[k] = z[ys == k].mean(0) - z.mean(0)
    b = H.step_b_departure(net, xs, ys)
    assert b["value"] > 0.3 and b["in_errors"] > 20
    guided = H.step_b_departure(net, xs, ys, "guided")
    assert guided["value"] > 0.2


def test_step_b_refuses_what_it_cannot_measure(digits):
    xs, ys = digits.prepare(digits.test_x[:4]), digits.test_y[:4]
    net = H.trainable_fc_net(8, 12)
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        H.step_b_departure(net, xs, ys + 10)
    with pytest.raises(ValueError, match="no linear layer"):
        H.step_b_departure(nn.Sequential(nn.Conv2d(3, 2, 3)), xs, ys)
    with pytest.raises(ValueError, match="at least two images"):
        H.step_b_departure(net, xs[:1], ys[:1])
    with pytest.raises(ValueError, match="n_null must be at least 2"):
        H.step_b_departure(net, xs, ys, n_null=1)


def test_gradcam_reads_the_last_feature_map_of_a_sequential_cnn():
    cnn = H.sanity_cnn(12)
    layer, to_input = gradcam_layer(cnn)
    assert layer is cnn[4] and not to_input  # the ReLU after the second convolution


def test_maps_of_a_trained_cnn_match_their_references(digits):
    """Every registry entry with a reference, on the MNIST CNN after an epoch of training (its
    weights no longer i.i.d.)."""
    x, y = digits.prepare(digits.train_x[:256]), digits.train_y[:256]
    model = H.train(H.sanity_cnn(12), x, y, 1, progress=False).model.requires_grad_(False)
    xs, targets = x[:3], [2, 5, 0]
    kw = {"ig_steps": 8, "baseline": digits.prepare(torch.zeros(3, 12, 12))}
    maps, _ = H.attribution_maps(model, xs, targets, **kw)
    checked = 0
    for m, entry in H.METHODS.items():
        if entry.reference is None:
            continue
        want = entry.reference(model, xs, targets, **kw)
        torch.testing.assert_close(maps[m], want, rtol=1e-4, atol=1e-6, msg=m)
        checked += 1
    assert checked >= 6


def results(**measured):
    """Data randomization results of two methods, by their measured insensitivity."""
    out = {}
    for m, insensitive in measured.items():
        pred = H.METHODS[m].ingredients.predicted_insensitive
        r = {s: 0.8 if insensitive else 0.1 for s in ("spearman_abs", "spearman", "ssim", "hog")}
        r |= {f"{s}_std": 0.05 for s in ("spearman_abs", "spearman", "ssim", "hog")}
        r |= {"measured_insensitive": insensitive, "predicted_insensitive": pred}
        out[m] = r | {"verdict": "agree" if pred == insensitive else "disagree"}
    return out


def test_the_comparison_table_is_computed_from_the_results():
    paper = H.mnist_2018(["saliency", "guided_backprop", "deconvnet"], 0.5)
    assert paper == {"saliency": False, "guided_backprop": True, "deconvnet": None}
    header, rows = H.data_randomization_rows(
        results(saliency=False, guided_backprop=True, deconvnet=True), paper
    )
    assert header[-2:] == ["MNIST (2018)", "same finding"]
    assert rows[0][2] == "0.10 ± 0.05" and rows[0][-2:] == ["0.17", "yes"]
    assert rows[1][-2:] == ["0.57", "yes"] and rows[2][-2:] == ["—", "—"]
    _, flipped = H.data_randomization_rows(results(saliency=True), paper)
    assert flipped[0][-1] == "no"
    three = H.mnist_2018(["saliency", "guided_backprop", "smoothgrad"], 0.5)
    one_off = results(saliency=True, guided_backprop=True, smoothgrad=False)
    assert H.sanity_checks_claim(one_off, three) == ("same finding for 2 of 3 (not: saliency)",
                                                     PARTLY)  # fmt: skip


def test_data_randomization_of_a_model_against_itself_is_one():
    torch.manual_seed(0)
    cnn = H.sanity_cnn(12).requires_grad_(False)
    xs = torch.randn(4, 3, 12, 12)
    out = H.data_randomization(cnn, cnn, xs, ["saliency", "guided_backprop"], 0.5)
    for r in out.values():
        assert r["spearman_abs"] == pytest.approx(1.0) and r["ssim"] == pytest.approx(1.0)
        assert r["n"] == 4 and r["measured_insensitive"]
    assert out["saliency"]["verdict"] == "disagree" and out["guided_backprop"]["verdict"] == "agree"


def test_training_claims_on_both_sides_of_their_thresholds():
    fit = {"a": {"train": 0.99, "test": 0.11}, "b": {"train": 0.995, "test": 0.09}}
    assert H.permuted_fit_claim(fit, 0.99, 0.1)[1] == REPRODUCED
    fit["b"]["test"] = 0.1 + CHANCE_MARGIN + 0.01  # fits, but not at chance
    assert H.permuted_fit_claim(fit, 0.99, 0.1)[1] == PARTLY
    fit["a"]["train"] = 0.98
    assert H.permuted_fit_claim(fit, 0.99, 0.1)[1] == NOT_REPRODUCED
    zero = {"n": {"value": 0.01, "error": 0.0025}}
    assert H.step_b_init_claim(zero)[1] == REPRODUCED
    assert H.step_b_init_claim({"n": {"value": 0.0101, "error": 0.0025}})[1] == NOT_REPRODUCED
    assert H.step_b_breaks_claim({"n": {"value": 0.0101, "error": 0.0025}})[1] == REPRODUCED
    assert H.step_b_breaks_claim({"n": {"value": -0.2, "error": 0.0025}})[1] == NOT_REPRODUCED
    steps = [0, 1, 2, 4]
    assert H.onset(steps, [0.0, 0.1, 0.3, 0.4]) == 2 and H.onset(steps, [1, 0.6, 0.4, 0]) == 2
    assert H.structure_onset_claim(steps, [0, 0.1, 0.3, 0.4], [0, 0.1, 0.5, 0.6])[1] == REPRODUCED
    assert H.structure_onset_claim(steps, [0, 0.1, 0.3, 0.4], [0, 0.5, 0.5, 0.6])[1] == PARTLY
    flat = [0, 0.05, 0.1, 0.1]
    assert H.structure_onset_claim(steps, [0, 0.1, 0.3, 0.4], flat)[1] == NOT_REPRODUCED
    rho = {"conv": {"init": 0.95, "trained": 0.91}}
    assert H.gbp_invariance_trained_claim(rho)[1] == REPRODUCED
    rho["fc"] = {"init": 0.9, "trained": 0.49}
    assert H.gbp_invariance_trained_claim(rho)[1] == NOT_REPRODUCED
    assert H.local_connections_trained_claim({"conv": 0.6, "fc": 0.1})[1] == REPRODUCED
    assert H.local_connections_trained_claim({"conv": 0.6, "fc": 0.3})[1] == PARTLY
    assert H.local_connections_trained_claim({"conv": 0.6, "fc": 0.55})[1] == NOT_REPRODUCED
