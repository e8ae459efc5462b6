"""Patches ``y_j = D_j x`` and the one padding rule (the paper's ``D_j``, Section 2).

A ``k x k`` filter sees the ``J`` patches of ``k x k x 3`` pixels (``p = 3 k^2`` entries).
``"valid"`` padding (the paper's analysis) takes the patches inside the image,
``J = (H - k + 1) (W - k + 1)``; ``"same"`` pads ``k // 2`` zeros on each side (odd ``k``), one
patch centered at every pixel, ``J = H W``. :func:`padding_pixels` is that rule, used by the
networks, the theory and the sweeps alike. ``sum_j D_j^T`` is ``fold``, the adjoint of
``unfold``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import check_image, check_positive_int

__all__ = ["patch_coverage", "patch_matrices", "patch_norms"]

#: The two paddings: patches inside the image, or one patch centered at every pixel.
PADDINGS: tuple[str, ...] = ("valid", "same")


def padding_pixels(kernel_size: int, padding: str) -> int:
    """Zeros added on each side for ``padding``: 0 (``"valid"``) or ``k // 2`` (``"same"``)."""
    if padding not in PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    if padding == "same" and kernel_size % 2 == 0:
        raise ValueError(f"'same' padding needs an odd kernel_size, got {kernel_size}")
    return kernel_size // 2 if padding == "same" else 0


def check_kernel(x: torch.Tensor, kernel_size: int, padding: str) -> tuple[int, int]:
    """``(k, pad)`` for ``k x k`` patches of ``x`` ``(..., H, W)``; the image must hold one."""
    k = check_positive_int(kernel_size, "kernel_size")
    pad = padding_pixels(k, padding)
    if padding == "valid" and min(x.shape[-2:]) < k:
        raise ValueError(
            f"image {tuple(x.shape[-2:])} is smaller than the {k}x{k} kernel with 'valid' padding"
        )
    return k, pad


def patch_grid(height: int, width: int, kernel_size: int, padding: str) -> tuple[int, int]:
    """``(J_h, J_w)``: the grid of patch centers, ``J = J_h J_w`` patches."""
    if padding == "same":
        return height, width
    return height - kernel_size + 1, width - kernel_size + 1


def patch_matrices(d: int, p: int = 3, stride: int = 1, dtype=torch.float64) -> torch.Tensor:
    """The paper's ``D_j`` for a 1-D signal of length ``d``: ``(J, p, d)`` 0/1 matrices.

    ``y^(j) = D_j x`` is the ``j``-th patch, entries ``(j - 1) b + 1 .. (j - 1) b + p`` (stride
    ``b``, VALID padding), so ``J = (d - p) // b + 1``.
    """
    d, p, b = (check_positive_int(v, n) for v, n in ((d, "d"), (p, "p"), (stride, "stride")))
    if p > d:
        raise ValueError(f"patch size p={p} exceeds the signal length d={d}")
    n_patches = (d - p) // b + 1
    eye = torch.eye(d, dtype=dtype)
    return torch.stack([eye[j * b : j * b + p] for j in range(n_patches)])


def patch_coverage(
    height: int, width: int, kernel_size: int, padding: str = "valid"
) -> torch.Tensor:
    """Diagonal of ``sum_j D_j^T D_j`` per pixel: how many ``k x k`` patches cover it, ``(H, W)``.

    ``k^2`` in the interior. At the corners VALID falls to 1 and SAME (a patch centered at every
    pixel, border patches holding zeros) to ``((k + 1) / 2)^2``. The same for each channel.
    """
    ones = torch.ones(1, 1, height, width, dtype=torch.float64)
    k, pad = check_kernel(ones[0], kernel_size, padding)
    cols = F.unfold(ones, k, padding=pad)
    return F.fold(cols, (height, width), k, padding=pad)[0, 0]


def patch_norms(x: torch.Tensor, kernel_size: int = 7, padding: str = "valid") -> torch.Tensor:
    """``||y^(j)||_2`` of every ``k x k x 3`` patch: ``(3, H, W)`` -> ``(J_h, J_w)``."""
    x = check_image(x)
    k, pad = check_kernel(x, kernel_size, padding)
    box = x.new_ones(1, 1, k, k)
    return F.conv2d((x * x).sum(0)[None, None], box, padding=pad)[0, 0].clamp_min(0).sqrt()
