"""One set of argument checks behind every entry point of the package.

Each check returns the value it accepted (converted to a plain Python type) or raises a
``ValueError`` whose message names the argument, in the paper's notation where it has one
(``n_filters (N)``, ``hidden (N_h)``, ``std (the weight scale c)``). The target parser
:func:`parse_targets` and :func:`resolve_targets` serve every function that takes logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

#: What ``targets`` accepts besides logit indices: the model's largest logit.
MAX = "max"


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an ``int > 0`` (bools refused); ``name`` is the argument in messages."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_seed(seed: Any) -> int:
    """A seed: an ``int >= 0``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_std(std: Any) -> float:
    """The weight scale ``c``: a finite number ``> 0``."""
    if not isinstance(std, (int, float)) or not math.isfinite(std) or std <= 0:
        raise ValueError(f"std (the weight scale c) must be a positive number, got {std!r}")
    return float(std)


def check_image(x: Any) -> torch.Tensor:
    """One image: a finite floating-point tensor ``(3, H, W)``."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor of shape (3, H, W), got {type(x).__name__}")
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"x must have shape (3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    return x


def check_sizes(sizes: Sequence[int], name: str) -> list[int]:
    """A non-empty list of network sizes (``N`` or ``N_h``), each a positive int."""
    out = [check_positive_int(s, name) for s in sizes]
    if not out:
        raise ValueError(f"sizes ({name}) must not be empty")
    return out


def parse_targets(
    targets: Any, n_logits: int | None = None, allow_max: bool = True
) -> tuple[list[int | str], bool]:
    """The one parser of ``targets``: ``(list of T targets, single)``.

    ``targets`` is a logit index ``k >= 0``, ``"max"`` (the largest logit; refused when
    ``allow_max`` is false), or a list or tuple of those (``single`` is then false). Bools,
    floats such as ``9.7`` and negative indices (which would wrap around) are refused; with
    ``n_logits`` (``K``) known, indices ``>= K`` are refused too.
    """
    single = not isinstance(targets, (list, tuple))
    out = [targets] if single else list(targets)
    if not out:
        raise ValueError("targets: the target list is empty")
    for t in out:
        is_int = isinstance(t, (int, np.integer)) and not isinstance(t, bool)
        if not (is_int or (allow_max and isinstance(t, str) and t == MAX)):
            what = "an int logit index or 'max'" if allow_max else "an int logit index"
            raise ValueError(f"targets: each target must be {what}, got {t!r}")
        if is_int:
            _check_logit(int(t), n_logits)
    return [t if t == MAX else int(t) for t in out], single


def resolve_targets(
    targets: Sequence[int | str], logits: torch.Tensor | None, n_logits: int
) -> list[int]:
    """Parsed ``targets`` -> logit indices in ``0..K-1``; ``"max"`` needs ``logits`` ``(K,)``."""
    out = []
    for t in targets:
        k = int(logits.argmax()) if t == MAX else int(t)
        _check_logit(k, n_logits)
        out.append(k)
    return out


def _check_logit(k: int, n_logits: int | None) -> None:
    if k < 0:
        raise ValueError(f"targets: target {k} is outside the model's logits (indices are >= 0)")
    if n_logits is not None and k >= n_logits:
        raise ValueError(f"targets: target {k} is outside the model's logits 0..{n_logits - 1}")


def model_device(model: nn.Module, fallback: torch.device) -> torch.device:
    """The device of ``model``'s first parameter (``fallback`` for a model without any)."""
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else fallback
