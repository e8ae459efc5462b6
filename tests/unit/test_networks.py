"""The paper's networks against Eq. (2) written out independently, and their seeding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import helpers as H


def eq2_conv(net: H.ThreeLayerConvNet, x: torch.Tensor, k: int, rule: str) -> torch.Tensor:
    """sum_j D_j^T sum_i h(V_{q_ij,k}) w~(i,j), looping over patches j (VALID, stride 1)."""
    w = net.conv.weight.detach().reshape(net.n_filters, -1)  # (N, p)
    ks = net.kernel_size
    jh, jw = x.shape[1] - ks + 1, x.shape[2] - ks + 1
    v = net.fc_column(k, (jh, jw)).reshape(net.n_filters, -1)  # (N, J)
    out = torch.zeros_like(x)
    for j in range(jh * jw):
        r, c = divmod(j, jw)
        y = x[:, r : r + ks, c : c + ks].reshape(-1)  # D_j x, (p,)
        active = (w @ y > 0).float()  # w~(i, j) = w_i [w_i . y_j > 0]
        h = v[:, j] if rule == "plain" else v[:, j].clamp(min=0)
        out[:, r : r + ks, c : c + ks] += ((h * active) @ w).reshape(3, ks, ks)  # D_j^T
    return out


@pytest.mark.parametrize("rule", ["plain", "guided"])
def test_convnet_autograd_equals_eq2(rule):
    x = torch.randn(3, 9, 11, generator=torch.Generator().manual_seed(0))
    net = H.ThreeLayerConvNet(5, kernel_size=3, n_logits=4, seed=2)
    got = H.backprop_map(net, x, 2, rule)
    assert torch.allclose(got, eq2_conv(net, x, 2, rule), atol=1e-5)


def test_convnet_max_target_uses_all_logits():
    x = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(0))
    net = H.ThreeLayerConvNet(4, kernel_size=3, n_logits=6, seed=1)
    logits = net(x[None])[0]
    cols = net.select_logits(x[None], [0, 5])[0]
    assert torch.allclose(cols, logits[[0, 5]], atol=1e-5)
    best = int(logits.argmax())
    assert torch.allclose(H.backprop_map(net, x, "max"), H.backprop_map(net, x, best))


@pytest.mark.parametrize("rule", H.RULES)
def test_fc_fast_path_equals_eq2_and_autograd(rule):
    x = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0))
    net = H.FullyConnectedNet((3, 4, 5), hidden=600, n_logits=7, seed=4)  # > 2 blocks
    w, v = net.dense_weights()
    a = w @ x.reshape(-1)
    h = v[:, 3] if rule == "plain" else v[:, 3].clamp(min=0)
    mask = torch.ones_like(a) if rule == "deconv" else (a > 0).float()
    expected = ((h * mask) @ w).reshape(3, 4, 5)
    got = H.backprop_map(net, x, 3, rule)
    assert torch.allclose(got, expected, atol=1e-4)
    dense = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(60, 600, bias=False), torch.nn.ReLU()
    )
    dense.append(torch.nn.Linear(600, 7, bias=False))
    with torch.no_grad():
        dense[1].weight.copy_(w)
        dense[3].weight.copy_(v.T)
    assert torch.allclose(got, H.backprop_map(dense, x, 3, rule), atol=1e-4)
    assert torch.allclose(net(x[None]), dense(x[None]), atol=1e-3)


def test_fc_running_sums_equal_smaller_nets():
    x = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(1))
    big = H.FullyConnectedNet((3, 4, 4), hidden=700, n_logits=3, seed=5)
    sweep = big.maps(x, [1], "guided", sizes=[100, 256, 700])
    for i, n in enumerate([100, 256, 700]):
        small = H.FullyConnectedNet((3, 4, 4), hidden=n, n_logits=3, seed=5)
        assert torch.allclose(sweep[i, 0], H.backprop_map(small, x, 1, "guided"), atol=1e-4)


def test_convnet_filters_are_prefix_consistent():
    big = H.ThreeLayerConvNet(130, kernel_size=5, n_logits=3, seed=7)
    small = H.ThreeLayerConvNet(70, kernel_size=5, n_logits=3, seed=7)
    assert torch.equal(big.conv.weight[:70], small.conv.weight)
    assert torch.equal(big.fc_column(2, (4, 4))[:70], small.fc_column(2, (4, 4)))


def test_same_seed_bitwise_identical_maps_and_different_seeds_differ():
    x = H.preprocess(H.load_image("coffee", 32), "centered")
    maps = [
        H.backprop_map(H.ThreeLayerConvNet(16, 5, 10, seed=s), x, [1, 2], "guided")
        for s in (0, 0, 1)
    ]
    assert torch.equal(maps[0], maps[1])
    assert not torch.equal(maps[0], maps[2])
    fc = [
        H.backprop_map(H.FullyConnectedNet((3, 32, 32), 300, 10, seed=s), x, 4) for s in (3, 3, 4)
    ]
    assert torch.equal(fc[0], fc[1])
    assert not torch.equal(fc[0], fc[2])
    v1, v2 = (H.load_model("vgg16_untrained", seed=9).model for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(v1.parameters(), v2.parameters(), strict=True))


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_convnet_features_are_relu_of_the_seeded_filters(padding):
    """``relu(w_i . y_j)`` with the seed's N(0, c^2) filters, on a random input; SAME padding
    (k // 2 zeros each side) keeps the image size."""
    x = torch.randn(2, 3, 12, 10, generator=torch.Generator().manual_seed(5))
    net = H.ThreeLayerConvNet(70, kernel_size=5, n_logits=2, std=0.5, padding=padding, seed=3)
    filters = 0.5 * H.ThreeLayerConvNet.filter_bank(70, 5, seed=3)  # 70 > one block of 64
    # 5250 N(0, 0.25) draws: the sample std's standard error is 0.5 / sqrt(2 * 5250) = 0.005
    assert abs(float(filters.std()) - 0.5) < 0.025 and abs(float(filters.mean())) < 0.025
    expected = F.conv2d(x, filters, padding=2 if padding == "same" else 0).relu()
    got = net.features(x)
    assert got.shape == ((2, 70, 12, 10) if padding == "same" else (2, 70, 8, 6))
    torch.testing.assert_close(got, expected)
    off = float((expected == 0).float().mean())
    assert 0.3 < off < 0.7  # about half the units are off (random filters): the ReLU acts


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: H.ThreeLayerConvNet(0), r"n_filters \(N\) must be a positive integer, got 0"),
        (lambda: H.ThreeLayerConvNet(-3), r"n_filters \(N\) must be a positive integer"),
        (lambda: H.ThreeLayerConvNet(4, kernel_size=0), "kernel_size must be a positive"),
        (lambda: H.ThreeLayerConvNet(4, padding="full"), "padding must be 'valid' or 'same'"),
        (lambda: H.ThreeLayerConvNet(4, std=-1.0), r"std \(the weight scale c\)"),
        (lambda: H.ThreeLayerConvNet(4, seed=-1), "seed must be a non-negative integer"),
        (lambda: H.FullyConnectedNet((3, 8, 8), 0), r"hidden \(N_h\) must be a positive"),
        (lambda: H.FullyConnectedNet((8, 8), 10), r"in_shape must be \(3, H, W\)"),
        (lambda: H.load_model("resnet"), "unknown model 'resnet'"),
    ],
)
def test_bad_network_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_image_smaller_than_kernel_and_wrong_shapes():
    net = H.ThreeLayerConvNet(4, kernel_size=7, n_logits=3)
    with pytest.raises(ValueError, match="smaller than the 7x7 kernel"):
        H.backprop_map(net, torch.zeros(3, 5, 5), 0)
    fc = H.FullyConnectedNet((3, 8, 8), 10, n_logits=3)
    with pytest.raises(ValueError, match="expected input of shape"):
        H.backprop_map(fc, torch.zeros(3, 9, 9), 0)
    with pytest.raises(ValueError, match="outside the model's logits 0..2"):
        H.backprop_map(fc, torch.zeros(3, 8, 8), 3)


def test_random_convnet_gbp_recovers_the_limit_and_plain_does_not():
    """The paper's central claim, at a size the test suite can afford (64 x 64, N = 256)."""
    x = H.preprocess(H.load_image("chelsea", 64), "centered")
    limit = H.gbp_limit(x, 7)
    for seed in range(3):
        net = H.ThreeLayerConvNet(256, 7, n_logits=10, seed=seed)
        gbp, plain = (H.backprop_map(net, x, [0, 1], r) for r in ("guided", "plain"))
        assert H.pearson(gbp[0], limit) > 0.9  # measured 0.945-0.953 over seeds 0-2
        assert abs(H.pearson(plain[0], limit)) < 0.1  # measured |rho| <= 0.016
        assert H.pearson(gbp[0], gbp[1]) > 0.85  # class invariance of GBP
        assert abs(H.pearson(plain[0], plain[1])) < 0.1
