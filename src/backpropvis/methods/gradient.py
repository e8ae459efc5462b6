"""The gradient family (Captum): the saliency map, gradient × input, SmoothGrad and Integrated
Gradients. Every one is the plain gradient ``df_k/dx``, reweighted or averaged:

==========================  =============================================================
``saliency``                the gradient ``df_k/dx`` (Captum ``Saliency``, ``abs=False``)
``input_x_gradient``        ``x * df_k/dx`` (the saliency gradient times the input; equals
                            Captum ``InputXGradient``)
``smoothgrad``              mean gradient at ``x + eps``, ``eps ~ N(0, sigma^2)`` (Captum
                            ``NoiseTunnel(Saliency)``, seeded)
``integrated_gradients``    ``(x - x0) * mean_a grad f_k(x0 + a (x - x0))`` (Captum
                            ``IntegratedGradients``, Gauss-Legendre steps)
==========================  =============================================================
"""

from __future__ import annotations

import torch

from .registry import Ingredients, MapBatch, Method, register


def _saliency(batch: MapBatch) -> torch.Tensor:
    from captum.attr import Saliency

    return Saliency(batch.model).attribute(batch.fresh_input(), target=batch.target_list, abs=False)


def _smoothgrad(batch: MapBatch) -> torch.Tensor:
    from captum.attr import NoiseTunnel, Saliency

    s = batch.settings
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s["seed"])
        return NoiseTunnel(Saliency(batch.model)).attribute(
            batch.fresh_input(),
            nt_type="smoothgrad",
            nt_samples=int(s["smoothgrad_samples"]),
            nt_samples_batch_size=max(1, s["batch_size"] // len(batch.xs)),
            stdevs=float(s["smoothgrad_std"]),
            target=batch.target_list,
            abs=False,
        )


def _baseline(batch: MapBatch) -> torch.Tensor:
    base = batch.settings["baseline"]
    return torch.zeros_like(batch.xs) if base is None else base.expand_as(batch.xs).to(batch.xs)


def _integrated_gradients(batch: MapBatch) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    s = batch.settings
    return IntegratedGradients(batch.model).attribute(
        batch.fresh_input(),
        baselines=_baseline(batch),
        target=batch.target_list,
        n_steps=int(s["ig_steps"]),
        internal_batch_size=max(s["batch_size"], len(batch.xs)),
    )


def _gradient_by_hand(model, xs, targets, **_) -> torch.Tensor:
    """``df_k/dx`` by autograd, one logit per image."""
    xg = xs.clone().requires_grad_(True)
    out = model(xg).gather(1, torch.as_tensor(targets)[:, None]).sum()
    return torch.autograd.grad(out, xg)[0]


def _captum_input_x_gradient(model, xs, targets, **_) -> torch.Tensor:
    from captum.attr import InputXGradient

    return InputXGradient(model).attribute(xs.clone(), target=list(targets))


register(
    Method(
        "saliency",
        "saliency",
        "gradient",
        Ingredients("plain"),
        _saliency,
        lambda model: "Captum Saliency",
        rule="plain",
        reference=_gradient_by_hand,
        sanity_checks=False,
    )
)
register(
    Method(
        "input_x_gradient",
        "gradient × input",
        "gradient",
        Ingredients("plain", input=True),
        lambda batch: batch.map("saliency") * batch.xs,
        lambda model: "Captum Saliency × input (= Captum InputXGradient)",
        reference=_captum_input_x_gradient,
        sanity_checks=False,
    )
)
register(
    Method(
        "smoothgrad",
        "SmoothGrad",
        "gradient",
        Ingredients("plain"),
        _smoothgrad,
        lambda model: "Captum NoiseTunnel(Saliency)",
        needs=("smoothgrad_samples", "smoothgrad_std", "seed"),
        sanity_checks=False,
    )
)
register(
    Method(
        "integrated_gradients",
        "Integrated Gradients",
        "gradient",
        Ingredients("plain", input=True),
        _integrated_gradients,
        lambda model: "Captum IntegratedGradients",
        needs=("ig_steps", "baseline"),
        sanity_checks=False,
    )
)
