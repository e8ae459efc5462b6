"""Chapter 7's attribution methods at the chapter's default settings, timed in one run.

Prints each method's share of the time (each method computed alone, so a method built on
another, gradient × input on the saliency map, Guided Grad-CAM on guided backprop and
Grad-CAM, pays for what it reuses), then two ratios, each pair timed side by side, A B then
B A (benchmarks/paired.py):
- what one randomization step of chapter 7 costs (every method, with the maps at half the
  copies and steps from the same passes, on the network with BatchNorm folded into its
  convolutions, ``H.folded_for_maps``) against the same maps on the network as loaded, with the
  half maps computed by a second call. Target: at most 0.6x;
- every method on the photos stacked in one batch against one photo at a time. Target: no
  slower (each photo's copies and steps already fill passes of ``--batch-size`` images).
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

    def maps(batch: torch.Tensor, k: torch.Tensor, which=methods, halves=False):
        return H.attribution_maps(fast, batch, k, which, **settings | {"halves": halves})

    alone = {m: wall(lambda m=m: maps(xs, targets, [m])) for m in methods}
    total = sum(alone.values())
    for m, t in sorted(alone.items(), key=lambda mt: -mt[1]):
        print(f"  {m:22s} {t:7.2f} s  {100 * t / total:5.1f}% of {total:.1f} s")
    averaged = ["smoothgrad", "integrated_gradients"]
    half = settings | H.half_settings(settings)

    def as_loaded():
        H.attribution_maps(lm.model, xs, targets, methods, **settings)
        return H.attribution_maps(lm.model, xs, targets, averaged, **half)

    step = paired(lambda: maps(xs, targets, halves=True), as_loaded, args.repeats)
    ok, line = step.line("a step: folded, halves shared / as loaded", 0.6)
    print(line, flush=True)
    batched = paired(
        lambda: maps(xs, targets),
        lambda: [maps(x[None], k[None]) for x, k in zip(xs, targets, strict=True)],
        args.repeats,
    )
    ok_batched, line = batched.line("every method: batched / one photo at a time", 1.0)
    print(line, flush=True)
    raise SystemExit(0 if ok and ok_batched else 1)


if __name__ == "__main__":
    main()
