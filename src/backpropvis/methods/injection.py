"""Any vector at the logits, passed down by a method's backward pass.

A map is the backward pass of a one-hot vector at the logits. The rank-one test of Sixt et al.
(2020) injects random vectors there instead and reads the relevance at every layer
(:mod:`backpropvis.core.convergence`). :func:`injected` runs one backward pass of the methods that
are one (:func:`~backpropvis.methods.registry.backward_methods`: the rules ``h`` and LRP) on
any vectors, and reads the relevance at the input and at the output of every ReLU on the way.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import backward_pass

__all__ = ["injected"]

#: The activation modules whose outputs :func:`injected` reads.
ACTIVATIONS = (nn.ReLU, nn.ReLU6)


def injected(
    model: nn.Module, xs: torch.Tensor, vectors: torch.Tensor, method: str, layers: bool = False
) -> tuple[torch.Tensor, list[tuple[str, torch.Tensor]]]:
    """``method``'s backward pass of ``vectors`` ``(B, K)`` injected at the ``K`` logits of
    images ``xs`` ``(B, 3, H, W)``, one vector per image.

    Returns the relevance at the input ``(B, 3, H, W)`` and, with ``layers``, at the output of
    every ReLU call in forward order: ``[(name, (B, C, ...)), ...]``, ``name`` the module's
    (with ``#2``, ``#3``... for a module called again, as a ResNet block's ReLU is).
    """
    xs = xs.detach()
    vectors = torch.as_tensor(vectors, dtype=xs.dtype, device=xs.device)
    read: list[tuple[str, torch.Tensor]] = []
    grads: dict[int, torch.Tensor] = {}
    handles = []
    if layers:
        calls: dict[str, int] = {}

        def reader(name: str):
            def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
                if output.requires_grad:
                    calls[name] = calls.get(name, 0) + 1
                    label = name if calls[name] == 1 else f"{name}#{calls[name]}"
                    slot = len(read)
                    read.append((label, output))
                    output.register_hook(lambda g: grads.__setitem__(slot, g.detach()))

            return hook

        for name, module in model.named_modules():
            if isinstance(module, ACTIVATIONS):
                handles.append(module.register_forward_hook(reader(name)))
    x = xs.clone().requires_grad_()
    try:
        with torch.enable_grad(), backward_pass(method, model, xs) as modified:
            out = modified(x)
            if vectors.shape != out.shape:
                raise ValueError(
                    f"vectors must be (B, K) = {tuple(out.shape)}, one per image and logit; "
                    f"got {tuple(vectors.shape)}"
                )
            (rel,) = torch.autograd.grad(out, x, vectors)
    finally:
        for handle in handles:
            handle.remove()
    hidden = [(label, grads[i]) for i, (label, _) in enumerate(read) if i in grads]
    return rel.detach(), hidden
