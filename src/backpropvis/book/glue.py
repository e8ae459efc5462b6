"""The book layer: numbers and figures glued into the pages (myst-nb) and saved as metrics.

myst-nb is present when the book is built and absent in Colab or plain Jupyter, where a glued
value is displayed next to its cell instead (tables rendered, numbers as ``name = value``): it is
imported in each call, optionally.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__: list[str] = []  # used by the library, not re-exported to the chapters


def glue_figure(name: str, fig: Any, dpi: int = 100) -> None:
    """Glue a matplotlib figure as a PNG for a captioned ``{glue:figure}`` in the book and show it
    once in the notebook (where myst-nb is absent, as in Colab, it is only shown).

    The PNG is rendered here, so it does not depend on the kernel's matplotlib backend (``make``
    sets ``MPLBACKEND=Agg``, under which a bare figure displays as text). Closes the figure; tag
    the cell ``remove-output`` so the book shows only the captioned copy.
    """
    import matplotlib.pyplot as plt  # heavy (0.7 s): first use only
    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    png = Image(data=buf.getvalue(), format="png")
    try:
        from myst_nb import glue as _glue  # optional: the book build only
    except ImportError:
        from IPython.display import display

        display(png)
    else:
        _glue(name, png, display=True)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = ".3f") -> str:
    """A Markdown table; floats are formatted with ``fmt``, anything else with ``str``."""

    def cell(v: Any) -> str:
        text = format(v, fmt) if isinstance(v, (float, np.floating)) else str(v)
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` for ``{glue}`` references in the book (myst-nb). Where myst-nb is absent
    (Colab, plain Jupyter, VS Code) show it next to the cell instead, as a reader would want it:
    a table or figure (anything with a rich display) rendered, a number as ``name = value``
    in Markdown. Returns nothing, so that a cell ending in a glue call does not show the value
    a second time as its result."""
    if isinstance(value, np.generic):  # myst-nb formats Python numbers, not their numpy reprs
        value = value.item()
    elif isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    try:
        from myst_nb import glue as _glue  # optional: the book build only
    except ImportError:
        from IPython.display import Markdown
        from IPython.display import display as show

        rich = any(hasattr(value, f"_repr_{k}_") for k in ("markdown", "html", "png", "svg"))
        if rich:
            show(value)
        else:
            text = format(value, ".4g") if isinstance(value, (float, np.floating)) else value
            show(Markdown(f"`{name}` = **{text}**"))
        return
    _glue(name, value, display=display)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _sorted(obj: Any, key: str = "") -> Any:
    """Dicts with sorted keys, except the claims, which keep the order the chapter states them."""
    if isinstance(obj, dict):
        keys = list(obj) if key == "claims" else sorted(obj)
        return {k: _sorted(obj[k], k) for k in keys}
    if isinstance(obj, list):
        return [_sorted(v) for v in obj]
    return obj


def save_metrics(out_dir: str | os.PathLike, stem: str, metrics: dict[str, Any]) -> Path:
    """Write ``metrics`` to ``<out_dir>/<stem>.json`` (sorted keys; ``"claims"`` in the order
    they were stated, which the scorecard keeps) and return the path."""
    path = Path(out_dir) / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_sorted(_jsonable(metrics)), indent=2) + "\n")
    return path
