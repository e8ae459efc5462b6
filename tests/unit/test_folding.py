"""BatchNorm folded into the convolution before it (backpropvis.core.folding): the same logits and
input gradients, no BatchNorm left, the original untouched, and a clear refusal where folding
would change the function."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import helpers as H


def conv_bn_net(seed: int = 0) -> nn.Sequential:
    """conv-BN-ReLU6 twice (the second depthwise), with BatchNorm statistics that are not the
    identity, then a linear layer to 5 logits (10 x 10 input)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU6(),
        nn.Conv2d(6, 6, 3, padding=1, groups=6),
        nn.BatchNorm2d(6),
        nn.ReLU6(),
        nn.Flatten(),
        nn.Linear(600, 5),
    )
    for bn in (net[1], net[4]):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


class SkipFromConv(nn.Module):
    """``bn(conv(x)) + conv(x)``: the convolution's output is also used beside its BatchNorm."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv, self.bn, self.head = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), None
        self.bn.running_mean.fill_(0.3)
        self.bn.running_var.fill_(2.0)

    def forward(self, x):
        y = self.conv(x)
        return (self.bn(y) + y).flatten(1)


def input_gradient(model, x, k=2):
    x = x.clone().requires_grad_(True)
    return torch.autograd.grad(model(x)[:, k].sum(), x)[0]


def test_folded_network_has_the_same_logits_and_input_gradients():
    net = conv_bn_net()
    xs = torch.randn(4, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fast = H.folded_for_maps(net, xs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    torch.testing.assert_close(fast(xs), net(xs), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(input_gradient(fast, xs), input_gradient(net, xs), rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # untouched
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 2


def test_folding_refuses_a_training_network_and_a_changed_function():
    net = conv_bn_net().train()
    with pytest.raises(ValueError, match="eval"):
        H.folded_for_maps(net, torch.zeros(1, 3, 10, 10))
    with pytest.raises(ValueError, match="changed SkipFromConv's logits"):
        H.folded_for_maps(SkipFromConv().eval(), torch.randn(2, 3, 6, 6))


def test_a_batchnorm_after_an_inplace_activation_is_left_alone():
    """conv -> ReLU(inplace) -> BN: the BatchNorm reads the convolution's tensor object, but
    modified in place, so it is not folded, and the copy computes the same function."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.BatchNorm2d(4))
    net[2].running_mean.fill_(0.2)
    net = nn.Sequential(*net, nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    xs = torch.randn(2, 3, 6, 6)
    fast = H.folded_for_maps(net, xs)
    assert isinstance(fast[2], nn.BatchNorm2d)
    torch.testing.assert_close(fast(xs), net(xs))
