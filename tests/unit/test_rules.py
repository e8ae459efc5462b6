"""The rule h and backprop_map: Captum as the reference, hand-derived maps, awkward modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import helpers as H
from backpropvis.core.checks import InputWarning
from backpropvis.core.rules import h


@pytest.fixture(scope="module")
def vgg():
    return H.load_model("vgg16_untrained", seed=3).model


@pytest.fixture(scope="module")
def vgg_input():
    return H.preprocess(H.load_image("chelsea", 64), "imagenet")


CAPTUM = {"guided": "GuidedBackprop", "deconv": "Deconvolution", "plain": "Saliency"}


@pytest.mark.parametrize("rule", H.RULES)
def test_matches_captum_on_vgg16(vgg, vgg_input, rule):
    import captum.attr

    target = 17
    ours = H.backprop_map(vgg, vgg_input, target, rule)
    method = getattr(captum.attr, CAPTUM[rule])(vgg)
    kwargs = {"abs": False} if rule == "plain" else {}
    inp = vgg_input[None].clone().requires_grad_(True)
    ref = method.attribute(inp, target=target, **kwargs)[0].detach()
    scale = ref.abs().max()
    assert scale > 0
    assert torch.allclose(ours, ref, atol=1e-5 * float(scale), rtol=1e-4)


def test_vgg16_rules_differ(vgg, vgg_input):
    """Guards against a rule silently falling back to the plain gradient."""
    maps = {r: H.backprop_map(vgg, vgg_input, 5, r) for r in H.RULES}
    assert H.pearson(maps["guided"], maps["plain"]) < 0.9
    assert H.pearson(maps["guided"], maps["deconv"]) < 0.99


def tiny_net(act: nn.Module) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(3, 2, bias=False), act, nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0]]))
        net[2].weight.copy_(torch.tensor([[3.0, -2.0], [-1.0, 4.0]]))
    return net


class Flat(nn.Module):
    """Wraps a vector net so that it takes (B, 3, 1, 1) images."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.flatten(1))


def test_hand_derived_maps_on_tiny_net():
    # x = (1, 1, 2): pre-activations a = W1 x = (3, 1) -> both units active.
    x = torch.tensor([1.0, 1.0, 2.0])[:, None, None]
    model = Flat(tiny_net(nn.ReLU()))
    w1 = torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0]])
    # logit 0: V = (3, -2). plain: 3*w1[0] - 2*w1[1]; guided/deconv drop the negative -2.
    expected = {"plain": 3 * w1[0] - 2 * w1[1], "guided": 3 * w1[0], "deconv": 3 * w1[0]}
    for rule, e in expected.items():
        got = H.backprop_map(model, x, 0, rule).flatten()
        assert torch.allclose(got, e), rule
    # x = (1, 1, -2): a = (3, -3) -> unit 2 inactive. logit 1: V = (-1, 4).
    x2 = torch.tensor([1.0, 1.0, -2.0])[:, None, None]
    expected2 = {"plain": -1 * w1[0], "guided": torch.zeros(3), "deconv": 4 * w1[1]}
    for rule, e in expected2.items():
        got = H.backprop_map(model, x2, 1, rule).flatten()
        assert torch.allclose(got, e), rule


def test_relu6_passes_gradient_only_inside_0_6():
    # a = W1 x with x = (4, 2, 0): a = (8, -2) -> ReLU6 saturated at unit 1, zero at unit 2.
    x = torch.tensor([4.0, 2.0, 0.0])[:, None, None]
    model = Flat(tiny_net(nn.ReLU6()))
    for rule in H.RULES:
        got = H.backprop_map(model, x, 0, rule).flatten()
        if rule == "deconv":  # no forward mask: positive top gradient 3 at unit 1 only
            assert torch.allclose(got, torch.tensor([3.0, 6.0, 0.0]))
        else:
            assert torch.equal(got, torch.zeros(3)), rule
    # x = (1, 1, 2): a = (3, 1), both inside (0, 6): ReLU6 behaves like ReLU.
    x2 = torch.tensor([1.0, 1.0, 2.0])[:, None, None]
    relu_model = Flat(tiny_net(nn.ReLU()))
    for rule in H.RULES:
        assert torch.allclose(
            H.backprop_map(model, x2, 0, rule), H.backprop_map(relu_model, x2, 0, rule)
        )


class SmallConv(nn.Module):
    """conv -> act -> conv -> act -> linear, with one activation module used twice or two."""

    def __init__(self, inplace: bool = False, reuse: bool = False, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.c1 = nn.Conv2d(3, 4, 3)
        self.c2 = nn.Conv2d(4, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 5)
        self.a1 = nn.ReLU(inplace=inplace)
        self.a2 = self.a1 if reuse else nn.ReLU(inplace=inplace)

    def forward(self, x):
        return self.fc(self.a2(self.c2(self.a1(self.c1(x)))).flatten(1))


@pytest.mark.parametrize("rule", H.RULES)
@pytest.mark.parametrize(
    "variant", [{"inplace": True}, {"reuse": True}, {"inplace": True, "reuse": True}]
)
def test_inplace_and_reused_modules_match_plain_modules(rule, variant):
    x = torch.randn(3, 10, 10, generator=torch.Generator().manual_seed(1))
    reference = H.backprop_map(SmallConv(), x, [0, 3], rule)
    got = H.backprop_map(SmallConv(**variant), x, [0, 3], rule)
    assert torch.allclose(got, reference, atol=1e-6)


def test_list_target_equals_single_calls(vgg, vgg_input):
    maps = H.backprop_map(vgg, vgg_input, [3, "max", 3], "guided")
    assert maps.shape == (3, *vgg_input.shape)
    assert torch.allclose(maps[0], H.backprop_map(vgg, vgg_input, 3, "guided"), atol=1e-6)
    assert torch.allclose(maps[1], H.backprop_map(vgg, vgg_input, "max", "guided"), atol=1e-6)
    assert torch.equal(maps[0], maps[2])


def _snapshot(model: nn.Module):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    dicts = [sorted(m.__dict__) for m in model.modules()]
    return state, dicts, model.training, [p.requires_grad for p in model.parameters()]


def _same(a, b) -> bool:
    return (
        a[0].keys() == b[0].keys()
        and all(torch.equal(a[0][k], b[0][k]) for k in a[0])
        and a[1:] == b[1:]
    )


def test_model_unchanged_after_success_and_after_exception():
    model = SmallConv(inplace=True, reuse=True)
    x = torch.randn(3, 10, 10)
    before = _snapshot(model)
    for rule in H.RULES:
        H.backprop_map(model, x, "max", rule)
    assert _same(before, _snapshot(model))
    with pytest.raises(ValueError, match="outside the model's logits"):
        H.backprop_map(model, x, 99, "guided")  # raises inside the patched region
    assert _same(before, _snapshot(model))

    class Boom(SmallConv):
        def forward(self, x):
            super().forward(x)
            raise RuntimeError("boom")

    boom = Boom(inplace=True)
    before = _snapshot(boom)
    with pytest.raises(RuntimeError, match="boom"):
        H.backprop_map(boom, x, 0, "deconv")
    assert _same(before, _snapshot(boom))
    assert all("forward" not in m.__dict__ for m in boom.modules())


def test_bad_arguments_raise_named_errors():
    model = SmallConv()
    x = torch.randn(3, 10, 10)
    with pytest.raises(ValueError, match="unknown rule 'gradcam'"):
        H.backprop_map(model, x, 0, "gradcam")
    with pytest.raises(ValueError, match="target 5 is outside the model's logits 0..4"):
        H.backprop_map(model, x, 5, "plain")
    with pytest.raises(ValueError, match="target -1 is outside"):
        H.backprop_map(model, x, -1, "guided")
    with pytest.raises(ValueError, match="int logit index or 'max'"):
        H.backprop_map(model, x, "min", "guided")
    with pytest.raises(ValueError, match=r"shape \(3, H, W\)"):
        H.backprop_map(model, x[None], 0, "guided")
    with pytest.raises(ValueError, match="NaN"):
        H.backprop_map(model, torch.full((3, 10, 10), float("nan")), 0, "guided")
    no_relu = nn.Sequential(nn.Flatten(), nn.Linear(300, 4))
    with pytest.raises(ValueError, match="needs ReLU activations"):
        H.backprop_map(no_relu, x, 0, "guided")


def test_h_is_the_rule_table():
    g = torch.tensor([2.0, -1.0, 3.0, -4.0])
    mask = torch.tensor([True, True, False, False])  # the forward pass: 1[a > 0]
    assert h(g, "plain", mask).tolist() == [2.0, -1.0, 0.0, 0.0]
    assert h(g, "guided", mask).tolist() == [2.0, 0.0, 0.0, 0.0]
    assert h(g, "deconv", mask).tolist() == [2.0, 0.0, 3.0, 0.0]  # no forward mask
    assert h(g, "guided").tolist() == [2.0, 0.0, 3.0, 0.0]  # h(v) alone: relu(v)
    with pytest.raises(ValueError, match="unknown rule 'gradcam'"):
        h(g, "gradcam")


@pytest.mark.parametrize("rule", H.RULES)
def test_autograd_patch_and_eq2_apply_the_same_h(rule):
    net = H.PatchNet1D(d=12, p=3, n_filters=5, n_logits=2, seed=4)
    x = torch.randn(12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with H.backward_rule(net, rule):
        xg = x[None].clone().requires_grad_(True)
        net(xg)[0, 1].backward()
    expected = H.eq2_sum(net.D, net.W.detach(), net.V.detach()[:, 1], x, rule)
    torch.testing.assert_close(xg.grad[0], expected)


def test_functions_patched_for_the_call_only_also_after_an_error():
    import torch.nn.functional as F

    originals = (torch.relu, torch.relu_, F.relu_, F.relu6, F.gelu, F.silu)
    x = torch.randn(3, 10, 10)
    H.backprop_map(SmallConv(), x, 0, "guided")
    with pytest.raises(ValueError, match="uses GELU"):
        H.backprop_maps(nn.Sequential(nn.Conv2d(3, 2, 3), nn.GELU(), nn.Flatten()), x[None])
    with pytest.raises(ValueError, match="outside the model's logits"):
        H.backprop_map(SmallConv(), x, 99, "deconv")
    assert (torch.relu, torch.relu_, F.relu_, F.relu6, F.gelu, F.silu) == originals
    assert "relu" not in torch.Tensor.__dict__ and "relu_" not in torch.Tensor.__dict__


def test_training_mode_is_restored_per_module():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())
    model.train()
    model[0].eval()  # a mixed state must come back as it was
    with pytest.warns(InputWarning, match="BatchNorm2d"):
        H.backprop_map(model, torch.randn(3, 6, 6), 0, "guided")
    assert [m.training for m in model.modules()] == [True, False, True, True, True]
