"""The book layer: numbers and figures glued into the pages (myst-nb) and saved as metrics.

myst-nb is present when the book is built and absent in Colab or plain Jupyter, where a glued
value is displayed next to its cell instead (tables rendered, numbers as ``name = value``): it is
imported in each call, optionally.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__: list[str] = []  # used by the library, not re-exported to the chapters


#: PNG text chunks of a glued figure: its glue name, its smallest text in pixels at the saved dpi
#: (what ``make check-html`` scales by the size the browser shows the figure at) and that text.
FIGURE_NAME, SMALLEST_TEXT_PX, SMALLEST_TEXT = (
    "backpropvis:glue-name",
    "backpropvis:smallest-text-px",
    "backpropvis:smallest-text",
)


@contextlib.contextmanager
def _drawn_texts() -> Iterator[list[Any]]:
    """Collect every text a figure draws while the block runs: ticks, labels, legends, titles,
    colorbar labels, annotations, suptitles (matplotlib draws only the visible ones, and only
    the tick labels in view)."""
    from matplotlib.text import Text

    drawn: list[Any] = []
    draw = Text.draw

    def recording(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return draw(self, renderer)

    Text.draw = recording
    try:
        yield drawn
    finally:
        Text.draw = draw


def _text_chunk(key: str, value: str) -> bytes:
    data = key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")
    return (
        struct.pack(">I", len(data))
        + b"tEXt"
        + data
        + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    )


def figure_png(name: str, fig: Any, dpi: int = 100) -> bytes:
    """The PNG of ``fig`` at ``dpi`` (``bbox_inches="tight"``), as :func:`glue_figure` glues it,
    with text chunks naming the figure and its smallest drawn text in pixels at ``dpi``
    (points x dpi / 72); :func:`figure_record` reads them back."""
    buf = io.BytesIO()
    with _drawn_texts() as drawn:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    png = buf.getvalue()
    chunks = _text_chunk(FIGURE_NAME, name)
    if drawn:
        smallest = min(drawn, key=lambda t: t.get_fontsize())
        px = smallest.get_fontsize() * dpi / 72
        chunks += _text_chunk(SMALLEST_TEXT_PX, f"{px:.2f}")
        chunks += _text_chunk(SMALLEST_TEXT, " ".join(smallest.get_text().split())[:80])
    iend = png.rindex(b"IEND") - 4  # the last chunk: its length, type and CRC
    return png[:iend] + chunks + png[iend:]


def figure_record(png: bytes) -> dict[str, str]:
    """The text chunks of a PNG (``{key: text}``): for a figure glued by :func:`glue_figure`,
    :data:`FIGURE_NAME`, :data:`SMALLEST_TEXT_PX` and :data:`SMALLEST_TEXT`."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    record, at = {}, 8
    while at + 8 <= len(png):
        (length,), kind = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        if kind == b"tEXt":
            key, _, text = png[at + 8 : at + 8 + length].partition(b"\0")
            record[key.decode("latin-1")] = text.decode("latin-1")
        at += 12 + length
    return record


def glue_figure(name: str, fig: Any, dpi: int = 100) -> None:
    """Glue a matplotlib figure as a PNG for a captioned ``{glue:figure}`` in the book and show it
    once in the notebook (where myst-nb is absent, as in Colab, it is only shown).

    The PNG is rendered here (:func:`figure_png`, which records the figure's name and smallest
    text for ``make check-html``), so it does not depend on the kernel's matplotlib backend
    (``make`` sets ``MPLBACKEND=Agg``, under which a bare figure displays as text). Closes the
    figure; tag the cell ``remove-output`` so the book shows only the captioned copy.
    """
    import matplotlib.pyplot as plt  # heavy (0.7 s): first use only
    from IPython.display import Image

    data = figure_png(name, fig, dpi)
    plt.close(fig)
    png = Image(data=data, format="png")
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
