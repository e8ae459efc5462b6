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

As in TorchRay's ``guided_backprop.py`` and its ``ReLUContext``, :func:`backward_rule` patches
the activation modules and the functional ReLUs (``F.relu``, ``torch.relu``) for the duration
of a ``with`` block and restores the model on exit, also on an exception. Activations the rules
do not define (GELU, SiLU, LeakyReLU...) are refused for guided and deconv::

    with backward_rule(model, "guided"):
        x.requires_grad_(True)
        model(x)[0, k].backward()  # x.grad is the guided backprop map of logit k
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (
    MAX,
    InputWarning,
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
    g = grad if rule == "plain" else _relu(grad)
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


#: Activation modules the rules do not define (the guided and deconv rules are defined at
#: ReLUs): refused for those rules, named in the message. Plain gradients work with any model.
UNSUPPORTED_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Softplus,
)
#: Lower-case pieces of class names of custom activations of the same kind (``Swish``,
#: ``MemoryEfficientSwish``, ``QuickGELU``...).
_UNSUPPORTED_NAME_PARTS = ("swish", "gelu", "silu", "mish")
#: Functional forms of those activations (``torch.nn.functional.<name>``), detected when called.
_UNSUPPORTED_FUNCTIONS = (
    "leaky_relu",
    "prelu",
    "rrelu",
    "elu",
    "celu",
    "selu",
    "gelu",
    "silu",
    "mish",
    "hardswish",
    "softplus",
)


def unsupported_activations(model: nn.Module) -> list[str]:
    """Class names of ``model``'s activation modules that the guided and deconv rules do not
    define (:data:`UNSUPPORTED_ACTIVATIONS` and custom ``*Swish``/``*GELU``/... classes)."""
    names = []
    for m in model.modules():
        cls = type(m).__name__
        if isinstance(m, UNSUPPORTED_ACTIVATIONS) or (
            not isinstance(m, (nn.ReLU, nn.ReLU6))
            and not list(m.children())
            and any(part in cls.lower() for part in _UNSUPPORTED_NAME_PARTS)
        ):
            names.append(cls)
    return list(dict.fromkeys(names))


class _RuleState(dict):
    """``{"rule": ...}`` plus what the forward pass met: ``relus`` (ReLUs routed through the
    rule) and ``unsupported`` (activations the rule does not define). Setting a rule other
    than plain while unsupported activations were met raises ``ValueError``."""

    def __init__(self, rule: str, model: nn.Module) -> None:
        super().__init__(rule=check_rule(rule))
        self.model_name = type(model).__name__
        self.relus = 0
        self.unsupported: dict[str, None] = dict.fromkeys(unsupported_activations(model))

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "rule":
            value = check_rule(value)
            self.refuse_unsupported(value)
        super().__setitem__(key, value)

    def refuse_unsupported(self, rule: str) -> None:
        if rule != "plain" and self.unsupported:
            names = ", ".join(self.unsupported)
            raise ValueError(
                f"the {rule!r} rule is defined at ReLUs, and {self.model_name} uses {names}, "
                f"which the rule does not define: its map would be neither {rule} backprop nor "
                "the gradient. Use rule='plain' (the true gradient) for this model, or one "
                "built from ReLUs"
            )

    def refuse_no_relu(self) -> None:
        if self["rule"] != "plain" and self.relus == 0:
            raise ValueError(
                f"the {self['rule']!r} rule needs ReLU activations (nn.ReLU, nn.ReLU6, F.relu, "
                f"torch.relu); {self.model_name} applied none, so its map would be the plain "
                "gradient"
            )


#: The unpatched functions (``h`` uses the original ``torch.relu`` inside patched regions).
_relu = torch.relu


def _function_patches(state: _RuleState) -> list[tuple[Any, str, Any]]:
    """``(owner, attribute, replacement)`` of every functional ReLU (TorchRay's ReLUContext
    patches ``torch.relu``; ``F.relu`` calls it) and of the unsupported activations' functions."""

    def tracked(x: Any) -> bool:
        return isinstance(x, torch.Tensor) and torch.is_grad_enabled() and x.requires_grad

    def relu(orig: Any, inplace: bool, upper: float | None) -> Any:
        def patched(x: Any, *args: Any, **kwargs: Any) -> Any:
            inp = inplace or bool(kwargs.get("inplace", args[0] if args else False))
            if not tracked(x):
                return orig(x, *args, **kwargs)
            state.relus += 1
            return _RuleActivation.apply(x, state, upper, inp)

        return patched

    def refused(name: str, orig: Any) -> Any:
        def patched(x: Any, *args: Any, **kwargs: Any) -> Any:
            if tracked(x):
                state.unsupported[f"torch.nn.functional.{name}"] = None
                state.refuse_unsupported(state["rule"])
            return orig(x, *args, **kwargs)

        return patched

    plain = lambda f: lambda x: f(x)  # noqa: E731 - Tensor methods take no extra arguments
    patches = [
        (torch, "relu", relu(torch.relu, False, None)),
        (torch, "relu_", relu(torch.relu_, True, None)),
        (F, "relu_", relu(F.relu_, True, None)),
        (F, "relu6", relu(F.relu6, False, 6.0)),
        (torch.Tensor, "relu", plain(relu(torch.Tensor.relu, False, None))),
        (torch.Tensor, "relu_", plain(relu(torch.Tensor.relu_, True, None))),
    ]
    patches += [(F, n, refused(n, getattr(F, n))) for n in _UNSUPPORTED_FUNCTIONS]
    return patches


@contextmanager
def _patched_activations(model: nn.Module, state: _RuleState) -> Iterator[None]:
    """Route every ReLU of ``model`` through :class:`_RuleActivation` for the block.

    ``nn.ReLU`` / ``nn.ReLU6`` modules: the forward of each instance is patched (so a module
    reused several times and ``inplace=True`` modules, kept in place, are handled). Functional
    ReLUs (``F.relu``, ``torch.relu``, ``Tensor.relu`` and their in-place forms, ``F.relu6``):
    the functions are patched for the block, as TorchRay's ``ReLUContext`` does, so models that
    call ``F.relu`` in ``forward`` (DenseNet, ResNet's blocks...) get the rule too. Calls of
    activations the rules do not define are recorded in ``state``. Everything is restored
    exactly on exit, also on an exception.
    """
    acts = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    saved = [(m, m.__dict__.get("forward")) for m in acts]
    patches = _function_patches(state)
    old_funcs = [(owner, name, owner.__dict__.get(name, _MISSING)) for owner, name, _ in patches]

    def module_forward(upper: float | None, inplace: bool) -> Any:
        def forward(x: torch.Tensor) -> torch.Tensor:
            state.relus += 1
            return _RuleActivation.apply(x, state, upper, inplace)

        return forward

    try:
        for m in acts:
            upper = 6.0 if isinstance(m, nn.ReLU6) else None
            m.forward = module_forward(upper, bool(getattr(m, "inplace", False)))
        for owner, name, fn in patches:
            setattr(owner, name, fn)
        yield
    finally:
        for owner, name, old in reversed(old_funcs):
            if old is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, old)
        for m, old in saved:
            if old is None:
                m.__dict__.pop("forward", None)
            else:
                m.forward = old


_MISSING = object()

#: Layers that compute differently in training mode (dropout, batch statistics).
_MODE_DEPENDENT = (nn.modules.dropout._DropoutNd, nn.RReLU)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``model`` in eval mode; restore every module's mode on exit.

    A model in training mode with layers that behave differently there (dropout, batch norm
    with running statistics) gets an :class:`InputWarning`: two calls would otherwise differ
    (dropout) and the attribution would change the model (batch norm's running statistics).
    """
    flags = [(m, m.training) for m in model.modules()]
    if any(t for _, t in flags):
        sensitive = [
            type(m).__name__
            for m, t in flags
            if t
            and (
                isinstance(m, _MODE_DEPENDENT)
                or (isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats)
            )
        ]
        if sensitive:
            warnings.warn(
                f"{type(model).__name__} is in training mode; the attribution runs in eval "
                f"mode ({', '.join(dict.fromkeys(sensitive))}: dropout off, batch norm "
                "statistics frozen) and the training mode is restored afterwards",
                InputWarning,
                stacklevel=4,
            )
        model.eval()
    try:
        yield model
    finally:
        for m, t in flags:
            m.training = t


@contextmanager
def backward_rule(model: nn.Module, rule: str) -> Iterator[nn.Module]:
    """Within the block, every ReLU of ``model`` backpropagates by ``rule``.

    TorchRay-style: the ``nn.ReLU`` / ``nn.ReLU6`` modules and the functional ReLUs
    (``F.relu``, ``torch.relu``...) are patched only for the duration of the block and
    restored exactly on exit, also on an exception. ``"plain"`` changes nothing. For guided
    and deconv, activations the rules do not define (:data:`UNSUPPORTED_ACTIVATIONS`, and their
    functional forms when called) raise ``ValueError``, and so does a block in which the model
    applied no ReLU (checked on exit).
    """
    rule = check_rule(rule)
    if rule == "plain":
        yield model
        return
    state = _RuleState(rule, model)
    state.refuse_unsupported(rule)
    with _patched_activations(model, state):
        yield model
    state.refuse_no_relu()


@contextmanager
def switchable_rules(model: nn.Module) -> Iterator[dict[str, str]]:
    """Patch every ReLU of ``model`` (as :func:`backward_rule`): one forward pass serves all
    rules.

    Yields a dict; the backward of each activation applies the rule named by its ``"rule"`` key
    at the time the backward runs (``"plain"``: the true gradient). Set it, then call
    ``torch.autograd.grad(..., retain_graph=True)`` once per rule. Setting ``"guided"`` or
    ``"deconv"`` raises ``ValueError`` when the model uses activations the rules do not define.
    Restores the model on exit.
    """
    state = _RuleState("plain", model)
    with _patched_activations(model, state):
        yield state


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
