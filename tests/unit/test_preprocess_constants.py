"""The preprocessings against their published constants, channel by channel.

``"imagenet"``: the mean and std torchvision publishes with VGG-16's ImageNet weights (read from
the weights' own transform, which ships with torchvision: no download). ``"centered"``: the
author's code subtracts VGG's mean pixel from 0-255 RGB, [123.68, 116.779, 103.939] (the VGG
release's Caffe mean, BGR [103.939, 116.779, 123.68], in RGB order), and does not rescale.
``"efficientnet"``: TF-Lite's (255 x - 127) / 128. A changed or reordered constant fails here.
"""

from __future__ import annotations

import torch

import helpers as H

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
VGG_MEAN_RGB_255 = (123.68, 116.779, 103.939)


def channel_image(levels=(51, 128, 230), size=(4, 5)) -> torch.Tensor:
    """A (3, H, W) image in [0, 1] from 8-bit levels: red, green and blue each constant,
    distinct, so a constant applied to the wrong channel shows; one pixel is white, one black."""
    x = torch.tensor(levels, dtype=torch.float32)[:, None, None].expand(3, *size).clone()
    x[:, 0, 0], x[:, -1, -1] = 255.0, 0.0
    return x / 255


def test_imagenet_is_torchvisions_vgg16_normalization():
    import torchvision.transforms.functional as TF
    from torchvision.models import VGG16_Weights

    published = VGG16_Weights.IMAGENET1K_V1.transforms()  # the weights' own preprocessing
    assert tuple(published.mean) == IMAGENET_MEAN and tuple(published.std) == IMAGENET_STD
    x = channel_image()
    got = H.preprocess(x, "imagenet")
    torch.testing.assert_close(got, TF.normalize(x, published.mean, published.std))
    for c in range(3):  # by hand, channel by channel, from the literal constants
        expected = (x[c] - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        torch.testing.assert_close(got[c], expected, rtol=1e-6, atol=1e-6)
    photo = H.load_image("chelsea", 16)[None].repeat(2, 1, 1, 1)  # a batch normalizes alike
    torch.testing.assert_close(
        H.preprocess(photo, "imagenet"), TF.normalize(photo, published.mean, published.std)
    )


def test_centered_subtracts_the_vgg_mean_pixel_in_0_255_units():
    x = channel_image()
    got = H.preprocess(x, "centered")
    for c in range(3):
        # 0-255 RGB minus the mean, as the author's code feeds VGG; back in [0, 1] units (/255)
        expected = (255 * x[c] - VGG_MEAN_RGB_255[c]) / 255
        torch.testing.assert_close(got[c], expected, rtol=1e-6, atol=1e-6)
    # no rescaling: a unit step of the input is a unit step of the output
    torch.testing.assert_close(H.preprocess(x + 0.1, "centered") - got, torch.full_like(x, 0.1))


def test_efficientnet_is_tflite_convention():
    x = channel_image()
    torch.testing.assert_close(H.preprocess(x, "efficientnet"), (255 * x - 127) / 128)
    torch.testing.assert_close(H.preprocess(x, "none"), x)
