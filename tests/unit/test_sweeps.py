"""The nested sweeps: one rule argument convention, and rows equal to single networks."""

from __future__ import annotations

import torch

import helpers as H


def test_conv_sweep_rows_are_the_networks_of_each_size():
    x = torch.rand(3, 14, 14, generator=torch.Generator().manual_seed(0))
    sizes = [3, 70, 3]
    one = H.conv_map_sweep(x, sizes, 5, target=2, rule="deconv", n_logits=4)
    many = H.conv_map_sweep(x, sizes, 5, target=2, rule=["deconv", "plain"], n_logits=4)
    assert one.shape == (3, 3, 14, 14) and many.shape == (2, 3, 3, 14, 14)
    torch.testing.assert_close(one, many[0])
    for rule_maps, rule in zip(many, ("deconv", "plain"), strict=True):
        for size, m in zip(sizes, rule_maps, strict=True):
            net = H.ThreeLayerConvNet(size, 5, n_logits=4)
            ref = H.backprop_map(net, x, 2, rule)
            # float32 summation order: measured up to 5.5e-7 of the map's scale on the
            # default, AVX2 and AVX-512 kernels; a wrong filter or rule is off by O(1)
            scale = float(ref.abs().max())
            torch.testing.assert_close(m, ref, atol=1e-5 * scale, rtol=0)


def test_fc_sweep_equals_autograd_for_every_rule():
    x = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(1))
    fc = H.FullyConnectedNet((3, 6, 6), 300, n_logits=3)
    dense = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(108, 300, bias=False),
                                torch.nn.ReLU(), torch.nn.Linear(300, 3, bias=False))  # fmt: skip
    w, v = fc.dense_weights()
    with torch.no_grad():
        dense[1].weight.copy_(w)
        dense[3].weight.copy_(v.T)
    got = H.fc_map_sweep(fc, x, [300], targets=[0, 2], rules=H.RULES)  # (1, R, 1, T, 3, H, W)
    for r_i, rule in enumerate(H.RULES):
        ref = H.backprop_map(dense, x, [0, 2], rule)
        torch.testing.assert_close(got[0, r_i, 0], ref, atol=1e-5, rtol=1e-4)
