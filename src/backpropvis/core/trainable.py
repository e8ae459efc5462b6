"""Networks the book trains itself, and their seeded, deterministic training.

* :func:`trainable_convnet`: the paper's Eq. (1), conv ``k x k x 3 x N`` (no bias) -> ReLU ->
  fully connected ``V`` (no bias), as an ``nn.Sequential`` whose weights are stored;
* :func:`trainable_fc_net`: the paper's Eq. (7), fully connected ``W`` -> ReLU -> ``V``;
* :func:`sanity_cnn`: the MNIST CNN of Adebayo et al. (2018): conv 5x5x32, max pool, conv
  5x5x64, max pool, fully connected 1024, fully connected 10 (ReLUs, biases).

Every weight starts i.i.d. ``N(0, 1 / fan_in)`` (LeCun; the paper's ``c`` per layer, so that
the logits of an untrained net are of order one), biases at zero, drawn from a named stream
(:mod:`.streams`) per module. :func:`train` runs Adam on minibatches in an order drawn from the
seed per epoch: the same seed gives bitwise identical weights on one machine (with its number
of threads). It records the first epoch at which the training accuracy reaches ``fit_at``, stops
there or after ``max_epochs``, and keeps the weights at the chosen epochs.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from . import streams
from .checks import check_positive_int, check_seed

__all__ = [
    "accuracy",
    "sanity_cnn",
    "train",
    "trainable_convnet",
    "trainable_fc_net",
]


def _seeded(model: nn.Sequential, seed: int) -> nn.Sequential:
    """Draw every weight of ``model`` from :data:`streams.TRAINED_INIT` (module index ``l``)."""
    with torch.no_grad():
        for index, module in enumerate(model):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                w = streams.TRAINED_INIT.randn(module.weight.shape, seed, index)
                fan_in = module.weight[0].numel()
                module.weight.copy_(w / math.sqrt(fan_in))
                if module.bias is not None:
                    module.bias.zero_()
    return model


def _size(size: int, at_least: int) -> int:
    size = check_positive_int(size, "size")
    if size < at_least:
        raise ValueError(f"size must be at least {at_least} pixels for this network, got {size}")
    return size


def trainable_convnet(
    n_filters: int = 64, kernel_size: int = 7, size: int = 24, n_classes: int = 10, seed: int = 0
) -> nn.Sequential:
    """Eq. (1) with stored weights: ``f_k(x) = sum_ij V[q_ij, k] relu(w_i . y_j)``, valid
    convolution (``J = (size - k + 1)^2`` patches), no biases."""
    n = check_positive_int(n_filters, "n_filters (N)")
    k = check_positive_int(kernel_size, "kernel_size")
    j = _size(size, k) - k + 1
    net = nn.Sequential(
        nn.Conv2d(3, n, k, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(n * j * j, check_positive_int(n_classes, "n_classes"), bias=False),
    )
    return _seeded(net, check_seed(seed))


def trainable_fc_net(
    hidden: int = 256, size: int = 24, n_classes: int = 10, seed: int = 0
) -> nn.Sequential:
    """Eq. (7) with stored weights: ``f_k(x) = sum_i V[i, k] relu(w_i . x)``, no biases."""
    d = 3 * _size(size, 1) ** 2
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(d, check_positive_int(hidden, "hidden (N_h)"), bias=False),
        nn.ReLU(),
        nn.Linear(hidden, check_positive_int(n_classes, "n_classes"), bias=False),
    )
    return _seeded(net, check_seed(seed))


def sanity_cnn(size: int = 24, n_classes: int = 10, seed: int = 0) -> nn.Sequential:
    """Adebayo et al.'s MNIST CNN (module docstring); 'same' convolutions, ``size`` a multiple
    of 4."""
    size = _size(size, 4)
    if size % 4:
        raise ValueError(f"size must be a multiple of 4 (two 2x2 pools), got {size}")
    net = nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (size // 4) ** 2, 1024),
        nn.ReLU(),
        nn.Linear(1024, check_positive_int(n_classes, "n_classes")),
    )
    return _seeded(net, check_seed(seed))


@dataclass
class TrainingRun:
    """What :func:`train` did: per epoch the training loss and accuracy (``history``, entry 0:
    before training), the epoch at which the training accuracy first reached ``fit_at``
    (``None``: never), the optimizer steps taken, and the weights after the steps asked for
    (``checkpoints``, keyed by step; 0: the initial weights)."""

    model: nn.Module
    history: list[dict[str, float]]
    epochs: int
    fitted_at: int | None
    steps: int
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)

    def at(self, step: int) -> nn.Module:
        """A copy of the model with the weights after ``step`` optimizer steps."""
        if step not in self.checkpoints:
            raise ValueError(f"no checkpoint at step {step}; kept: {sorted(self.checkpoints)}")
        model = copy.deepcopy(self.model)
        model.load_state_dict(self.checkpoints[step])
        return model.eval()


def _logits(model: nn.Module, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The share of ``x`` that ``model`` labels ``y``."""
    return float((_logits(model, x).argmax(1) == y).float().mean())


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Training loss and accuracy from one forward pass over ``x``."""
    logits = _logits(model, x)
    return {
        "loss": float(nn.functional.cross_entropy(logits, y)),
        "train_accuracy": float((logits.argmax(1) == y).float().mean()),
    }


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    max_epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    fit_at: float = 1.0,
    checkpoints: Sequence[int] = (),
    stop_when_fit: bool = True,
    progress: bool = True,
    desc: str = "training",
) -> TrainingRun:
    """Train ``model`` (in place) on inputs ``x`` and labels ``y`` by Adam on cross-entropy
    (module docstring); checkpoints after the optimizer steps in ``checkpoints`` (0: the
    initial weights; an epoch is ``ceil(len(x) / batch_size)`` steps) that are reached, and
    at the last step; ``stop_when_fit=False`` trains all ``max_epochs``.
    ``progress``: one bar, its line showing the epoch's accuracy."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{len(x)} inputs for {len(y)} labels")
    max_epochs = check_positive_int(max_epochs, "max_epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    if not 0 < fit_at <= 1:
        raise ValueError(f"fit_at must be a training accuracy in (0, 1], got {fit_at}")
    seed = check_seed(seed)
    keep = {int(e) for e in checkpoints}
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = [_evaluate(model, x, y)]
    saved = {0: copy.deepcopy(model.state_dict())} if 0 in keep else {}
    step = 0
    fitted = 0 if history[0]["train_accuracy"] >= fit_at else None
    bar = tqdm(range(1, max_epochs + 1), desc=desc, disable=not progress)
    for epoch in bar:
        if fitted is not None and stop_when_fit:
            break
        order = torch.randperm(len(x), generator=streams.BATCH_ORDER.generator(seed, epoch))
        model.train()
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            step += 1
            if step in keep:
                saved[step] = copy.deepcopy(model.state_dict())
        model.eval()
        history.append(_evaluate(model, x, y))
        bar.set_postfix(train_accuracy=f"{history[-1]['train_accuracy']:.3f}")
        if fitted is None and history[-1]["train_accuracy"] >= fit_at:
            fitted = epoch
    bar.close()
    saved[step] = copy.deepcopy(model.state_dict())  # the final weights
    return TrainingRun(model.eval(), history, len(history) - 1, fitted, step, saved)
