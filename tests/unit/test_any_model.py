"""Any torchvision classifier or a local checkpoint, offline.

Untrained ``resnet18`` (``nn.ReLU`` modules reused and in place), ``densenet121`` (functional
``F.relu``), ``mobilenet_v2`` (``nn.ReLU6``) and ``vgg11_bn`` (one ``nn.ReLU`` module per
layer) go through ``H.backprop_map`` for every rule and are compared with a reference written
here, independent of the library's patch: a copy of the model whose ReLU modules are replaced
by fresh modules and whose ``torch.nn.functional.relu`` is monkeypatched, both applying the
rule through an autograd Function that saves the *input* (the library saves the output).
Where Captum applies (``vgg11_bn``: every ReLU an ``nn.ReLU`` module used once) Captum's
Saliency, GuidedBackprop and Deconvolution are a second reference. 64 x 64 inputs keep it fast.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import helpers as H
from backpropvis.core.models import model_names

SIZE = 64
TARGETS = [1, 482]


class _RefRule(torch.autograd.Function):
    """ReLU (``upper=None``) or ReLU6 forward; backward by the rule, written out by hand."""

    @staticmethod
    def forward(ctx, x, rule, upper):  # noqa: ANN001 - autograd signature
        ctx.save_for_backward(x)
        ctx.rule, ctx.upper = rule, upper
        return x.clamp(min=0) if upper is None else x.clamp(0, upper)

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001 - autograd signature
        (x,) = ctx.saved_tensors
        mask = (x > 0) if ctx.upper is None else (x > 0) & (x < ctx.upper)
        if ctx.rule == "plain":
            return g * mask, None, None
        if ctx.rule == "guided":
            return g.clamp(min=0) * mask, None, None
        return g.clamp(min=0), None, None  # deconv: no forward mask


class _RefAct(nn.Module):
    def __init__(self, rule: str, upper: float | None) -> None:
        super().__init__()
        self.rule, self.upper = rule, upper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RefRule.apply(x, self.rule, self.upper)


def reference_maps(model: nn.Module, x: torch.Tensor, rule: str, monkeypatch) -> torch.Tensor:
    """``(T, 3, H, W)`` maps of ``TARGETS`` by the hand-written rule (module docstring): a
    fresh :class:`_RefAct` at the place of every ReLU module, and ``F.relu`` patched; all
    restored on return."""
    calls = []

    def relu(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        calls.append(1)
        return _RefRule.apply(x, rule, None)

    swapped = [
        (parent, child_name, child)
        for parent in model.modules()
        for child_name, child in parent.named_children()
        if isinstance(child, (nn.ReLU, nn.ReLU6))
    ]
    try:
        for parent, child_name, child in swapped:
            upper = 6.0 if isinstance(child, nn.ReLU6) else None
            parent._modules[child_name] = _RefAct(rule, upper)
        with monkeypatch.context() as m:
            m.setattr(F, "relu", relu)
            xg = x[None].clone().requires_grad_(True)
            out = model(xg)
            maps = [torch.autograd.grad(out[0, k], xg, retain_graph=True)[0][0] for k in TARGETS]
    finally:
        for parent, child_name, child in swapped:
            parent._modules[child_name] = child
    reference_maps.functional_calls = len(calls)
    return torch.stack(maps)


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return H.load_image("chelsea", SIZE)


@pytest.fixture(scope="module", params=["resnet18", "densenet121", "mobilenet_v2", "vgg11_bn"])
def untrained(request) -> H.LoadedModel:
    return H.load_model(f"{request.param}_untrained", seed=0)


def _close(got: torch.Tensor, ref: torch.Tensor) -> None:
    scale = float(ref.abs().max())
    assert scale > 0
    torch.testing.assert_close(got, ref, atol=1e-5 * scale, rtol=1e-4)


def test_every_rule_matches_the_hand_written_reference(untrained, photo, monkeypatch):
    x = untrained.prepare(photo)
    got = {}
    for rule in H.RULES:
        got[rule] = H.backprop_map(untrained.model, x, TARGETS, rule)
        _close(got[rule], reference_maps(untrained.model, x, rule, monkeypatch))
        if untrained.arch == "densenet121":  # its last ReLU is F.relu in forward()
            assert reference_maps.functional_calls > 0
    before = [type(m).__name__ for m in untrained.model.modules()]
    assert "_RefAct" not in before  # the reference restored the model
    if untrained.arch == "vgg11_bn":  # every ReLU an nn.ReLU module used once: Captum applies
        for rule in H.RULES:
            _close(got[rule], captum_maps(untrained.model, x, rule))
    scale = float(got["plain"].abs().max())
    for rule in ("guided", "deconv"):  # the rules did change the map
        assert float((got[rule] - got["plain"]).abs().max()) > 0.01 * scale


def captum_maps(model: nn.Module, x: torch.Tensor, rule: str) -> torch.Tensor:
    """Captum's Saliency / GuidedBackprop / Deconvolution of ``TARGETS`` (one batch)."""
    captum_attr = pytest.importorskip("captum.attr")
    for m in model.modules():  # Captum's hooks need out-of-place ReLUs (same values)
        if isinstance(m, nn.ReLU):
            m.inplace = False
    name = {"plain": "Saliency", "guided": "GuidedBackprop", "deconv": "Deconvolution"}[rule]
    kwargs = {"abs": False} if rule == "plain" else {}
    xs = x[None].repeat(len(TARGETS), 1, 1, 1).requires_grad_(True)  # image i: logit i
    return getattr(captum_attr, name)(model).attribute(xs, target=TARGETS, **kwargs).detach()


def test_checkpoint_round_trip(tmp_path, photo):
    a = H.load_model("resnet18_untrained", seed=5)
    path = tmp_path / "my_resnet18.pth"
    torch.save(a.model.state_dict(), path)
    b = H.load_model("resnet18", weights=path)
    assert b.trained and b.name == "resnet18" and str(path) in b.source
    x = a.prepare(photo)[None]
    with torch.no_grad():
        assert torch.equal(a.model(x), b.model(x))
    torch.save({"state_dict": {f"module.{k}": v for k, v in a.model.state_dict().items()}}, path)
    c = H.load_model("resnet18", weights=path)  # a training script's file (DataParallel)
    with torch.no_grad():
        assert torch.equal(a.model(x), c.model(x))
    with pytest.raises(ValueError, match="cannot load weights file .* into densenet121"):
        H.load_model("densenet121", weights=path)


def test_untrained_models_are_seeded_and_carry_their_metadata():
    a, b = (H.load_model("mobilenet_v2_untrained", seed=3) for _ in range(2))
    c = H.load_model("mobilenet_v2_untrained", seed=4)
    sa, sb, sc = (m.model.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())
    assert not a.trained and a.preprocessing == "imagenet" and a.image_size == 224
    assert len(a.categories) == 1000 and a.categories[0] == "tench"
    twin = H.untrained_twin(a, seed=3)  # an untrained model's twin is a second draw
    assert twin.name == "mobilenet_v2_untrained_seed4" and twin.arch == "mobilenet_v2"
    assert "seed 4" in twin.source


@pytest.mark.parametrize(
    ("arch", "activation"),
    [("convnext_tiny", "GELU"), ("efficientnet_b0", "SiLU"), ("mobilenet_v3_small", "Hardswish")],
)
def test_undefined_activations_are_refused_by_name(arch, activation, photo):
    m = H.load_model(f"{arch}_untrained", seed=0)
    x = m.prepare(photo)
    for rule in ("guided", "deconv"):
        with pytest.raises(ValueError, match=f"uses .*{activation}.*which the rule does not"):
            H.backprop_map(m.model, x, 1, rule)
    assert torch.isfinite(H.backprop_map(m.model, x, 1, "plain")).all()  # the true gradient


def test_trained_name_offline_fails_at_once_saying_how_to_supply_weights(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("BACKPROPVIS_OFFLINE", "1")
    with pytest.raises(ConnectionError, match=r"resnet50.*pass weights='path/to/resnet50-"):
        H.load_model("resnet50")
    with pytest.raises(ValueError, match="did you mean resnet50"):
        H.load_model("resnet5")
    assert {"auto", "resnet50", "resnet50_untrained", "efficientnet_lite0"} <= set(model_names())


def test_chapter_1_runs_on_an_untrained_resnet18(chapter_runner, smoke_params, tmp_path_factory):
    """Chapter 1 in smoke size with ``-p model resnet18_untrained``: the "trained" row is that
    untrained ResNet-18 (seed 0), its twin a second draw (seed 1), then the untrained VGG-16."""
    stem = "01_observations"
    workdir = tmp_path_factory.mktemp("ch01_resnet18")
    params = {**smoke_params[stem], "photos": ["chelsea"], "n_logits": 4}  # one photo
    metrics = chapter_runner(stem, workdir, **params, model="resnet18_untrained")
    assert metrics["trained_model"] == "resnet18_untrained"
    assert metrics["photos"] == ["chelsea"]
    inv = metrics["class_invariance"]
    for net in ("trained", "untrained", "vgg16_untrained"):
        assert inv[net]["guided"] > 0.9, net  # GBP class-invariant in every random network
        assert abs(inv[net]["plain"]) < 0.25, net  # the plain gradient is not
    assert set(metrics["claims"]) >= {"gbp_invariant", "plain_invariant"}
