"""The handwritten digits of scikit-learn (no download), the data set the book trains on.

``sklearn.datasets.load_digits``: 1,797 gray digits of 8 x 8 pixels (values 0..16), 10 classes.
:func:`load_digits_split` splits them (stratified, from a seed), upsamples them bilinearly to
``size`` x ``size`` and repeats the gray channel three times, so every network and map function
of the book takes them as it takes a photo: float32 ``(3, H, W)`` in [0, 1]. A model sees them
through :meth:`Digits.prepare`, centred and scaled by the training set's pixel mean and
standard deviation (the fully connected net of Eq. 7 does not train on uncentred inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import streams
from .checks import check_positive_int, check_seed
from .images import MIN_IMAGE_SIZE

__all__ = ["load_digits_split", "permuted_labels"]

N_DIGITS = 1797  # sklearn's digits
N_CLASSES = 10


@dataclass(frozen=True)
class Digits:
    """A seeded split of the digits: images ``(n, 3, size, size)`` in [0, 1], labels ``(n,)``;
    ``mean`` and ``std``: the training pixels' (what :meth:`prepare` removes)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: float
    std: float
    seed: int

    n_classes = N_CLASSES

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The model's input: ``(x - mean) / std`` (a black digit is ``-mean / std``)."""
        return (x - self.mean) / self.std


def permuted_labels(labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``labels`` in a seeded random order: the data randomization test's labels, with the same
    count of every class as the true ones."""
    g = streams.PERMUTATION.generator(check_seed(seed))
    return labels[torch.randperm(len(labels), generator=g)]


def _upsampled(images: np.ndarray, size: int) -> torch.Tensor:
    x = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()


def load_digits_split(size: int = 24, n_test: int = 500, seed: int = 0) -> Digits:
    """The digits, split into ``1797 - n_test`` training and ``n_test`` test digits, every class
    in both in proportion (stratified, from ``seed``), upsampled to ``size`` x ``size``."""
    from sklearn.datasets import load_digits  # heavy: first use only

    size = check_positive_int(size, "size")
    if size < MIN_IMAGE_SIZE:
        raise ValueError(f"size must be at least {MIN_IMAGE_SIZE} pixels, got {size}")
    n_test = check_positive_int(n_test, "n_test")
    if not N_CLASSES <= n_test <= N_DIGITS - N_CLASSES:
        raise ValueError(
            f"n_test must leave every class in both parts: {N_CLASSES}..{N_DIGITS - N_CLASSES}"
            f" of the {N_DIGITS} digits, got {n_test}"
        )
    data = load_digits()
    labels = torch.as_tensor(data.target, dtype=torch.long)
    g = streams.DIGITS_SPLIT.generator(check_seed(seed))
    order = torch.randperm(len(labels), generator=g)
    # stratified: the first share of each class (in the seeded order) goes to the test set
    test = torch.zeros(len(labels), dtype=torch.bool)
    for k in range(N_CLASSES):
        idx = order[labels[order] == k]
        test[idx[: round(n_test * len(idx) / len(labels))]] = True
    extra = n_test - int(test.sum())  # rounding: fill up or give back in the seeded order
    free = order[~test[order]] if extra > 0 else order[test[order]]
    test[free[: abs(extra)]] = extra > 0
    images = _upsampled(data.images, size)
    train_x, test_x = images[~test], images[test]
    return Digits(
        train_x=train_x,
        train_y=labels[~test],
        test_x=test_x,
        test_y=labels[test],
        mean=float(train_x.mean()),
        std=float(train_x.std()),
        seed=seed,
    )
