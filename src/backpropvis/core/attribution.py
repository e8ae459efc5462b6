"""Input-space maps of a model's logits under the backward rule ``h`` (the paper's Section 2).

:func:`backprop_maps` is the one implementation: a batch of images, several rules, one forward
pass. :func:`backprop_map` is its one-image form. Both check their arguments (one target parser,
:func:`backpropvis.core.checks.parse_targets`), run the model in eval mode under the rule patch
of :mod:`backpropvis.core.rules`, and refuse maps that overflowed. A network takes part through
the :class:`~backpropvis.core.networks.BookNetwork` protocol: it may compute only the logits
asked for (the convnet of Eq. 1) or give its maps exactly without autograd (the FC net of Eq. 7);
any other ``nn.Module`` that returns logits is used as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .checks import (
    MAX,
    check_image,
    check_logits,
    check_positive_int,
    check_seed,
    match_dtype,
    model_device,
    model_dtype,
    parse_targets,
    resolve_targets,
)
from .networks import as_network
from .rules import RULES, eval_mode, parse_rules, switchable_rules

__all__ = ["backprop_map", "backprop_maps", "class_targets"]


def _check_maps(maps: torch.Tensor, rule: str) -> None:
    """Refuse a map with NaN or inf (an all-zero map can be right: every ReLU inactive)."""
    if not torch.isfinite(maps).all():
        raise ValueError(
            f"the {rule} map contains NaN or inf: the model's logits or gradients overflowed "
            "(weights too large, e.g. std; or a model that computes NaN for this input)"
        )


def _selected(net, xg: torch.Tensor, ts: list, per_image: torch.Tensor | None):
    """``(sels, idx)``: one scalar per target to differentiate (summed over the batch), and the
    logits used: ``(B,)`` for per-image targets and ``"max"``, else one entry per target."""
    if per_image is None and MAX not in ts:
        out = check_logits(net.select_logits(xg, ts), len(xg))
        return [out[:, i].sum() for i in range(len(ts))], list(ts)
    out = check_logits(net(xg), len(xg))
    top = out.detach().argmax(1) if per_image is None else per_image.to(out.device)
    if ts == [MAX]:
        return [out.gather(1, top[:, None]).sum()], top
    resolve_targets([t for t in ts if t != MAX], None, out.shape[1])
    cols = [out.gather(1, top[:, None])[:, 0] if t == MAX else out[:, t] for t in ts]
    return [c.sum() for c in cols], [top if t == MAX else t for t in ts]


def _exact(net, xs: torch.Tensor, ts: list, per_image, rules: list[str]):
    """The maps of a network that computes them without autograd (``net.exact_maps``):
    ``({rule: (T, B, 3, H, W)}, idx)``, "max" and per-image targets resolved image by image."""
    if per_image is None and MAX not in ts:
        return net.exact_maps(xs, ts, rules), list(ts)
    if per_image is None:
        with torch.no_grad():
            top = check_logits(net(xs), len(xs)).argmax(1)
    else:
        top = per_image
    per_t = []
    for t in ts:
        ks = top.tolist() if t == MAX else [t] * len(xs)
        one = [net.exact_maps(xs[b : b + 1], [k], rules) for b, k in enumerate(ks)]
        per_t.append({r: torch.cat([o[r][0] for o in one]) for r in rules})
    maps = {r: torch.stack([p[r] for p in per_t]) for r in rules}
    return maps, [top if t == MAX else t for t in ts]


def backprop_maps(
    model: nn.Module,
    xs: torch.Tensor,
    rules: str | Sequence[str] = RULES,
    targets: str | int | Sequence[int | str] = "max",
    *,
    per_image: Sequence[int] | torch.Tensor | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Maps of a batch of images under several backward rules, from one forward pass.

    Args:
        model: maps ``(B, 3, H, W)`` to logits ``(B, K)``. It runs in eval mode (a model in
            training mode is switched for the call, with a warning when that matters, and
            restored) and is left exactly as it was, also after an error. Normalize ``xs`` as
            the model expects (:func:`preprocess`). The guided and deconv rules are defined at
            ReLUs (``nn.ReLU``, ``nn.ReLU6``, ``F.relu``...): a model with other activations
            (GELU, SiLU, LeakyReLU...) is refused for them.
        xs: preprocessed images ``(B, 3, H, W)``, converted (with a warning) to the model's
            dtype.
        rules: ``R`` backward rules (:data:`RULES`); a string is one rule.
        targets: ``"max"`` (each image's largest logit), one logit index for every image, or a
            list of ``T`` targets (each an index or ``"max"``, each for every image).
        per_image: instead of ``targets``, one logit index per image, ``(B,)``.

    Returns:
        ``(maps, idx)``: ``maps[rule]`` is ``(B, 3, H, W)`` (``(T, B, 3, H, W)`` for a list) and
        ``idx`` the logits used: ``(B,)`` for one target or ``per_image``, ``(T,)`` for a list
        of indices, ``(T, B)`` for a list with ``"max"`` in it.
    """
    xs = check_image(xs, "xs", batch=True)
    return _maps(model, xs, rules, targets, per_image, "xs")


def _maps(model, xs, rules, targets, per_image, name: str):
    """:func:`backprop_maps` on checked images ``xs``, named ``name`` in messages."""
    rules, _ = parse_rules(rules)
    net = as_network(model)
    pi = None
    if per_image is not None:
        if not (isinstance(targets, str) and targets == MAX):
            raise ValueError("targets: give targets or per_image, not both")
        pi = torch.as_tensor(per_image, dtype=torch.long).reshape(-1)
        if len(pi) != len(xs):
            raise ValueError(f"per_image: {len(pi)} targets for {len(xs)} images")
        parse_targets(pi.tolist(), net.n_logits)
    ts, single = parse_targets(targets, net.n_logits)
    dev = model_device(model, xs.device)
    xs_in = match_dtype(xs.detach(), model_dtype(model), name).to(dev)
    if net.exact_maps is not None:
        maps, idx = _exact(net, xs_in, ts, pi, rules)
        maps = {r: (m[0] if single else m).to(xs.device) for r, m in maps.items()}
        for r, m in maps.items():
            _check_maps(m, r)
    else:
        with torch.enable_grad(), eval_mode(model), switchable_rules(model) as state:
            for rule in rules:
                state.refuse_unsupported(rule)
            xg = xs_in.requires_grad_(True)
            sels, idx = _selected(net, xg, ts, pi)
            maps = {}
            for r_i, rule in enumerate(rules):
                state["rule"] = rule
                state.refuse_no_relu()
                grads = []
                for s_i, sel in enumerate(sels):
                    last = r_i == len(rules) - 1 and s_i == len(sels) - 1
                    grads.append(torch.autograd.grad(sel, xg, retain_graph=not last)[0])
                maps[rule] = (grads[0] if single else torch.stack(grads)).to(xs.device)
                _check_maps(maps[rule], rule)
    return maps, _used(idx, single, len(xs))


def _used(idx: Any, single: bool, batch: int) -> torch.Tensor:
    """The logits used: ``(B,)`` for one target (an index is repeated for every image),
    ``(T,)`` for a list of indices, ``(T, B)`` for a list with ``"max"`` in it."""

    def per_image(i: Any) -> torch.Tensor:
        return i.cpu() if isinstance(i, torch.Tensor) else torch.full((batch,), int(i))

    if not isinstance(idx, list):
        return per_image(idx)
    if single:
        return per_image(idx[0])
    if all(not isinstance(i, torch.Tensor) for i in idx):
        return torch.as_tensor(idx)
    return torch.stack([per_image(i) for i in idx])


def backprop_map(
    model: nn.Module,
    x: torch.Tensor,
    target: int | str | Sequence[int | str] = "max",
    rule: str = "guided",
) -> torch.Tensor:
    """The input-space map of one logit (or several) of one image under backward rule ``h``.

    The one-image form of :func:`backprop_maps` (same model requirements).

    Args:
        x: one image ``(3, H, W)``, already preprocessed.
        target: a logit index, ``"max"`` (the largest logit), or a list of ``T`` of those: one
            forward pass serves every map of the list.
        rule: ``"plain"`` (saliency map, the true gradient), ``"guided"`` (guided backprop) or
            ``"deconv"`` (DeconvNet); see :data:`RULES`.

    Returns:
        ``(3, H, W)`` for one target, ``(T, 3, H, W)`` for a list, on ``x``'s device.
    """
    x = check_image(x)
    maps, _ = _maps(model, x[None], rule, target, None, "x")
    m = maps[rule]
    return m[0] if m.ndim == 4 else m[:, 0]


def class_targets(
    top: Sequence[int],
    n_logits: int,
    seed: int = 0,
    include: Sequence[int] = (482,),
    n_classes: int = 1000,
) -> list[int]:
    """``n_logits`` distinct logits to test class invariance on (a list for :func:`backprop_map`).

    ``top`` (the model's largest logits, largest first), then ``include`` (the paper's Figure 1
    uses logit 482), then logits drawn without replacement from the others by a generator seeded
    with ``seed`` alone, so every model gets the same random logits. Truncated to ``n_logits``
    (``include`` is dropped when ``top`` fills it).
    """
    n = check_positive_int(n_logits, "n_logits")
    n_classes = check_positive_int(n_classes, "n_classes")
    if n > n_classes:
        raise ValueError(f"n_logits={n} exceeds the {n_classes} logits of the model")
    fixed = [int(k) for k in (*top, *include)]
    if any(not 0 <= k < n_classes for k in fixed):
        raise ValueError(f"logits {fixed} must lie in 0..{n_classes - 1}")
    order = np.random.default_rng(check_seed(seed)).permutation(n_classes).tolist()
    return list(dict.fromkeys(fixed + order))[:n]
