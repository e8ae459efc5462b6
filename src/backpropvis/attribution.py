"""Input-space maps of a model's logits under the backward rule ``h`` (the paper's Section 2).

:func:`backprop_map` and :func:`backprop_maps` are the entry points a chapter calls: they check
their arguments (one target parser, :func:`backpropvis._checks.parse_targets`), run the model in
eval mode under :func:`backpropvis.rules.backward_rule` or
:func:`backpropvis.rules.switchable_rules`, and refuse maps that overflowed. The rule itself and
the activation patch live in :mod:`backpropvis.rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ._checks import (
    MAX,
    check_image,
    check_positive_int,
    check_seed,
    match_dtype,
    model_device,
    model_dtype,
    parse_targets,
    resolve_targets,
)
from .networks import FullyConnectedNet
from .rules import (
    RULES,
    _patched_activations,
    _RuleState,
    check_rule,
    eval_mode,
    parse_rules,
    switchable_rules,
)


def _check_logits(out: Any, batch: int) -> torch.Tensor:
    """The model's output as logits ``(B, K)``, or a ``ValueError`` saying what it returned."""
    if not isinstance(out, torch.Tensor):
        raise ValueError(
            f"model must return a logits tensor (B, K); it returned a {type(out).__name__}. "
            "Wrap it so that forward returns the logits (e.g. out[0] or out.logits)"
        )
    if out.ndim != 2 or out.shape[0] != batch:
        raise ValueError(f"model must return logits (B, K) = ({batch}, K); got {tuple(out.shape)}")
    return out


def _check_maps(maps: torch.Tensor, rule: str) -> None:
    """Refuse a map with NaN or inf (an all-zero map can be right: every ReLU inactive)."""
    if not torch.isfinite(maps).all():
        raise ValueError(
            f"the {rule} map contains NaN or inf: the model's logits or gradients overflowed "
            "(weights too large, e.g. std; or a model that computes NaN for this input)"
        )


def backprop_map(
    model: nn.Module,
    x: torch.Tensor,
    target: int | str | Sequence[int | str] = "max",
    rule: str = "guided",
) -> torch.Tensor:
    """The input-space map of one logit (or several) under backward rule ``h``.

    Args:
        model: maps ``(B, 3, H, W)`` to logits ``(B, K)``. It runs in eval mode (a model in
            training mode is switched for the call, with a warning when that matters, and
            restored); the model is left exactly as it was, also after an error. Normalize
            ``x`` as the model expects (:func:`preprocess`). The guided and deconv rules are
            defined at ReLUs (``nn.ReLU``, ``nn.ReLU6``, ``F.relu``...): a model with other
            activations (GELU, SiLU, LeakyReLU...) is refused for them.
        x: one image ``(3, H, W)``, already preprocessed; converted (with a warning) to the
            model's dtype.
        target: a logit index, ``"max"`` (the largest logit), or a list of ``T`` of those: one
            forward pass serves every map of the list (parsed by ``parse_targets``).
        rule: ``"plain"`` (saliency map, the true gradient), ``"guided"`` (guided backprop) or
            ``"deconv"`` (DeconvNet); see :data:`RULES`.

    Returns:
        ``(3, H, W)`` for one target, ``(T, 3, H, W)`` for a list, on ``x``'s device.
    """
    rule = check_rule(rule)
    x = check_image(x)
    targets, single = parse_targets(target, getattr(model, "n_logits", None))
    dev = model_device(model, x.device)
    xd = match_dtype(x.detach(), model_dtype(model)).to(dev)
    if isinstance(model, FullyConnectedNet):
        logits = model(xd[None])[0] if MAX in targets else None
        idx = resolve_targets(targets, logits, model.n_logits)
        maps = model.maps(xd, idx, rule)[0]
    else:
        state = _RuleState(rule, model)
        state.refuse_unsupported(rule)
        with torch.enable_grad(), eval_mode(model), _patched_activations(model, state):
            xg = xd[None].requires_grad_(True)
            if MAX in targets or not hasattr(model, "select_logits"):
                out = _check_logits(model(xg), 1)
                idx = resolve_targets(targets, out[0].detach(), out.shape[1])
                sel = out[0, idx]
            else:
                idx = resolve_targets(targets, None, model.n_logits)
                sel = model.select_logits(xg, idx)[0]
            state.refuse_no_relu()
            grads = [
                torch.autograd.grad(sel[i], xg, retain_graph=i < len(idx) - 1)[0][0]
                for i in range(len(idx))
            ]
        maps = torch.stack(grads)
    _check_maps(maps, rule)
    maps = maps.to(x.device)
    return maps[0] if single else maps


def backprop_maps(
    model: nn.Module,
    xs: torch.Tensor,
    rules: str | Sequence[str] = RULES,
    targets: str | int | Sequence[int] = "max",
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """:func:`backprop_map` for a batch and several rules, from one forward pass.

    Args:
        model: maps ``(B, 3, H, W)`` to logits ``(B, K)``; run in eval mode and left unchanged,
            as in :func:`backprop_map`. A :class:`ThreeLayerConvNet` with int targets computes
            only those logits.
        xs: preprocessed images ``(B, 3, H, W)``.
        rules: ``R`` backward rules (:data:`RULES`); a string is one rule.
        targets: ``"max"`` (each image's largest logit), one logit index for every image, or a
            list of ``T`` indices (each for every image); parsed as in :func:`backprop_map`.

    Returns:
        ``(maps, idx)``: ``maps[rule]`` is ``(B, 3, H, W)`` (``(T, B, 3, H, W)`` for a list) and
        ``idx`` the logits used, ``(B,)`` for ``"max"`` and an int, ``(T,)`` for a list.
    """
    rules, _ = parse_rules(rules)
    xs = check_image(xs, "xs", batch=True)
    ts, single = parse_targets(targets, getattr(model, "n_logits", None))
    if MAX in ts and not single:
        raise ValueError("targets: 'max' must stand alone (each image has its own largest logit)")
    dev = model_device(model, xs.device)
    xs_in = match_dtype(xs.detach(), model_dtype(model), "xs")
    with torch.enable_grad(), eval_mode(model), switchable_rules(model) as state:
        for rule in rules:
            state.refuse_unsupported(rule)
        xg = xs_in.to(dev).requires_grad_(True)
        if ts == [MAX] or not hasattr(model, "select_logits"):
            out = _check_logits(model(xg), len(xs))
        else:
            out = None
        if ts == [MAX]:
            idx = out.detach().argmax(1)
            sels = [out.gather(1, idx[:, None]).sum()]
        else:
            if out is None:
                out = model.select_logits(xg, ts)
            else:
                out = out[:, resolve_targets(ts, None, out.shape[1])]
            idx = torch.as_tensor(ts) if not single else torch.full((len(xs),), ts[0])
            sels = [out[:, t].sum() for t in range(len(ts))]
        maps: dict[str, torch.Tensor] = {}
        for r_i, rule in enumerate(rules):
            state["rule"] = rule
            state.refuse_no_relu()
            grads = []
            for s_i, sel in enumerate(sels):
                last = r_i == len(rules) - 1 and s_i == len(sels) - 1
                grads.append(torch.autograd.grad(sel, xg, retain_graph=not last)[0])
            maps[rule] = (grads[0] if single else torch.stack(grads)).to(xs.device)
            _check_maps(maps[rule], rule)
    return maps, idx.cpu()


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
