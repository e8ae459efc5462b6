"""Deeper readouts and model randomization: VGG-16's layer names, readouts by hand."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import helpers as H
from backpropvis.core import streams


def test_conv_relus_names_vgg16_layers():
    from torchvision.models import vgg16

    with torch.device("meta"):  # the layer structure only: no 138M weights drawn
        features = vgg16(weights=None).features
    relus = H.conv_relus(features)
    assert list(relus)[:3] == ["conv1_1", "conv1_2", "conv2_1"] and len(relus) == 13
    assert relus["conv5_3"] == 29 and isinstance(features[relus["conv3_3"]], torch.nn.ReLU)
    assert isinstance(features[relus["conv3_3"] - 1], torch.nn.Conv2d)


def test_layer_readouts_equal_a_hand_computed_readout():
    """Logit l is <V_l, a_l(x)>: a_l the ReLU output after module layers[l], V_l ~ N(0, 1) of
    its shape from the READOUTS stream of (seed, layers[l]); one column per layer, in order."""
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 5, 3), nn.ReLU()
    )
    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a1 = F.relu(features[0](x))  # (2, 4, 10, 10), module 1's output
        a4 = F.relu(features[3](F.max_pool2d(a1, 2)))  # (2, 5, 3, 3), module 4's output
        v1 = streams.READOUTS.randn((4, 10, 10), 7, 1)
        v4 = streams.READOUTS.randn((5, 3, 3), 7, 4)
        expected = torch.stack([(a4 * v4).sum((1, 2, 3)), (a1 * v1).sum((1, 2, 3))], dim=1)
        got = H.LayerReadouts(features, [4, 1], seed=7)(x)
    assert got.shape == (2, 2)
    torch.testing.assert_close(got, expected)
    # the readout weights are standard normal (400 and 45 draws; 4 standard errors)
    assert abs(float(v1.std()) - 1) < 4 / (2 * 400) ** 0.5 and abs(float(v1.mean())) < 0.2
    # another seed draws other weights; the same seed, the same logits
    with torch.no_grad():
        other = H.LayerReadouts(features, [4, 1], seed=8)(x)
        again = H.LayerReadouts(features, [4, 1], seed=7)(x)
    assert torch.equal(again, got) and not torch.allclose(other, got)
