"""The one padding rule and the patch grid it implies."""

from __future__ import annotations

import pytest
import torch

import helpers as H
from backpropvis.core.patches import PADDINGS, check_kernel, padding_pixels, patch_grid


def test_padding_rule_and_grid_match_the_convnet():
    assert padding_pixels(7, "valid") == 0 and padding_pixels(7, "same") == 3
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        padding_pixels(7, "full")
    with pytest.raises(ValueError, match="'same' padding needs an odd kernel_size"):
        padding_pixels(4, "same")
    for padding in PADDINGS:
        net = H.ThreeLayerConvNet(2, 5, n_logits=1, padding=padding)
        assert net.features(torch.zeros(1, 3, 11, 9)).shape[-2:] == patch_grid(11, 9, 5, padding)
        assert H.patch_norms(torch.ones(3, 11, 9), 5, padding).shape == patch_grid(
            11, 9, 5, padding
        )


def test_one_message_for_an_image_smaller_than_the_kernel():
    small = torch.ones(3, 5, 5)
    message = r"image \(5, 5\) is smaller than the 7x7 kernel with 'valid' padding"
    with pytest.raises(ValueError, match=message):
        check_kernel(small, 7, "valid")
    with pytest.raises(ValueError, match=message):
        H.gbp_limit(small, 7)
    with pytest.raises(ValueError, match=message):
        H.ThreeLayerConvNet(2, 7, n_logits=1).features(small[None])
    assert check_kernel(small, 7, "same") == (7, 3)
