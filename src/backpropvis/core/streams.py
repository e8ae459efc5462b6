"""Named random streams: every random weight of the book, defined once by name.

A stream is ``(seed, key, *index)`` hashed by NumPy's ``SeedSequence`` into a 63-bit seed for a
fresh ``torch.Generator``, so a tensor depends on its name and index alone: not on the order
of calls, the global RNG, the platform or the process. The paper's random quantities:

============== ===== =========================== ===========================================
stream         key   index                       draws
============== ===== =========================== ===========================================
CONV_FILTERS   0     (kernel_size k, block b)    filters ``w_i`` of Eq. (1), ``(64, 3, k, k)``
CONV_V         1     (logit k, block b)          ``V[q_ij, k]`` of Eq. (1), ``(64, J_h, J_w)``
FC_W           0     (block b)                   rows ``w_i`` of Eq. (7), ``(256, d)``
FC_V           1     (block b)                   rows ``V[i, :]`` of Eq. (7), ``(256, K)``
PATCH_NET      2     (0: ``W``, 1: ``V``)        the 1-D net of Eq. (1), float64 after
MC_H           3     ()                          Monte Carlo ``V`` for ``E[h(V)]``
MC_W_TILDE     4     ()                          Monte Carlo ``w`` for ``E[w~]``
CONCENTRATION  5     (patch size p)              filter sequences of the concentration runs
BOOTSTRAP      6     ()                          resampling of the concentration fit (NumPy)
READOUTS       60    (module index l)            readout weights ``V_l`` of deeper layers
DIGITS_SPLIT   70    ()                          the train/test split of the digits
PERMUTATION    71    ()                          the permuted labels of the digits
TRAINED_INIT   72    (module index l)            initial weights of a trained network
BATCH_ORDER    73    (epoch e)                   the order of the training digits
STEP_B_NULL    74    (draw r)                    shuffled ``V`` of the step-(b) null
============== ===== =========================== ===========================================

``CONV_FILTERS``/``FC_W`` and ``CONV_V``/``FC_V`` share a key but not the index length, so
their streams differ. Keys are part of the book's numbers: changing one changes every figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

__all__: list[str] = []  # used by the library, not re-exported to the chapters


def derived_seed(*keys: int) -> int:
    """A 63-bit seed derived from integer keys (stable across runs, platforms and processes)."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class Stream(NamedTuple):
    """One named random stream; ``key`` separates it from the others under the same seed."""

    name: str
    key: int

    def seed(self, seed: int, *index: int) -> int:
        """The derived seed of ``(seed, key, *index)``."""
        return derived_seed(seed, self.key, *index)

    def generator(self, seed: int, *index: int) -> torch.Generator:
        """A fresh CPU ``torch.Generator`` at the start of this stream."""
        return torch.Generator().manual_seed(self.seed(seed, *index))

    def randn(self, shape: Sequence[int], seed: int, *index: int) -> torch.Tensor:
        """Standard normal float32 tensor of ``shape`` on the CPU, from this stream alone."""
        return torch.randn(*shape, generator=self.generator(seed, *index))


CONV_FILTERS = Stream("convnet filters w_i", 0)
CONV_V = Stream("convnet weights V[q_ij, k]", 1)
FC_W = Stream("fully connected first layer w_i", 0)
FC_V = Stream("fully connected weights V[i, k]", 1)
PATCH_NET = Stream("1-D patch net W and V", 2)
MC_H = Stream("Monte Carlo V for E[h(V)]", 3)
MC_W_TILDE = Stream("Monte Carlo w for E[w~]", 4)
CONCENTRATION = Stream("filter sequences of the concentration runs", 5)
BOOTSTRAP = Stream("bootstrap of the concentration fit", 6)
READOUTS = Stream("random readouts of deeper layers", 60)
DIGITS_SPLIT = Stream("train/test split of the digits", 70)
PERMUTATION = Stream("permuted labels of the digits", 71)
TRAINED_INIT = Stream("initial weights of a trained network", 72)
BATCH_ORDER = Stream("order of the training digits in an epoch", 73)
STEP_B_NULL = Stream("shuffled V of the step-(b) null", 74)
INJECTED = Stream("relevance vectors injected at the logits (CSC)", 75)
DEEP_CONV = Stream("layers of the deep random convnets", 76)
