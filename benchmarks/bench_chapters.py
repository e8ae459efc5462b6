"""Chapters' run time at their book parameters, this tree against an earlier commit, side by side.

Each chapter is executed with papermill (a fresh kernel each time, as ``make book`` runs it) from
this tree and from a git worktree of ``--before`` (default: the last commit before the package
was laid out by layer), in ABBA order, and the ratio this / before is printed per chapter with
its range over the pairs. Target: no chapter slower (ratio <= 1.10, the pairs' noise on a shared
2-core machine). Takes about two ``make book`` runs per repeat: ``--chapters`` picks a few.

Usage: python benchmarks/bench_chapters.py [--before REV] [--repeats 2] [--chapters 01 02]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "349d4b4"  # chapters 1-7 with the package in one folder
TARGET = 1.10


def run_chapter(tree: Path, stem: str, out: Path) -> float:
    """Wall seconds of one papermill run of chapter ``stem`` of ``tree`` (its own library)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PYTHONHASHSEED": "0"}
    env.pop("MPLBACKEND", None)
    start = time.perf_counter()
    notebook = tree / "notebooks" / f"{stem}.ipynb"
    command = [sys.executable, "-m", "papermill", "-k", "python3", "--cwd", str(out)]
    command += ["-p", "out_dir", str(out / "metrics"), str(notebook), str(out / f"{stem}.ipynb")]
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--chapters", nargs="*", default=["01", "02", "03", "04", "05", "06"])
    args = parser.parse_args()
    stems = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    stems = [s for s in stems if s[:2] in args.chapters]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old),
                        args.before], check=True)  # fmt: skip
        try:
            for stem in stems:
                now, before = [], []
                for i in range(args.repeats):
                    pair = [(now, ROOT), (before, old)]
                    for times, tree in pair if i % 2 == 0 else pair[::-1]:
                        times.append(run_chapter(tree, stem, Path(tmp) / f"{tree.name}-{i}"))
                ratios = [a / b for a, b in zip(now, before, strict=True)]
                ratio = statistics.median(ratios)
                failed |= ratio > TARGET
                print(
                    f"{'PASS' if ratio <= TARGET else 'FAIL'}  {stem:22s} ratio {ratio:.3f} "
                    f"(pairs {min(ratios):.3f}-{max(ratios):.3f}; now {statistics.median(now):.1f}"
                    f" s, {args.before} {statistics.median(before):.1f} s; target <= {TARGET})",
                    flush=True,
                )
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)  # fmt: skip
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
