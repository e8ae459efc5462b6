"""Named random streams: the same derived seeds as the bare keys they replaced."""

from __future__ import annotations

import torch

import helpers as H
from backpropvis.core import streams


def test_streams_keep_the_book_s_seeds():
    # Pinned from the single-module helpers (keys (seed, 0, k, b), (seed, 1, k, b), (seed, 60, l)):
    # a changed key or hash would change every figure of the book.
    assert streams.CONV_FILTERS.seed(0, 7, 0) == 6840754936244187882
    assert streams.CONV_V.seed(3, 482, 2) == 6868804200923866223
    assert streams.READOUTS.seed(1, 29) == 6846500073432638748
    v = streams.CONV_V.randn((3,), 0, 5, 0)
    assert v.tolist() == [0.7997336983680725, 1.1943013668060303, -0.08435533195734024]


def test_networks_draw_from_their_streams():
    net = H.ThreeLayerConvNet(70, 3, n_logits=4, std=2.0, seed=5)
    block1 = streams.CONV_FILTERS.randn((64, 3, 3, 3), 5, 3, 1)[:6]
    assert torch.equal(net.conv.weight.detach()[64:], 2.0 * block1)
    col = net.fc_column(3, (4, 4))
    assert torch.equal(col[:64], 2.0 * streams.CONV_V.randn((64, 4, 4), 5, 3, 0))
    fc = H.FullyConnectedNet((3, 4, 4), 10, n_logits=3, seed=2)
    w, v = fc.dense_weights()
    assert torch.equal(w, streams.FC_W.randn((256, 48), 2, 0)[:10])
    assert torch.equal(v, streams.FC_V.randn((256, 3), 2, 0)[:10])


def test_streams_are_distinct():
    keys = [(s.key, n) for s, n in [(streams.CONV_FILTERS, 2), (streams.CONV_V, 2),
            (streams.FC_W, 1), (streams.FC_V, 1), (streams.PATCH_NET, 1), (streams.MC_H, 0),
            (streams.MC_W_TILDE, 0), (streams.CONCENTRATION, 1), (streams.BOOTSTRAP, 0),
            (streams.READOUTS, 1), (streams.DIGITS_SPLIT, 0), (streams.PERMUTATION, 0),
            (streams.TRAINED_INIT, 1), (streams.BATCH_ORDER, 1),
            (streams.STEP_B_NULL, 1)]]  # fmt: skip
    assert len(set(keys)) == len(keys)  # (key, index length) tells every stream apart
