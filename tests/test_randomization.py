"""Deeper readouts and model randomization: VGG-16's layer names."""

from __future__ import annotations

import torch

import helpers as H


def test_conv_relus_names_vgg16_layers():
    from torchvision.models import vgg16

    features = vgg16(weights=None).features
    relus = H.conv_relus(features)
    assert list(relus)[:3] == ["conv1_1", "conv1_2", "conv2_1"] and len(relus) == 13
    assert relus["conv5_3"] == 29 and isinstance(features[relus["conv3_3"]], torch.nn.ReLU)
    assert isinstance(features[relus["conv3_3"] - 1], torch.nn.Conv2d)
