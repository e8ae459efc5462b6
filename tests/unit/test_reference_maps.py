"""The backward rules against references that share no code with backpropvis.core.rules.

- A one-convolution network (ReLU and ReLU6) whose three maps are written out in closed form
  with numpy: ``sum_j D_j^T W^T (h(V_k) * mask)_j``. The plain map is checked here, against
  that hand derivation, rather than against Captum's ``Saliency`` (autograd against autograd).
- The trained EfficientNet-Lite0 (``load_model("auto")`` offline; ReLU6 modules, each reused
  within its block) against a forward-hook reimplementation of guided backprop and DeconvNet:
  each ReLU6 output is replaced by ``y.detach() + (x - x.detach()) * mask`` with a tensor hook
  ``relu(g)`` on it, so the library's patched activation function is not involved.
- The trained VGG-16 against Captum, only where its weights are already cached.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import helpers as H

# --- a one-convolution network, its maps by hand -------------------------------------------


def one_conv_net(act: nn.Module, seed: int = 0) -> nn.Sequential:
    """conv 3 -> 6 channels (3 x 3, VALID, with bias) -> act -> linear to 4 logits (7 x 8 input)."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 6, 3), act, nn.Flatten(), nn.Linear(6 * 5 * 6, 4))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net.eval()


def hand_map(net: nn.Sequential, x: np.ndarray, k: int, rule: str, upper: float) -> np.ndarray:
    """The map of logit ``k`` in float64 numpy, one patch at a time.

    ``a_ij = w_i . y_j + b_i``; the gradient reaching unit (i, j) is ``V[k, (i, j)]``; the rule
    passes ``h(V) * [0 < a_ij < upper]`` (deconv: no mask), and patch j's share of the map is
    ``D_j^T sum_i that * w_i``.
    """
    w = net[0].weight.detach().double().numpy()  # (N, 3, 3, 3)
    b = net[0].bias.detach().double().numpy()
    n, _, ks, _ = w.shape
    jh, jw = x.shape[1] - ks + 1, x.shape[2] - ks + 1
    v = net[3].weight.detach().double().numpy()[k].reshape(n, jh, jw)
    out = np.zeros_like(x)
    for r in range(jh):
        for c in range(jw):
            y = x[:, r : r + ks, c : c + ks]
            a = np.einsum("ichw,chw->i", w, y) + b
            g = v[:, r, c] if rule == "plain" else np.maximum(v[:, r, c], 0.0)
            if rule != "deconv":
                g = g * ((a > 0) & (a < upper))
            out[:, r : r + ks, c : c + ks] += np.einsum("i,ichw->chw", g, w)
    return out


@pytest.mark.parametrize("act", [nn.ReLU(), nn.ReLU6()], ids=["relu", "relu6"])
@pytest.mark.parametrize("rule", H.RULES)
def test_one_conv_net_maps_equal_the_hand_derivation(act, rule):
    net = one_conv_net(act)
    x = 1.5 * torch.randn(3, 7, 8, generator=torch.Generator().manual_seed(1))
    a = net[0](x[None]).detach()
    upper = 6.0 if isinstance(act, nn.ReLU6) else np.inf
    # every branch of the mask occurs: units off, inside, and (ReLU6) saturated above 6
    assert (a <= 0).any() and ((a > 0) & (a < 6)).any() and (a >= 6).any()
    with torch.no_grad():
        best = int(net(x[None]).argmax())
    got = H.backprop_map(net, x, [0, 2, "max"], rule).double().numpy()
    for m, k in zip(got, [0, 2, best], strict=True):
        expected = hand_map(net, x.double().numpy(), k, rule, upper)
        assert np.abs(expected).max() > 1  # not an all-zero map
        # float32 autograd against float64 numpy: max |diff| measured 4e-8 to 1.5e-7 of the
        # map's scale (5 seeds x 2 logits x 6 cases), float32 rounding; one unit's mask wrong
        # changes the map by O(1) of its scale
        np.testing.assert_allclose(m, expected, atol=1e-6 * np.abs(expected).max(), rtol=0)


# --- the trained EfficientNet-Lite0 against a hook reimplementation -------------------------


@contextmanager
def hooked_rule(model: nn.Module, rule: str):
    """Guided backprop or DeconvNet at every ReLU6 of ``model`` by forward hooks (module doc)."""

    def hook(_module, inputs, out):
        x = inputs[0]
        through = x - x.detach()  # value 0, gradient passed unchanged to x
        if rule == "guided":
            through = through * ((x > 0) & (x < 6)).to(x.dtype)  # ReLU6's forward mask
        y = out.detach() + through
        y.register_hook(lambda g: g.clamp(min=0))  # h: relu of the gradient from above
        return y

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU6)]
    assert handles, "the model has no nn.ReLU6 module"
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def hooked_maps(model: nn.Module, x: torch.Tensor, targets: list[int], rule: str) -> torch.Tensor:
    with hooked_rule(model, rule):
        xg = x[None].clone().requires_grad_(True)
        out = model(xg)[0]
        grads = [torch.autograd.grad(out[k], xg, retain_graph=True)[0][0] for k in targets]
    return torch.stack(grads)


@pytest.fixture(scope="module")
def effnet():
    loaded = H.load_model("auto", timeout=0)  # conftest sets BACKPROPVIS_OFFLINE=1
    if loaded.name != "efficientnet_lite0":
        pytest.skip(f"'auto' loaded {loaded.name}, not the offline EfficientNet-Lite0")
    x = loaded.prepare(H.load_image("chelsea", 96))  # top-3: 285, 282, 281 (cats)
    return loaded.model, x


def test_effnet_relu6_saturates_so_the_upper_mask_matters(effnet):
    model, x = effnet
    above = []
    hooks = [
        m.register_forward_hook(lambda _m, i, _o: above.append(int((i[0] >= 6).sum())))
        for m in model.modules()
        if isinstance(m, nn.ReLU6)
    ]
    try:
        with torch.no_grad():
            model(x[None])
    finally:
        for hook in hooks:
            hook.remove()
    assert len(above) == 33 and sum(n > 0 for n in above) >= 20  # measured: all 33 calls at 96 px


@pytest.mark.parametrize("rule", ["guided", "deconv"])
def test_effnet_guided_and_deconv_equal_the_hook_reference(effnet, rule):
    model, x = effnet
    with torch.no_grad():
        best = int(model(x[None]).argmax())
    targets = [281, 482]  # tabby, the paper's Figure 1 logit; then "max" (285, Egyptian cat)
    got = H.backprop_map(model, x, [*targets, "max"], rule)
    ref = hooked_maps(model, x, [*targets, best], rule)
    scale = ref.abs().amax(dim=(1, 2, 3), keepdim=True)
    assert bool((scale > 0).all())
    # same float32 forward, same operations backward: measured max |diff| 0 (bitwise equal)
    torch.testing.assert_close(got / scale, ref / scale, atol=1e-5, rtol=0)
    other = hooked_maps(model, x, [281], "deconv" if rule == "guided" else "guided")[0]
    assert abs(H.pearson(got[0], other)) < 0.5  # the two rules differ (measured |rho| 0.06)


# --- the trained VGG-16 against Captum, where its weights are cached -------------------------


def vgg16_checkpoint() -> Path:
    from torchvision.models import VGG16_Weights

    url = VGG16_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


CAPTUM = {"guided": "GuidedBackprop", "deconv": "Deconvolution"}


@pytest.mark.parametrize("rule", ["guided", "deconv"])
def test_trained_vgg16_matches_captum_where_cached(rule):
    captum_attr = pytest.importorskip("captum.attr")
    path = vgg16_checkpoint()
    if not path.exists():
        pytest.skip(
            f"VGG-16 IMAGENET1K_V1 weights not cached at {path}: Captum on the trained "
            "VGG-16 not run (no download in tests)"
        )
    model = H.load_model("vgg16").model
    x = H.preprocess(H.load_image("chelsea", 64), "imagenet")
    targets = [281, 482]
    got = H.backprop_map(model, x, targets, rule)
    method = getattr(captum_attr, CAPTUM[rule])(model)
    for m, k in zip(got, targets, strict=True):
        ref = method.attribute(x[None].clone().requires_grad_(True), target=k)[0].detach()
        scale = float(ref.abs().max())
        assert scale > 0
        torch.testing.assert_close(m, ref, atol=1e-5 * scale, rtol=1e-4)
