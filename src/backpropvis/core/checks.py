"""One set of argument checks behind every entry point of the package.

Each check returns the value it accepted (converted to a plain Python type) or raises a
``ValueError`` whose message names the argument, in the paper's notation where it has one
(``n_filters (N)``, ``hidden (N_h)``, ``std (the weight scale c)``), what it got and what is
allowed. Numbers are accepted the same way everywhere: Python and NumPy scalars and 0-d
tensors; bools are refused for every numeric parameter. The target parser
:func:`parse_targets` and :func:`resolve_targets` serve every function that takes logits.
Where the result is still meaningful the package warns instead (:class:`InputWarning`: an image
upscaled, a tensor converted, a model run in eval mode).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__: list[str] = []  # used by the library, not re-exported to the chapters

#: What ``targets`` accepts besides logit indices: the model's largest logit.
MAX = "max"

#: The weight scales ``c`` a float32 network can use: its maps scale as ``c^2`` (Eq. 2) and
#: leave float32's range (about 1e-38..3e38, with room for sums over ``N J`` terms) outside.
FLOAT32_STD_RANGE = (1e-12, 1e12)


class InputWarning(UserWarning):
    """The input was changed to be usable (upscaled, converted, run in eval mode); says how."""


def _is_int_dtype(dtype: torch.dtype) -> bool:
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)


def as_int(value: Any) -> int | None:
    """``value`` as an ``int`` if it is an integer (Python, NumPy, 0-d integer tensor), else
    ``None``; bools (Python, NumPy, tensor) are not integers here."""
    if isinstance(value, torch.Tensor):
        if value.ndim != 0 or value.dtype == torch.bool or not _is_int_dtype(value.dtype):
            return None
        return int(value.item())
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def as_float(value: Any) -> float | None:
    """``value`` as a ``float`` if it is a real number (Python, NumPy, 0-d tensor), else
    ``None``; bools are refused."""
    if isinstance(value, torch.Tensor):
        if value.ndim != 0 or value.dtype == torch.bool or value.is_complex():
            return None
        return float(value.item())
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return None
    if isinstance(value, np.complexfloating):
        return None
    return float(value)


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an ``int > 0`` (bools refused); ``name`` is the argument in messages."""
    v = as_int(value)
    if v is None or v <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return v


def check_seed(seed: Any) -> int:
    """A seed: an ``int >= 0``."""
    v = as_int(seed)
    if v is None or v < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return v


def check_std(std: Any, float32: bool = False) -> float:
    """The weight scale ``c``: a finite number ``> 0``; with ``float32``, within
    :data:`FLOAT32_STD_RANGE` (outside it the maps of a float32 network are all NaN or all 0)."""
    v = as_float(std)
    if v is None or not math.isfinite(v) or v <= 0:
        raise ValueError(f"std (the weight scale c) must be a positive number, got {std!r}")
    lo, hi = FLOAT32_STD_RANGE
    if float32 and not lo <= v <= hi:
        what = "overflow to inf/NaN" if v > hi else "underflow to 0"
        raise ValueError(
            f"std (the weight scale c) = {v:g} is outside {lo:g}..{hi:g}: the network computes "
            f"in float32 and its maps, which scale as c^2, would {what} (the maps' shape does "
            "not depend on c, so any c in range shows the same picture)"
        )
    return v


def check_image(x: Any, name: str = "x", batch: bool = False) -> torch.Tensor:
    """One image: a finite floating-point tensor ``(3, H, W)`` (``(B, 3, H, W)`` with
    ``batch``); ``name`` is the argument in messages."""
    shape = "(B, 3, H, W)" if batch else "(3, H, W)"
    if not isinstance(x, torch.Tensor):
        hint = " (torch.from_numpy(a).permute(2, 0, 1) for an (H, W, 3) array)"
        hint = hint if isinstance(x, np.ndarray) else ""
        raise ValueError(
            f"{name} must be a torch.Tensor of shape {shape}, got {type(x).__name__}{hint}"
        )
    if x.ndim != (4 if batch else 3) or x.shape[-3] != 3:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor (values in [0, 1] before preprocess), got "
            f"{x.dtype}; for uint8 pixels use x.float() / 255"
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def model_dtype(model: nn.Module, fallback: torch.dtype = torch.float32) -> torch.dtype:
    """The dtype of ``model``'s first floating-point parameter or buffer (``fallback``)."""
    for t in (*model.parameters(), *model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return fallback


def match_dtype(x: torch.Tensor, dtype: torch.dtype, name: str = "x") -> torch.Tensor:
    """``x`` in ``dtype`` (the model's); a conversion is announced by an :class:`InputWarning`."""
    if x.dtype == dtype:
        return x
    import warnings

    warnings.warn(
        f"{name} is {str(x.dtype).removeprefix('torch.')} and the model computes in "
        f"{str(dtype).removeprefix('torch.')}: converted {name} to "
        f"{str(dtype).removeprefix('torch.')}",
        InputWarning,
        stacklevel=3,
    )
    return x.to(dtype)


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
    single = not isinstance(targets, (list, tuple, np.ndarray))
    out = [targets] if single else list(targets)
    if not out:
        raise ValueError("targets: the target list is empty")
    if isinstance(targets, torch.Tensor) and targets.ndim == 1:
        single, out = False, list(targets)
    parsed: list[int | str] = []
    for t in out:
        k = as_int(t)
        if k is None and not (allow_max and isinstance(t, str) and t == MAX):
            what = "an int logit index or 'max'" if allow_max else "an int logit index"
            if isinstance(t, str) and t.strip().lstrip("-").isdigit():
                what += f" (an int such as {t.strip()}, not the string {t!r})"
            raise ValueError(f"targets: each target must be {what}, got {t!r}")
        if k is not None:
            _check_logit(k, n_logits)
        parsed.append(MAX if k is None else k)
    return parsed, single


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


def check_logits(out: Any, batch: int) -> torch.Tensor:
    """The model's output as logits ``(B, K)``, or a ``ValueError`` saying what it returned."""
    if not isinstance(out, torch.Tensor):
        raise ValueError(
            f"model must return a logits tensor (B, K); it returned a {type(out).__name__}. "
            "Wrap it so that forward returns the logits (e.g. out[0] or out.logits)"
        )
    if out.ndim != 2 or out.shape[0] != batch:
        raise ValueError(f"model must return logits (B, K) = ({batch}, K); got {tuple(out.shape)}")
    return out
