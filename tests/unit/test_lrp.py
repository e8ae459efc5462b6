"""Layer-wise relevance propagation (backpropvis.methods.lrp): every zennit rule and composite of
the registry on the paper's two-layer convnet, Eq. (1) with biases, against the rule's formula
computed by hand on the convolution written as a matrix (its rows the patches D_j)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import helpers as H
from backpropvis.methods.lrp import COMPOSITES, relevance
from backpropvis.methods.registry import LRP_RULES

EPS = 1e-6  # zennit's epsilon and stabilizer
SIZE, K, N = 6, 3, 4  # image side, filter side, N filters
TARGETS = torch.tensor([1, 4, 0])


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, N, K), nn.ReLU(), nn.Flatten(), nn.Linear(N * (SIZE - K + 1) ** 2, 5)
    )
    return model.double().eval()


@pytest.fixture(scope="module")
def xs():
    return torch.randn(
        3, 3, SIZE, SIZE, dtype=torch.double, generator=torch.Generator().manual_seed(4)
    )


def dense(conv: nn.Conv2d) -> torch.Tensor:
    """The convolution (without its bias) as a matrix: row j is filter q_j on patch D_j."""
    eye = torch.eye(3 * SIZE * SIZE, dtype=torch.double).view(-1, 3, SIZE, SIZE)
    with torch.no_grad():
        return nn.functional.conv2d(eye, conv.weight).flatten(1).T


def s(z: torch.Tensor) -> torch.Tensor:
    """zennit's stabilized denominator: z + eps sign(z), sign(0) = +1."""
    return z + EPS * torch.where(z >= 0, 1.0, -1.0).double()


def epsilon(w, b, x, r):
    return x * (w.T @ (r / s(w @ x + b)))


def positive_part(w, b, x, r):
    wp, wn, xp, xn = w.clamp(min=0), w.clamp(max=0), x.clamp(min=0), x.clamp(max=0)
    q = r / s(wp @ xp + wn @ xn + b.clamp(min=0))
    return xp * (wp.T @ q) + xn * (wn.T @ q)


def negative_part(w, b, x, r):
    wp, wn, xp, xn = w.clamp(min=0), w.clamp(max=0), x.clamp(min=0), x.clamp(max=0)
    q = r / s(wn @ xp + wp @ xn + b.clamp(max=0))
    return xp * (wn.T @ q) + xn * (wp.T @ q)


def alpha2beta1(w, b, x, r):
    return 2 * positive_part(w, b, x, r) - negative_part(w, b, x, r)


def flat(w, b, x, r):
    ones = (w != 0).double()  # every input of a unit alike, the bias dropped
    return ones.T @ (r / s(ones @ torch.ones_like(x)))


def box(low, high):
    def rule(w, b, x, r):
        wp, wn = w.clamp(min=0), w.clamp(max=0)
        q = r / s(w @ x - wp @ low - wn @ high)
        return x * (w.T @ q) - low * (wp.T @ q) - high * (wn.T @ q)

    return rule


def by_hand(net, x, target, first, upper):
    """The relevance at the input: ``upper`` at the linear layer V from relevance 1 at the
    target logit, passed unchanged through the ReLU, then ``first`` at the convolution."""
    conv, linear = net[0], net[3]
    w, v = dense(conv), linear.weight.detach()
    x = x.flatten()
    b = conv.bias.detach().repeat_interleave((SIZE - K + 1) ** 2)  # one per unit
    with torch.no_grad():
        hidden = torch.relu(w @ x + b)
        r = torch.zeros(v.shape[0], dtype=torch.double)
        r[target] = 1.0
        r_hidden = upper(v, linear.bias.detach(), hidden, r)
        return first(w, b, x, r_hidden).view(3, SIZE, SIZE)


def test_every_lrp_method_on_the_two_layer_convnet_is_its_rule_by_hand(net, xs):
    low, high = xs.flatten(1).amin(1), xs.flatten(1).amax(1)
    rules = {
        "lrp_epsilon": lambda b: (epsilon, epsilon),
        "lrp_zplus": lambda b: (positive_part, positive_part),
        "lrp_alpha2beta1": lambda b: (alpha2beta1, alpha2beta1),
        "epsilon_plus_flat": lambda b: (flat, epsilon),
        "epsilon_gamma_box": lambda b: (
            box(low[b].expand(xs[b].numel()), high[b].expand(xs[b].numel())),
            epsilon,
        ),
    }
    assert list(rules) == H.method_keys("lrp") == list(COMPOSITES)
    maps, _ = H.attribution_maps(net, xs, TARGETS.tolist(), list(rules))
    for method, pair in rules.items():
        for b, target in enumerate(TARGETS.tolist()):
            want = by_hand(net, xs[b], target, *pair(b))
            torch.testing.assert_close(maps[method][b], want, rtol=1e-7, atol=1e-10, msg=method)


def test_the_rules_differ_where_the_weights_have_both_signs(net, xs):
    """The formulas are not one another: each pair of methods gives another map."""
    maps, _ = H.attribution_maps(net, xs, TARGETS.tolist(), H.method_keys("lrp"))
    keys = list(maps)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            assert not torch.allclose(maps[a], maps[b], rtol=1e-3, atol=1e-6), (a, b)


def test_lrp_epsilon_is_gradient_times_input_over_the_logit_without_biases(xs):
    torch.manual_seed(5)
    net = nn.Sequential(
        nn.Conv2d(3, N, K, bias=False), nn.ReLU(), nn.Flatten(),
        nn.Linear(N * (SIZE - K + 1) ** 2, 5, bias=False),
    ).double().eval()  # fmt: skip
    x = xs.clone().requires_grad_()
    logit = net(x).gather(1, TARGETS[:, None])
    (grad,) = torch.autograd.grad(logit.sum(), x)
    got = relevance(net, xs, TARGETS, "lrp_epsilon")  # relevance 1 at the logit, not f_k
    # the same up to eps in each unit's denominator (hidden units near zero: 1e-3 relative)
    want = xs * grad
    torch.testing.assert_close(got * logit.detach()[:, :, None, None], want, rtol=2e-3, atol=1e-5)
    assert not torch.allclose(got, want, rtol=2e-3, atol=1e-5)  # not without the logit


def test_lrp_entries_say_what_they_are(net):
    """(Their predictions are asserted with every method's in test_methods.py.)"""
    for key in H.method_keys("lrp"):
        entry = H.METHODS[key]
        assert entry.ingredients.backward in LRP_RULES
        assert entry.implementation(net).startswith("zennit ")


def test_bad_targets_and_unknown_methods_are_named(net, xs):
    with pytest.raises(ValueError, match="one of the 5 logits"):
        relevance(net, xs, torch.tensor([0, 1, 9]), "lrp_epsilon")
    with pytest.raises(ValueError, match="unknown LRP method 'lrp_gamma'"):
        relevance(net, xs, TARGETS, "lrp_gamma")


def gamma_rule(w, b, x, r, g=0.25):
    """zennit's generalized γ rule: units with z > 0 pass relevance by ``w + g w⁺`` on the
    positive inputs and ``w + g w⁻`` on the negative ones (``b + g b⁺`` in the denominator),
    units with z < 0 the other way round."""
    wp, wn, xp, xn = w.clamp(min=0), w.clamp(max=0), x.clamp(min=0), x.clamp(max=0)
    up, down = w + g * wp, w + g * wn
    z = w @ x + b
    q_pos = (z > 0) * r / s(up @ xp + down @ xn + b + g * b.clamp(min=0))
    q_neg = (z < 0) * r / s(down @ xp + up @ xn + b + g * b.clamp(max=0))
    return xp * (up.T @ q_pos + down.T @ q_neg) + xn * (down.T @ q_pos + up.T @ q_neg)


def test_the_gamma_rule_at_a_second_convolution_is_its_formula_by_hand(xs):
    """EpsilonGammaBox on conv -> ReLU -> conv -> ReLU -> linear: the box rule at the first
    convolution, γ at the second, ε at the linear layer."""
    torch.manual_seed(6)
    net = nn.Sequential(
        nn.Conv2d(3, N, K), nn.ReLU(), nn.Conv2d(N, 5, K), nn.ReLU(), nn.Flatten(),
        nn.Linear(5 * (SIZE - 2 * K + 2) ** 2, 4),
    ).double().eval()  # fmt: skip
    side1 = SIZE - K + 1

    def matrix(conv, channels, side):
        eye = torch.eye(channels * side * side, dtype=torch.double)
        with torch.no_grad():
            return (
                nn.functional.conv2d(eye.view(-1, channels, side, side), conv.weight).flatten(1).T
            )

    def bias(conv, side):
        return conv.bias.detach().repeat_interleave((side - K + 1) ** 2)

    w1, w2 = matrix(net[0], 3, SIZE), matrix(net[2], N, side1)
    b1, b2 = bias(net[0], SIZE), bias(net[2], side1)
    v, c = net[5].weight.detach(), net[5].bias.detach()
    targets = torch.tensor([0, 3, 2])
    maps, _ = H.attribution_maps(net, xs, targets.tolist(), ["epsilon_gamma_box"])
    for b, target in enumerate(targets.tolist()):
        x = xs[b].flatten()
        low, high = x.min().expand_as(x), x.max().expand_as(x)
        with torch.no_grad():
            h1 = torch.relu(w1 @ x + b1)
            h2 = torch.relu(w2 @ h1 + b2)
            r = torch.zeros(4, dtype=torch.double)
            r[target] = 1.0
            r2 = epsilon(v, c, h2, r)
            r1 = gamma_rule(w2, b2, h1, r2)
            want = box(low, high)(w1, b1, x, r1).view(3, SIZE, SIZE)
        torch.testing.assert_close(maps["epsilon_gamma_box"][b], want, rtol=1e-7, atol=1e-10)
