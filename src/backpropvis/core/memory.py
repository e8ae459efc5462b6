"""The size guard: work whose memory would exceed what the machine has is refused up front.

Before a large allocation (a network's weights, an image, an upload, a forward pass of the
paper's networks) the caller estimates its bytes and calls :func:`check_memory`, which raises
:class:`TooLargeError` with the estimate and what is available, instead of letting the process
grow until the operating system kills it without a message. What is available is
``BACKPROPVIS_MEMORY_LIMIT`` (bytes, for a cap below the machine's) where set, else
``MemAvailable`` of ``/proc/meminfo`` (Linux, Colab); elsewhere nothing is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__: list[str] = []  # used by the library, not re-exported to the chapters

#: Environment variable: a memory cap in bytes (e.g. ``4e9``), below what the machine has.
MEMORY_LIMIT_ENV = "BACKPROPVIS_MEMORY_LIMIT"


class TooLargeError(ValueError, MemoryError):
    """Work refused before it was allocated: its estimated memory exceeds what is available.

    A ``ValueError`` (a bad argument, caught where bad input is reported) and a
    ``MemoryError``.
    """


def available_bytes() -> int | None:
    """Bytes available for new work: the cap :data:`MEMORY_LIMIT_ENV` if set, else
    ``MemAvailable`` from ``/proc/meminfo``, else ``None`` (unknown: nothing is refused)."""
    cap = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if cap:
        try:
            return int(float(cap))
        except ValueError:
            raise ValueError(
                f"{MEMORY_LIMIT_ENV} must be a number of bytes such as 4e9, got {cap!r}"
            ) from None
    meminfo = Path("/proc/meminfo")
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        return None
    return None


def format_bytes(n: float) -> str:
    """``1.2 GB``-style text (decimal units)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def check_memory(nbytes: float, what: str, advice: str = "") -> None:
    """Raise :class:`TooLargeError` when ``nbytes`` (an estimate) exceeds what is available.

    ``what`` says what would be allocated (``"ThreeLayerConvNet(n_filters=1000000000)
    weights"``), ``advice`` what to do instead.
    """
    avail = available_bytes()
    if avail is None or nbytes <= avail:
        return
    tail = f"; {advice}" if advice else ""
    raise TooLargeError(
        f"{what} would need about {format_bytes(nbytes)} of memory and "
        f"{format_bytes(avail)} is available{tail}"
    )
