r"""The backward rule ``h``: saliency maps, guided backprop and DeconvNet (the paper's Section 2).

At each ReLU ``a -> relu(a)`` the backward pass receives the gradient ``g`` from above and
passes down

* plain (saliency map, the true gradient):  ``g 1[a > 0]``
* guided backprop:                          ``relu(g) 1[a > 0]``
* DeconvNet:                                ``relu(g)``  (no forward mask)

that is ``h(g)`` with ``h(v) = v`` (plain) or ``relu(v)`` (guided, deconv), then the forward
mask unless the rule is deconv. In the three-layer net of Eq. (1) the gradient reaching unit
``(i, j)`` is ``V[q_ij, k]``, so the map of logit ``k`` is Eq. (2),
``sum_j D_j^T sum_i h(V[q_ij, k]) w~(i, j)`` with ``w~(i, j) = w_i 1[w_i . y_j > 0]``.
:func:`h` is that rule, the one implementation: the autograd patch below, the sweeps
(:mod:`backpropvis.sweeps`) and Eq. (2) (:mod:`backpropvis.theory`) all call it. ReLU6 masks by
``0 < a < 6``.

As in TorchRay's ``guided_backprop.py``, :func:`backward_rule` patches the activation modules
for the duration of a ``with`` block and restores the model on exit, also on an exception::

    with backward_rule(model, "guided"):
        x.requires_grad_(True)
        model(x)[0, k].backward()  # x.grad is the guided backprop map of logit k
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (
    MAX,
    check_image,
    check_positive_int,
    check_seed,
    model_device,
    parse_targets,
    resolve_targets,
)
from .networks import FullyConnectedNet

#: The three rules ``h`` at each ReLU (module docstring).
RULES: tuple[str, ...] = ("plain", "guided", "deconv")


def check_rule(rule: Any) -> str:
    """One of :data:`RULES`."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; use one of {', '.join(RULES)}")
    return rule


def parse_rules(rules: str | Sequence[str]) -> tuple[list[str], bool]:
    """``(list of R rules, single)``: a string is one rule (``"guided"`` is ``["guided"]``)."""
    single = isinstance(rules, str)
    out = [check_rule(r) for r in ([rules] if single else rules)]
    if not out:
        raise ValueError("rules: the rule list is empty")
    return out, single


def h(grad: torch.Tensor, rule: str, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The rule at a ReLU: the gradient ``grad`` from above -> the gradient passed below.

    ``h(grad)`` (``grad`` for plain, ``relu(grad)`` otherwise) times the forward ``mask``
    (``1[a > 0]``, broadcastable to ``grad``'s shape), except for deconv, which drops the mask;
    ``mask=None`` returns ``h(grad)`` alone. The shape is ``grad``'s (times ``mask``'s).
    """
    rule = check_rule(rule)
    g = grad if rule == "plain" else F.relu(grad)
    if rule == "deconv" or mask is None:
        return g
    return g * mask


class _RuleActivation(torch.autograd.Function):
    """ReLU (``upper=None``) or ReLU6 (``upper=6``) forward; backward by :func:`h`.

    The rule is read from ``state["rule"]`` when the backward runs, so one forward pass can
    serve several rules (:func:`switchable_rules`). Saves only the output ``y``: the forward
    mask ``0 < x < upper`` equals ``0 < y < upper``. With ``inplace`` the input is overwritten,
    as the module would.
    """

    @staticmethod
    def forward(ctx, x, state, upper, inplace):  # noqa: ANN001 - autograd signature
        if inplace:
            ctx.mark_dirty(x)
            y = x.clamp_(min=0) if upper is None else x.clamp_(0, upper)
        else:
            y = x.clamp(min=0) if upper is None else x.clamp(0, upper)
        ctx.state, ctx.upper = state, upper
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001 - autograd signature
        (y,) = ctx.saved_tensors
        mask = y > 0 if ctx.upper is None else (y > 0) & (y < ctx.upper)
        return h(grad, ctx.state["rule"], mask), None, None, None


def _rule_forward(
    x: torch.Tensor, state: dict[str, str], upper: float | None, inplace: bool
) -> torch.Tensor:
    # Positional arguments only: Function.apply takes no keywords before torch 2.12.
    return _RuleActivation.apply(x, state, upper, inplace)


@contextmanager
def _patched_activations(model: nn.Module, state: dict[str, str]) -> Iterator[None]:
    """Route every ``nn.ReLU`` / ``nn.ReLU6`` of ``model`` through :class:`_RuleActivation`.

    Patches the forward of each module instance (so a module reused several times and
    ``inplace=True`` modules, kept in place, are handled) and restores the model exactly on
    exit, also on an exception.
    """
    acts = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    if not acts:
        raise ValueError(
            f"the {state['rule']!r} rule needs nn.ReLU or nn.ReLU6 modules; "
            f"{type(model).__name__} has none"
        )
    saved = [(m, m.__dict__.get("forward")) for m in acts]
    try:
        for m in acts:
            upper = 6.0 if isinstance(m, nn.ReLU6) else None
            inplace = bool(getattr(m, "inplace", False))
            m.forward = partial(_rule_forward, state=state, upper=upper, inplace=inplace)
        yield
    finally:
        for m, old in saved:
            if old is None:
                m.__dict__.pop("forward", None)
            else:
                m.forward = old


@contextmanager
def backward_rule(model: nn.Module, rule: str) -> Iterator[nn.Module]:
    """Within the block, every ``nn.ReLU`` and ``nn.ReLU6`` of ``model`` backpropagates by ``rule``.

    TorchRay-style: the activation modules are patched only for the duration of the block and
    the model is restored exactly on exit, also on an exception. ``"plain"`` changes nothing.
    Functional ``F.relu`` calls are not affected; a model with no such module raises
    ``ValueError``.
    """
    rule = check_rule(rule)
    if rule == "plain":
        yield model
        return
    with _patched_activations(model, {"rule": rule}):
        yield model


@contextmanager
def switchable_rules(model: nn.Module) -> Iterator[dict[str, str]]:
    """Patch every ``nn.ReLU`` / ``nn.ReLU6`` of ``model``: one forward pass serves all rules.

    Yields a dict; the backward of each activation applies the rule named by its ``"rule"`` key
    at the time the backward runs (``"plain"``: the true gradient). Set it, then call
    ``torch.autograd.grad(..., retain_graph=True)`` once per rule. Restores the model on exit.
    """
    state = {"rule": "plain"}
    with _patched_activations(model, state):
        yield state


def backprop_map(
    model: nn.Module,
    x: torch.Tensor,
    target: int | str | Sequence[int | str] = "max",
    rule: str = "guided",
) -> torch.Tensor:
    """The input-space map of one logit (or several) under backward rule ``h``.

    Args:
        model: maps ``(B, 3, H, W)`` to logits ``(B, K)``. Call ``eval()`` first where it matters
            (dropout). Normalize ``x`` as the model expects (:func:`preprocess`).
        x: one image ``(3, H, W)``, already preprocessed.
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
    xd = x.detach().to(dev)
    if isinstance(model, FullyConnectedNet):
        logits = model(xd[None])[0] if MAX in targets else None
        idx = resolve_targets(targets, logits, model.n_logits)
        maps = model.maps(xd, idx, rule)[0]
    else:
        with torch.enable_grad(), backward_rule(model, rule):
            xg = xd[None].requires_grad_(True)
            if MAX in targets or not hasattr(model, "select_logits"):
                out = model(xg)
                if out.ndim != 2 or out.shape[0] != 1:
                    raise ValueError(f"model must return logits (B, K); got {tuple(out.shape)}")
                idx = resolve_targets(targets, out[0].detach(), out.shape[1])
                sel = out[0, idx]
            else:
                idx = resolve_targets(targets, None, model.n_logits)
                sel = model.select_logits(xg, idx)[0]
            grads = [
                torch.autograd.grad(sel[i], xg, retain_graph=i < len(idx) - 1)[0][0]
                for i in range(len(idx))
            ]
        maps = torch.stack(grads)
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
        model: maps ``(B, 3, H, W)`` to logits ``(B, K)`` (in ``eval()`` mode); a
            :class:`ThreeLayerConvNet` with int targets computes only those logits.
        xs: preprocessed images ``(B, 3, H, W)``.
        rules: ``R`` backward rules (:data:`RULES`); a string is one rule.
        targets: ``"max"`` (each image's largest logit), one logit index for every image, or a
            list of ``T`` indices (each for every image); parsed as in :func:`backprop_map`.

    Returns:
        ``(maps, idx)``: ``maps[rule]`` is ``(B, 3, H, W)`` (``(T, B, 3, H, W)`` for a list) and
        ``idx`` the logits used, ``(B,)`` for ``"max"`` and an int, ``(T,)`` for a list.
    """
    rules, _ = parse_rules(rules)
    if xs.ndim != 4 or xs.shape[1] != 3:
        raise ValueError(f"xs must have shape (B, 3, H, W), got {tuple(xs.shape)}")
    ts, single = parse_targets(targets, getattr(model, "n_logits", None))
    if MAX in ts and not single:
        raise ValueError("targets: 'max' must stand alone (each image has its own largest logit)")
    dev = model_device(model, xs.device)
    with torch.enable_grad(), switchable_rules(model) as state:
        xg = xs.detach().to(dev).requires_grad_(True)
        if ts == [MAX] or not hasattr(model, "select_logits"):
            out = model(xg)
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
            grads = []
            for s_i, sel in enumerate(sels):
                last = r_i == len(rules) - 1 and s_i == len(sels) - 1
                grads.append(torch.autograd.grad(sel, xg, retain_graph=not last)[0])
            maps[rule] = (grads[0] if single else torch.stack(grads)).to(xs.device)
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
