"""Step (b) of Eq. (3), measured: are the upper weights ``V`` independent of the active filters?

Eq. (3) turns the expected map ``E[sum_ij D_j^T h(V[q_ij, k]) w~(i, j)]`` into
``sum_ij D_j^T E[h(V)] E[w~]`` by step (b): ``V`` independent of ``w~(i, j) = w_i [w_i . y_j >
0]``. The part of the map that step (b) drops is ``sum_ij D_j^T (h(V[q_ij, k]) - mean h)
w~(i, j)``; its component along the input is ``sum_ij (h(V[q_ij, k]) - mean h) z_ij`` with
``z_ij = relu(w_i . y_j)``, because ``<D_j^T w~(i, j), x> = w~(i, j) . y_j = z_ij``. So the
statistic of :func:`step_b_departure` is, per image, the Pearson correlation over the units
``(i, j)`` between ``h(V[q_ij, k])`` and ``z_ij``, for ``k`` the image's label, averaged over
images. Under step (b) it is 0. Its error is the spread it has when ``V`` is replaced by a
copy of itself shuffled over the units (independent of ``w~`` by construction), drawn from a
seed: the statistic departs from step (b) by ``value / error`` such errors.

The unit layer is the input of the network's last linear layer: the ReLU of Eq. (1)'s
convolution (``N J`` units), of Eq. (7)'s hidden layer (``N_h``), or of any network's penultimate
layer. The label ``k`` is the data's, not the network's top class, which would select a ``V``
column that correlates with ``z`` even at initialization.
"""

from __future__ import annotations

import torch
from torch import nn

from . import streams
from .checks import check_positive_int, check_seed
from .rules import check_rule, h

__all__ = ["step_b_departure"]


def _last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear layer: no V to measure step (b) on")
    return linears[-1]


def _units(model: nn.Module, layer: nn.Linear, xs: torch.Tensor) -> torch.Tensor:
    store = {}
    handle = layer.register_forward_pre_hook(lambda m, i: store.__setitem__("z", i[0]))
    try:
        with torch.no_grad():
            model(xs)
    finally:
        handle.remove()
    return store["z"].reshape(len(xs), -1).double()


def _mean_correlation(a: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean over images ``b`` of corr(a[b], z[b]) over units; ``a``, ``z``: ``(B, n)``."""
    a = a - a.mean(1, keepdim=True)
    z = z - z.mean(1, keepdim=True)
    den = a.norm(dim=1) * z.norm(dim=1)
    r = (a * z).sum(1) / den
    return r[den > 0].mean()


def step_b_departure(
    model: nn.Module,
    xs: torch.Tensor,
    labels: torch.Tensor,
    rule: str = "plain",
    n_null: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """Step (b) measured (module docstring) on images ``xs`` ``(B, 3, H, W)`` (the model's
    input) with their ``labels``: ``{"value", "error", "in_errors", "n_units"}``; ``rule`` is
    the backward rule ``h``, ``n_null`` the shuffled copies of ``V`` that give the error."""
    rule = check_rule(rule)
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if len(labels) != len(xs) or len(xs) < 2:
        raise ValueError(f"step (b) needs at least two images, one label each: {len(xs)} images,"
                         f" {len(labels)} labels")  # fmt: skip
    n_null = check_positive_int(n_null, "n_null")
    if n_null < 2:
        raise ValueError(f"n_null must be at least 2 (its spread is the error), got {n_null}")
    layer = _last_linear(model)
    if int(labels.min()) < 0 or int(labels.max()) >= layer.out_features:
        raise ValueError(f"labels must lie in 0..{layer.out_features - 1}")
    z = _units(model, layer, xs)
    hv = h(layer.weight.detach().double(), rule)  # (K, n): h(V[., k]) for every logit k
    if z.shape[1] != hv.shape[1]:
        raise ValueError(f"{z.shape[1]} units feed a last layer of {hv.shape[1]} inputs")
    value = float(_mean_correlation(hv[labels.to(hv.device)], z))
    null = []
    for r in range(n_null):
        g = streams.STEP_B_NULL.generator(check_seed(seed), r)
        shuffled = hv[:, torch.randperm(hv.shape[1], generator=g).to(hv.device)]
        null.append(float(_mean_correlation(shuffled[labels.to(hv.device)], z)))
    error = float(torch.tensor(null, dtype=torch.float64).std())
    return {"value": value, "error": error, "in_errors": value / error, "n_units": z.shape[1]}
