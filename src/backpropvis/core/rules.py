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

import torch
import torch.nn.functional as F
from torch import nn

from .checks import (
    InputWarning,
)

__all__ = ["RULES", "backward_rule"]

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
    A float ``mask`` is taken as a ReLU's output ``y`` (same shape as ``grad``): the mask is
    then ``y > 0``, applied in one fused kernel (autograd's own ReLU backward), which keeps
    guided backprop as fast as the plain gradient.
    """
    rule = check_rule(rule)
    g = grad if rule == "plain" else _relu(grad)
    if rule == "deconv" or mask is None:
        return g
    if mask.dtype != torch.bool:
        return torch.ops.aten.threshold_backward(g, mask, 0)
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
        mask = y if ctx.upper is None else (y > 0) & (y < ctx.upper)  # y: the mask y > 0
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


class RuleState(dict):
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


def _function_patches(state: RuleState) -> list[tuple[Any, str, Any]]:
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
def patched_activations(model: nn.Module, state: RuleState) -> Iterator[None]:
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
    state = RuleState(rule, model)
    state.refuse_unsupported(rule)
    with patched_activations(model, state):
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
    state = RuleState("plain", model)
    with patched_activations(model, state):
        yield state
