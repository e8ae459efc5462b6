"""Ratios of two timed variants, measured side by side: A B, B A, A B, ... (ABBA order).

Each repeat times A and B back to back and keeps the ratio of that pair, so a busy machine
(another process on the two cores, a frequency change) moves both sides of one ratio alike;
alternating which goes first cancels any advantage of running second (warm caches). The
reported ratio is the median of the per-pair ratios, with their range beside it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


def wall(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclass
class Paired:
    """Per-pair times (seconds) of variants A and B and their ratio A / B."""

    a: list[float]
    b: list[float]

    @property
    def ratios(self) -> list[float]:
        return [x / y for x, y in zip(self.a, self.b, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def line(self, label: str, target: float) -> tuple[bool, str]:
        """(passed, one printed line) for the target ``ratio <= target``."""
        ok = self.ratio <= target
        lo, hi = min(self.ratios), max(self.ratios)
        return ok, (
            f"{'PASS' if ok else 'FAIL'}  {label:40s} ratio {self.ratio:.3f} "
            f"(pairs {lo:.3f}-{hi:.3f}; A {statistics.median(self.a) * 1e3:.1f} ms, "
            f"B {statistics.median(self.b) * 1e3:.1f} ms; target <= {target})"
        )


def paired(a: Callable[[], object], b: Callable[[], object], repeats: int) -> Paired:
    """Time ``a`` and ``b`` ``repeats`` times each, interleaved A B, B A, ... after one warm-up."""
    a(), b()
    ta, tb = [], []
    for i in range(repeats):
        if i % 2 == 0:
            ta.append(wall(a))
            tb.append(wall(b))
        else:
            tb.append(wall(b))
            ta.append(wall(a))
    return Paired(ta, tb)
