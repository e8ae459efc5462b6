"""Chapter 7's attribution methods at the chapter's default settings, timed in one run.

Prints each method's share of the time (each method computed alone, so a method built on
another, gradient × input on the saliency map, Guided Grad-CAM on guided backprop and
Grad-CAM, pays for what it reuses), then the ratio of every method on the photos stacked in one
batch (per-image targets; SmoothGrad's copies and Integrated Gradients' steps through forward
passes of ``--batch-size`` images) to the same methods one photo at a time, the two timed side
by side, A B then B A (benchmarks/paired.py). Target: batched at most 0.8x one at a time.
Chapter 7's network: BatchNorm folded into the convolutions (``H.folded_for_maps``), every core.
Run: .venv/bin/python benchmarks/bench_methods.py [--photos 6] [--repeats 2]
"""

from __future__ import annotations

import argparse
import warnings

import torch
from paired import paired, wall

import helpers as H
from backpropvis.core.images import NATURAL_PHOTOS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--smoothgrad-samples", type=int, default=16)
    parser.add_argument("--ig-steps", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    H.quiet_attribution_warnings()
    lm = H.load_model("auto", seed=0)
    lm.model.requires_grad_(False)
    photos = list(NATURAL_PHOTOS[: args.photos])
    images = H.load_images(photos, args.size)
    xs = lm.prepare(images)
    fast = H.folded_for_maps(lm.model, xs)  # as chapter 7
    settings = H.attribution_settings(
        lm, images[0], args.smoothgrad_samples, 0.15, args.ig_steps, 0, args.batch_size
    )
    methods = H.method_keys("gradient", "modified", "cam")
    with torch.no_grad():
        targets = lm.model(xs).argmax(1)
    print(
        f"{lm.name}, {len(photos)} photos at {args.size} px, SmoothGrad "
        f"{args.smoothgrad_samples} copies, IG {args.ig_steps} steps, batch "
        f"{args.batch_size}; torch {torch.__version__}, {torch.get_num_threads()} threads"
    )

    def maps(batch: torch.Tensor, k: torch.Tensor, which=methods):
        return H.attribution_maps(fast, batch, k, which, **settings)

    alone = {m: wall(lambda m=m: maps(xs, targets, [m])) for m in methods}
    total = sum(alone.values())
    for m, t in sorted(alone.items(), key=lambda mt: -mt[1]):
        print(f"  {m:22s} {t:7.2f} s  {100 * t / total:5.1f}% of {total:.1f} s")
    batched = paired(
        lambda: maps(xs, targets),
        lambda: [maps(x[None], k[None]) for x, k in zip(xs, targets, strict=True)],
        args.repeats,
    )
    ok, line = batched.line("every method: batched / one photo at a time", 0.8)
    print(line, flush=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
