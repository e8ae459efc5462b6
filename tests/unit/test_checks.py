"""The one target parser and argument checks behind every entry point."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import helpers as H
from backpropvis.core.checks import parse_targets, resolve_targets


def test_parse_targets_accepts_ints_max_and_lists():
    assert parse_targets(3) == ([3], True)
    assert parse_targets(np.int64(3)) == ([3], True)
    assert parse_targets("max") == (["max"], True)
    assert parse_targets([0, "max", 2]) == ([0, "max", 2], False)
    assert resolve_targets(["max", 1], torch.tensor([0.0, 5.0, 1.0]), 3) == [1, 1]


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (-1, "targets: target -1 is outside"),
        ([0, -2], "targets: target -2 is outside"),
        (9.7, "targets: each target must be an int logit index or 'max', got 9.7"),
        (True, "targets: each target must be"),
        ("min", "targets: each target must be"),
        ([], "targets: the target list is empty"),
        (5, r"targets: target 5 is outside the model's logits 0..4"),
    ],
)
def test_parse_targets_refuses_with_a_named_error(targets, message):
    with pytest.raises(ValueError, match=message):
        parse_targets(targets, n_logits=5)


def test_every_entry_point_refuses_negative_and_fractional_targets():
    x = torch.rand(3, 12, 12)
    conv = H.ThreeLayerConvNet(4, 3, n_logits=5)
    fc = H.FullyConnectedNet((3, 12, 12), 8, n_logits=5)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 12, 5), nn.ReLU())
    calls = [
        lambda t: H.backprop_map(conv, x, t),
        lambda t: H.backprop_map(fc, x, t),
        lambda t: H.backprop_maps(conv, x[None], targets=t),
        lambda t: H.backprop_maps(mlp, x[None], targets=t),  # no select_logits: K from out
        lambda t: H.conv_map_sweep(x, [2], 3, target=t, n_logits=5),
        lambda t: H.fc_map_sweep(fc, x, targets=[t]),
    ]
    for call in calls:
        for bad in (-1, 9.7):
            with pytest.raises(ValueError, match="targets"):
                call(bad)


def test_a_string_rules_value_is_one_rule():
    x = torch.rand(3, 12, 12)
    conv = H.ThreeLayerConvNet(4, 3, n_logits=5)
    maps, idx = H.backprop_maps(conv, x[None], rules="guided", targets=2)
    assert list(maps) == ["guided"] and maps["guided"].shape == (1, 3, 12, 12)
    assert idx.tolist() == [2]
    torch.testing.assert_close(maps["guided"][0], H.backprop_map(conv, x, 2, "guided"))
    fc = H.FullyConnectedNet((3, 12, 12), 8, n_logits=5)
    assert H.fc_map_sweep(fc, x, rules="guided").shape == (1, 1, 1, 1, 3, 12, 12)
    both, idx = H.backprop_maps(conv, torch.stack([x, x]), "guided", ["max", 1])
    top = int(conv(x[None]).argmax())
    assert both["guided"].shape == (2, 2, 3, 12, 12) and idx.tolist() == [[top, top], [1, 1]]
    torch.testing.assert_close(both["guided"][0, 1], H.backprop_map(conv, x, "max", "guided"))
    torch.testing.assert_close(both["guided"][1, 0], H.backprop_map(conv, x, 1, "guided"))
