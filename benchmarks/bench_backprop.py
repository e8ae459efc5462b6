"""Speed of backprop_map on VGG-16 at 224 x 224, as ratios measured side by side in one run.

Targets (issue 2): one logit at most 1.15x a bare autograd gradient of that logit and no slower
than Captum's GuidedBackprop; eight logits in one call at most 0.7x eight single calls.
Run: .venv/bin/python benchmarks/bench_backprop.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

import helpers as H


def bare_gradient(model: torch.nn.Module, x: torch.Tensor, k: int) -> torch.Tensor:
    xg = x[None].clone().requires_grad_(True)
    return torch.autograd.grad(model(xg)[0, k], xg)[0][0]


def captum_gbp(model: torch.nn.Module, x: torch.Tensor, k: int) -> torch.Tensor:
    from captum.attr import GuidedBackprop

    return GuidedBackprop(model).attribute(x[None].clone().requires_grad_(True), target=k)[0]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    model = H.load_model("vgg16_untrained", seed=0).model
    x = H.preprocess(H.load_image("chelsea", 224), "imagenet")
    logits = [
        int(k) for k in torch.randint(0, 1000, (8,), generator=torch.Generator().manual_seed(0))
    ]
    cases = {
        "bare autograd, 1 logit": lambda: bare_gradient(model, x, logits[0]),
        "backprop_map guided, 1 logit": lambda: H.backprop_map(model, x, logits[0], "guided"),
        "backprop_map plain, 1 logit": lambda: H.backprop_map(model, x, logits[0], "plain"),
        "captum GuidedBackprop, 1 logit": lambda: captum_gbp(model, x, logits[0]),
        "backprop_map guided, 8 logits in one call": lambda: H.backprop_map(model, x, logits),
        "backprop_map guided, 8 single calls": lambda: [
            H.backprop_map(model, x, k) for k in logits
        ],
    }
    for fn in cases.values():  # warm-up
        fn()
    times = {name: [] for name in cases}
    for _ in range(args.repeats):  # interleaved, so drift hits every case alike
        for name, fn in cases.items():
            times[name].append(timed(fn))
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} repeats")
    for name, t in med.items():
        print(f"  {name:45s} {t * 1000:8.1f} ms (median)")
    checks = [
        (
            "guided / bare autograd",
            med["backprop_map guided, 1 logit"],
            med["bare autograd, 1 logit"],
            1.15,
        ),
        (
            "plain / bare autograd",
            med["backprop_map plain, 1 logit"],
            med["bare autograd, 1 logit"],
            1.15,
        ),
        (
            "guided / captum GuidedBackprop",
            med["backprop_map guided, 1 logit"],
            med["captum GuidedBackprop, 1 logit"],
            1.0,
        ),
        (
            "8 logits one call / 8 single calls",
            med["backprop_map guided, 8 logits in one call"],
            med["backprop_map guided, 8 single calls"],
            0.7,
        ),
    ]
    failed = False
    for label, num, den, target in checks:
        ratio = num / den
        ok = ratio <= target
        failed |= not ok
        print(f"{'PASS' if ok else 'FAIL'}  {label:38s} ratio {ratio:.3f} (target <= {target})")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
