"""The gradient family: the saliency map, gradient × input (Captum), SmoothGrad and Integrated
Gradients (the book's batched gradient, equal to Captum's). Every one is the plain gradient
``df_k/dx``, reweighted or averaged:

==========================  =============================================================
``saliency``                the gradient ``df_k/dx`` (Captum ``Saliency``, ``abs=False``)
``input_x_gradient``        ``x * df_k/dx`` (the saliency gradient times the input; equals
                            Captum ``InputXGradient``)
``smoothgrad``              mean gradient at ``x + eps``, ``eps ~ N(0, sigma^2)`` (equals the
                            mean of Captum ``Saliency`` at the same seeded noisy copies)
``integrated_gradients``    ``(x - x0) * mean_a grad f_k(x0 + a (x - x0))``, ``a = 1/n, ...,
                            1`` (equals Captum ``IntegratedGradients``, ``riemann_right``)
==========================  =============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .registry import Ingredients, MapBatch, Method, half_key, half_of, register


def _saliency(batch: MapBatch) -> torch.Tensor:
    from captum.attr import Saliency

    return Saliency(batch.model).attribute(batch.fresh_input(), target=batch.target_list, abs=False)


def _passes(n: int, n_images: int, batch_size: int) -> list[tuple[list[int], slice]]:
    """``(points, rows)`` of each forward pass of about ``batch_size`` images, in increasing
    point order: several points of every image when they fit, else one point of a slice of
    the images."""
    if n_images >= batch_size:
        chunks = [slice(i, min(n_images, i + batch_size)) for i in range(0, n_images, batch_size)]
        return [([s], c) for s in range(n) for c in chunks]
    per_pass = batch_size // n_images
    return [
        (list(range(s, min(n, s + per_pass))), slice(0, n_images)) for s in range(0, n, per_pass)
    ]


class _SeededNoise:
    """The ``i``-th noisy copy's noise, drawn in order from ``seed`` as the passes ask for it
    (their points never go back), so that only the copies of the current pass are in memory."""

    def __init__(self, like: torch.Tensor, std: float, seed: int) -> None:
        self.like, self.std, self.drawn = like, std, 0
        self.gen = torch.Generator(device=like.device).manual_seed(seed)
        self.kept: dict[int, torch.Tensor] = {}

    def __call__(self, i: int) -> torch.Tensor:
        for old in [k for k in self.kept if k < i]:
            del self.kept[old]
        while self.drawn <= i:
            draw = torch.randn(self.like.shape, generator=self.gen, device=self.like.device)
            self.kept[self.drawn] = self.std * draw
            self.drawn += 1
        return self.kept[i]


def _averaged_gradients(
    batch: MapBatch, point: Callable[[int], torch.Tensor], n: int, half: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean over ``s < n`` of the plain gradient ``df_k/dx`` at the inputs ``point(s)``, and
    the mean over the indices ``half``, as ``(B, 3, H, W)`` maps of the batch's images.

    ``point(s)`` gives the inputs of the batch's distinct images (every ``repeats``-th image,
    :func:`~.registry.attribution_maps`): each goes forward once, in passes of about
    ``batch_size`` images, and back once for each of its ``repeats`` targets."""
    r = int(batch.settings["repeats"])
    distinct = batch.xs[::r]
    targets = batch.targets.reshape(-1, r)  # (U, r): the targets of each distinct image
    total = torch.zeros(len(distinct), r, *distinct.shape[1:], dtype=distinct.dtype,
                        device=distinct.device)  # fmt: skip
    part = torch.zeros_like(total)
    chosen = set(half)
    for group, rows in _passes(n, len(distinct), int(batch.settings["batch_size"])):
        inputs = torch.cat([point(s)[rows] for s in group]).requires_grad_(True)
        logits = batch.model(inputs)
        picks = targets[rows].repeat(len(group), 1)  # (points x images, r)
        for t in range(r):
            picked = logits.gather(1, picks[:, t : t + 1]).sum()
            (grads,) = torch.autograd.grad(picked, inputs, retain_graph=t < r - 1)
            for s, g in zip(group, grads.split(len(distinct[rows])), strict=True):
                total[rows, t] += g
                if s in chosen:
                    part[rows, t] += g
    return total.flatten(0, 1) / n, part.flatten(0, 1) / max(1, len(chosen))


def _smoothgrad(batch: MapBatch) -> torch.Tensor:
    """The mean gradient over ``n`` noisy copies, the copies drawn one after another from
    ``seed`` (one draw per distinct image: the repeats of an image share its copies). The first
    ``half_of(n)`` copies are those of a run with that many, so the same passes also give the
    map at half the copies (:func:`~.registry.half_key`)."""
    s = batch.settings
    n, std = int(s["smoothgrad_samples"]), float(s["smoothgrad_std"])
    distinct = batch.xs[:: int(s["repeats"])]
    noise = _SeededNoise(distinct, std, int(s["seed"]))
    full, part = _averaged_gradients(batch, lambda i: distinct + noise(i), n, range(half_of(n)))
    batch.shared[half_key("smoothgrad")] = part
    return full


def _baseline(batch: MapBatch) -> torch.Tensor:
    base = batch.settings["baseline"]
    return torch.zeros_like(batch.xs) if base is None else base.expand_as(batch.xs).to(batch.xs)


def _integrated_gradients(batch: MapBatch) -> torch.Tensor:
    """``(x - x0)`` times the right Riemann sum of the gradient at ``x0 + a (x - x0)``,
    ``a = 1/n, 2/n, ..., 1`` (Sundararajan et al.'s Eq. 3). For an even ``n`` every second point
    is the rule with ``n / 2`` points, so the same passes give the map at half the steps."""
    n, r = int(batch.settings["ig_steps"]), int(batch.settings["repeats"])
    x0 = _baseline(batch)
    delta = batch.xs - x0
    start, step = x0[::r], delta[::r]  # the distinct images'

    def point(i: int, points: int = n) -> torch.Tensor:
        return start + (i + 1) / points * step

    half = range(1, n, 2) if n % 2 == 0 else []
    full, part = _averaged_gradients(batch, point, n, half)
    if n % 2 and batch.settings["halves"]:  # no nested rule: the half map costs its own passes
        h = half_of(n)
        part = _averaged_gradients(batch, lambda i: point(i, h), h, [])[0]
    batch.shared[half_key("integrated_gradients")] = delta * part
    return delta * full


def _gradient_by_hand(model, xs, targets, **_) -> torch.Tensor:
    """``df_k/dx`` by autograd, one logit per image."""
    xg = xs.clone().requires_grad_(True)
    out = model(xg).gather(1, torch.as_tensor(targets)[:, None]).sum()
    return torch.autograd.grad(out, xg)[0]


def _captum_input_x_gradient(model, xs, targets, **_) -> torch.Tensor:
    from captum.attr import InputXGradient

    return InputXGradient(model).attribute(xs.clone(), target=list(targets))


def _captum_integrated_gradients(model, xs, targets, ig_steps=16, baseline=None, **_):
    from captum.attr import IntegratedGradients

    base = torch.zeros_like(xs) if baseline is None else baseline.expand_as(xs)
    return IntegratedGradients(model).attribute(
        xs.clone(), baselines=base, target=list(targets), n_steps=ig_steps, method="riemann_right"
    )


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
        mnist_permuted_spearman_abs=0.17,
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
        mnist_permuted_spearman_abs=0.99,
    )
)
register(
    Method(
        "smoothgrad",
        "SmoothGrad",
        "gradient",
        Ingredients("plain"),
        _smoothgrad,
        lambda model: "the book's batched gradient (= Captum Saliency at each noisy copy)",
        needs=("smoothgrad_samples", "smoothgrad_std", "seed"),
        sanity_checks=False,
        mnist_permuted_spearman_abs=0.25,
    )
)
register(
    Method(
        "integrated_gradients",
        "Integrated Gradients",
        "gradient",
        Ingredients("plain", input=True),
        _integrated_gradients,
        lambda model: "the book's batched gradient (= Captum IntegratedGradients, riemann_right)",
        needs=("ig_steps", "baseline"),
        reference=_captum_integrated_gradients,
        sanity_checks=False,
        mnist_permuted_spearman_abs=0.99,
    )
)
