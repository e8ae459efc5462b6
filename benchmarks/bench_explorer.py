"""Per-update time of the chapter-5 explorer (target: at most 1 s at the default settings).

Drives the widget headless as a reader would: one control changed at a time, each change
followed by the update a live kernel runs (cached computation and PNG rendering), timed wall
to wall. Every repeat starts from a fresh Explorer, so "uncached" changes really compute.
Changes the explorer labels as slower are reported, not judged. The load average is printed:
other processes on the two cores inflate every time.
Run: .venv/bin/python benchmarks/bench_explorer.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import torch

import helpers as H

# (control, value, note): the default-setting walk, then heavier settings labelled as slower.
CHANGES = [
    ("rule", "plain", "uncached"),
    ("rule", "guided", "cached (revisit)"),
    ("n", 64, "uncached"),
    ("n", 256, "cached (revisit)"),
    ("logit2", "tabby", "one new map"),
    ("logit2", "random", "cached (revisit)"),
    ("logit", "goldfish", "one new map"),
    ("logit", "482", "cached (revisit)"),
    ("photo", "astronaut", "uncached"),
    ("photo", "chelsea", "cached (revisit)"),
    ("kernel_size", 5, "uncached"),
    ("padding", "same", "uncached"),
    ("seed", 1, "uncached"),
    ("size", 96, "uncached"),
    ("size", 128, "cached (revisit)"),
    ("network", "trained", "first use loads the network"),
    ("rule", "plain", "uncached"),
    ("network", "convnet", "uncached (rule changed meanwhile)"),
    ("network", "fc", "uncached"),
    ("n", 4096, "heavy"),
    ("network", "vgg16_untrained", "first use loads the network"),
    ("size", 224, "heavy"),
]


def walk() -> list[tuple[str, float, str]]:
    """One pass over CHANGES from a fresh Explorer; returns (change, seconds, slow label)."""
    ex = H.Explorer(device="cpu")
    start = time.perf_counter()
    ex.widget()  # the first display
    out = [("first display (defaults)", time.perf_counter() - start, ex.last.slow)]
    for key, value, _ in CHANGES:
        start = time.perf_counter()
        result = ex.set(**{key: value})
        assert result is not None and result.error is None, (key, value, result)
        out.append((f"{key} = {value}", time.perf_counter() - start, result.slow))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("BACKPROPVIS_OFFLINE", "1")  # no network check for "auto"
    H.Explorer(device="cpu").explore(H.ExploreSettings(photo="coffee", size=64))  # warm-up
    runs = [walk() for _ in range(args.repeats)]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} repeats")
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    notes = ["defaults", *[note for *_, note in CHANGES]]
    failed = False
    for i, note in enumerate(notes):
        name, slow = runs[0][i][0], runs[0][i][2]
        med = statistics.median(run[i][1] for run in runs)
        if slow or note.startswith("first use"):
            verdict = "slower (labelled)" if slow else "one-time load"
        else:
            verdict = "PASS" if med <= 1.0 else "FAIL"
            failed |= med > 1.0
        print(f"{verdict:18s} {name:28s} {med:7.3f} s  {note}{f' [{slow}]' if slow else ''}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
