"""Speed of backprop_map on VGG-16 at 224 x 224, as ratios measured side by side in one run.

Targets: one logit at most 1.15x a bare autograd gradient of that logit and no slower
than Captum's GuidedBackprop; eight logits in one call at most 0.7x eight single calls.
Each ratio is the median over pairs timed back to back, A B then B A (benchmarks/paired.py).
Run: .venv/bin/python benchmarks/bench_backprop.py [--repeats 6]
"""

from __future__ import annotations

import argparse
import warnings

import torch
from paired import paired

import helpers as H


def bare_gradient(model: torch.nn.Module, x: torch.Tensor, k: int) -> torch.Tensor:
    xg = x[None].clone().requires_grad_(True)
    return torch.autograd.grad(model(xg)[0, k], xg)[0][0]


def captum_gbp(model: torch.nn.Module, x: torch.Tensor, k: int) -> torch.Tensor:
    from captum.attr import GuidedBackprop

    return GuidedBackprop(model).attribute(x[None].clone().requires_grad_(True), target=k)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    model = H.load_model("vgg16_untrained", seed=0).model
    x = H.preprocess(H.load_image("chelsea", 224), "imagenet")
    logits = [
        int(k) for k in torch.randint(0, 1000, (8,), generator=torch.Generator().manual_seed(0))
    ]
    k = logits[0]
    # (label, variant A, variant B, target for A / B): each pair timed in turn, A B, B A, ...
    checks = [
        (
            "guided / bare autograd",
            lambda: H.backprop_map(model, x, k, "guided"),
            lambda: bare_gradient(model, x, k),
            1.15,
        ),
        (
            "plain / bare autograd",
            lambda: H.backprop_map(model, x, k, "plain"),
            lambda: bare_gradient(model, x, k),
            1.15,
        ),
        (
            "guided / captum GuidedBackprop",
            lambda: H.backprop_map(model, x, k, "guided"),
            lambda: captum_gbp(model, x, k),
            1.0,
        ),
        (
            "8 logits one call / 8 single calls",
            lambda: H.backprop_map(model, x, logits),
            lambda: [H.backprop_map(model, x, j) for j in logits],
            0.7,
        ),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} pairs")
    failed = False
    for label, a, b, target in checks:
        ok, line = paired(a, b, args.repeats).line(label, target)
        failed |= not ok
        print(line, flush=True)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
