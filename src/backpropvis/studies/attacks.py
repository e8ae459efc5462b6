"""Adversarial examples: FGSM and PGD in the ``L_inf`` ball (do maps follow the decision?).

Images are ``(B, 3, H, W)`` in [0, 1], before :meth:`LoadedModel.prepare`; ``eps`` is in the
same pixel units.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.checks import check_positive_int, model_device
from ..core.models import LoadedModel

__all__ = ["attack_summary", "fgsm", "pgd"]


def fgsm(
    lm: LoadedModel, images: torch.Tensor, eps: float, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Fast gradient sign method: ``clip(x + eps sign(grad_x CE(f(x), label)), 0, 1)``.

    ``images``: ``(B, 3, H, W)`` in [0, 1] (before :meth:`LoadedModel.prepare`); ``labels``
    default to the model's top-1 classes (untargeted attack). ``eps`` in [0, 1] pixel units.
    """
    return pgd(lm, images, eps, steps=1, alpha=eps, labels=labels)


def pgd(
    lm: LoadedModel,
    images: torch.Tensor,
    eps: float,
    steps: int = 5,
    alpha: float | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy in the ``L_inf`` ball of radius ``eps``.

    Starts at the clean image (no random start), ``steps`` signed steps of ``alpha`` (default
    ``2.5 eps / steps``), each projected on the ball and on [0, 1]. Shapes as :func:`fgsm`.
    """
    steps = check_positive_int(steps, "steps")
    alpha = 2.5 * eps / steps if alpha is None else float(alpha)
    model = lm.model
    dev = model_device(model, images.device)
    x0 = images.detach().to(dev)
    if labels is None:
        with torch.no_grad():
            labels = model(lm.prepare(x0)).argmax(1)
    xa = x0.clone()
    for _ in range(steps):
        with torch.enable_grad():
            xg = xa.requires_grad_(True)
            loss = F.cross_entropy(model(lm.prepare(xg)), labels.to(dev))
            (g,) = torch.autograd.grad(loss, xg)
        xa = (x0 + (xa.detach() + alpha * g.sign() - x0).clamp(-eps, eps)).clamp(0, 1)
    return xa.to(images.device)


def attack_summary(
    clean: torch.Tensor, adv: torch.Tensor, top: torch.Tensor, new_top: torch.Tensor
) -> dict[str, float | list[int]]:
    """How far an attack moved the images ``(B, 3, H, W)`` in [0, 1] and whether it flipped
    the class: ``flipped`` (fraction of images whose top-1 class ``top`` became ``new_top``),
    ``linf_255`` (largest pixel change, 0-255 units), ``l2`` (mean ``||delta||_2``),
    ``l2_relative`` (mean ``||delta|| / ||x||``) and ``new_top``."""
    delta = (adv - clean).flatten(1)
    return {
        "flipped": float((new_top != top).float().mean()),
        "linf_255": float(delta.abs().amax(1).max() * 255),
        "l2": float(delta.norm(dim=1).mean()),
        "l2_relative": float((delta.norm(dim=1) / clean.flatten(1).norm(dim=1)).mean()),
        "new_top": new_top.tolist(),
    }
