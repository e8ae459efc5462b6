"""One number, one name: a chapter's record of what it measured and what it concludes.

``rec = Record("04_filter_sweeps", out_dir)``; then

- ``rec("conv_error_slope", slope)`` glues the number for ``{glue:text}`conv_error_slope```
  in the prose and stores it in the chapter's metrics under the same literal name (a dotted
  name, ``"fc_100000_vs_conv_16.fc"``, nests: ``metrics["fc_100000_vs_conv_16"]["fc"]``);
- ``rec.table(name, header, rows)`` and ``rec.figure(name, fig)`` glue a table or a figure;
- ``rec.claim(key, section, text, measured, verdict)`` states one of the paper's claims with
  its verdict (:mod:`backpropvis.verdicts`), glued as ``claims.<key>.verdict`` and
  ``claims.<key>.measured`` and stored in ``metrics["claims"]``, which the scorecard renders;
- ``rec.claims_table()`` shows the chapter's claims; ``rec.save()`` writes
  ``<out_dir>/<stem>.json``.

Searching the prose's glue name finds the line that computes the number.

The record also knows what the page reads: ``metrics["page"]`` lists the glued names
(``glued``), the glued tables with their cells (``tables``) and, for every glued spread (a name
or table column ending in ``std``), how many photos or seeds it is taken over (``spreads``). The
regression baselines assert exactly these, the claims and a few declared core numbers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from IPython.display import Markdown

from ..claims.verdicts import VERDICTS
from .glue import glue, glue_figure, markdown_table, save_metrics

__all__ = ["Record"]

#: A spread: a name (or a table column) that ends in ``std``.
SPREAD = re.compile(r"(^|[._ ])std$")


class Record:
    """The numbers, tables, figures and claims of one chapter (``stem``), in one place."""

    def __init__(self, stem: str, out_dir: str | os.PathLike) -> None:
        self.stem, self.out_dir = stem, out_dir
        self.metrics: dict[str, Any] = {}
        self.claims: dict[str, dict[str, str]] = {}
        self.glued: set[str] = set()
        self.tables: dict[str, dict[str, list]] = {}
        self.spreads: dict[str, int] = {}

    def _spread(self, name: str, n: int | None) -> None:
        if n is not None:
            self.spreads[name] = int(n)
        elif SPREAD.search(name):
            raise ValueError(
                f"{self.stem}: {name!r} is a spread; say over how many photos or seeds (n=...)"
            )

    def __call__(self, name: str, value: Any, glued: bool = True, n: int | None = None) -> Any:
        """Store ``value`` under ``name`` (dotted names nest) and glue it; returns ``value``.

        ``n``: for a spread (a name ending in ``std``), the photos or seeds it is taken over.
        """
        *parents, leaf = name.split(".")
        node = self.metrics
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        if glued:
            self._spread(name, n)
            self.glued.add(name)
            glue(name, value)
        return value

    def quote(self, *names: str, n: int | None = None) -> None:
        """Glue numbers already stored (by :meth:`update` or a computation that filled
        :attr:`metrics`) under their dotted names, for the prose to quote."""
        for name in names:
            node = self.metrics
            for part in name.split("."):
                node = node[part]
            self._spread(name, n)
            self.glued.add(name)
            glue(name, node)

    def update(self, **values: Any) -> None:
        """Store several numbers that the prose does not quote (not glued)."""
        for name, value in values.items():
            self(name, value, glued=False)

    def table(
        self,
        name: str,
        header: Sequence[str],
        rows: Sequence[Sequence[Any]],
        n: int | None = None,
    ) -> None:
        """Glue a Markdown table for ``{glue:md}`name```; shown as a table outside the book.

        ``n``: where a column is a spread (its header ends in ``std``), the photos or seeds it
        is taken over.
        """
        header, rows = [str(h) for h in header], [list(r) for r in rows]
        if any(SPREAD.search(h) for h in header):
            self._spread(f"tables.{name}", n)
        self.tables[name] = {"header": header, "rows": rows}
        glue(name, Markdown(markdown_table(header, rows)))

    def figure(self, name: str, fig: Any, dpi: int = 100) -> None:
        """Glue a matplotlib figure for ``{glue:figure}`name``` (closes it)."""
        glue_figure(name, fig, dpi=dpi)

    def claim(self, key: str, section: str, text: str, measured: str, verdict: str) -> str:
        """State a claim of the paper (``section``: where the paper makes it) with the number
        that tests it and its verdict; returns the verdict."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        if key in self.claims:
            raise ValueError(f"claim {key!r} stated twice in {self.stem}")
        self.claims[key] = {
            "section": section,
            "claim": text,
            "measured": measured,
            "verdict": verdict,
        }
        glue(f"claims.{key}.verdict", verdict)
        glue(f"claims.{key}.measured", measured)
        return verdict

    def claims_table(self, name: str = "claims_table") -> None:
        """Glue this chapter's claims as a table (section, claim, measured, verdict)."""
        rows = [
            [c[k] for k in ("section", "claim", "measured", "verdict")]
            for c in self.claims.values()
        ]
        self.table(name, ["§", "claim", "measured", "verdict"], rows)

    def page(self) -> dict[str, Any]:
        """What the page reads: the glued names, the glued tables, and each spread's ``n``."""
        return {"glued": sorted(self.glued), "tables": self.tables, "spreads": self.spreads}

    def save(self) -> None:
        """Write the metrics, with the claims under ``"claims"`` and what the page reads under
        ``"page"``, to ``<out_dir>/<stem>.json``."""
        metrics = {**self.metrics, "claims": self.claims, "page": self.page()}
        save_metrics(self.out_dir, self.stem, metrics)
