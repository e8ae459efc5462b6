"""Mutation check: does the suite fail, in the test named after the part, for a plausible bug?

Each mutation below is one deliberate bug (one exact text replacement in one file). For each,
the script copies the repository (``git archive HEAD``, or the working tree with
``--working-tree``) into a temporary directory, applies the bug to the copy, runs the copy's
tests that concern the part with ``PYTHONPATH=<copy>/src`` (so the copy's package is imported,
not the shared tree's editable install), and prints which tests failed. The shared tree is only
read. A run of the same selections without any bug comes first, so that a failure is the bug's.

    .venv/bin/python scripts/mutation_check.py            # every mutation (about 2-4 min)
    .venv/bin/python scripts/mutation_check.py --list
    .venv/bin/python scripts/mutation_check.py --only guided-mask-dropped --keep

Exit status 0 when every bug is caught by at least one of the tests expected to catch it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    bug: str  # what the bug is, in words
    path: str  # file to change, relative to the repository root
    old: str  # exact text, found exactly once
    new: str
    tests: tuple[str, ...]  # the pytest selection to run
    expected: tuple[str, ...]  # test names (substrings of node ids) that should catch it


MUTATIONS: list[Mutation] = [
    Mutation(
        "guided-mask-dropped",
        "rules.h: guided backprop loses the forward mask (becomes DeconvNet)",
        "src/backpropvis/core/rules.py",
        'if rule == "deconv" or mask is None:',
        'if rule in ("deconv", "guided") or mask is None:',
        (
            "tests/unit/test_reference_maps.py",
            "tests/unit/test_rules.py",
            "tests/unit/test_networks.py",
        ),
        ("test_reference_maps.py::test_one_conv_net", "test_effnet_guided_and_deconv"),
    ),
    Mutation(
        "relu6-upper-bound-dropped",
        "rules: the ReLU6 forward mask is 1[a > 0] instead of 1[0 < a < 6]",
        "src/backpropvis/core/rules.py",
        "mask = y if ctx.upper is None else (y > 0) & (y < ctx.upper)",
        "mask = y if ctx.upper is None else y > 0",
        ("tests/unit/test_reference_maps.py", "tests/unit/test_rules.py"),
        (
            "test_one_conv_net_maps_equal_the_hand_derivation[guided-relu6]",
            "test_effnet_guided_and_deconv_equal_the_hook_reference[guided]",
        ),
    ),
    Mutation(
        "limit-patch-norm-squared",
        "theory: Eq. (5)'s limit divides each patch by ||y_j||^2 instead of ||y_j||",
        "src/backpropvis/core/theory.py",
        "inv = torch.where(norms > 0, 1.0 / norms.clamp_min(torch.finfo(x.dtype).tiny), 0.0)",
        "inv = torch.where(norms > 0, 1.0 / norms.clamp_min(torch.finfo(x.dtype).tiny) ** 2, 0.0)",
        ("tests/unit/test_theory.py", "tests/unit/test_networks.py"),
        ("test_gbp_limit_equals_loop_over_patches",),
    ),
    Mutation(
        "fc-limit-norm-squared",
        "theory: Eq. (7)'s limit is x / ||x||^2 instead of x / ||x||",
        "src/backpropvis/core/theory.py",
        "return x / x.norm().clamp_min(torch.finfo(x.dtype).tiny)",
        "return x / x.norm().clamp_min(torch.finfo(x.dtype).tiny) ** 2",
        ("tests/unit/test_theory.py",),
        ("test_gbp_limit_fc_is_the_gbp_map_of_a_wide_fc_net",),
    ),
    Mutation(
        "imagenet-std-changed",
        "images: ImageNet green std 0.224 -> 0.226",
        "src/backpropvis/core/images.py",
        '"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),',
        '"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.226, 0.225)),',
        ("tests/unit/test_preprocess_constants.py", "tests/unit/test_images.py"),
        ("test_imagenet_is_torchvisions_vgg16_normalization",),
    ),
    Mutation(
        "centered-mean-bgr",
        "images: the VGG mean pixel in Caffe's BGR order on an RGB image",
        "src/backpropvis/core/images.py",
        '"centered": ((123.68 / 255, 116.779 / 255, 103.939 / 255), (1.0, 1.0, 1.0)),',
        '"centered": ((103.939 / 255, 116.779 / 255, 123.68 / 255), (1.0, 1.0, 1.0)),',
        ("tests/unit/test_preprocess_constants.py", "tests/unit/test_images.py"),
        ("test_centered_subtracts_the_vgg_mean_pixel",),
    ),
    Mutation(
        "claim-judged-with-flipped-rule",
        "verdicts.at_least: reproduced when value <= good (chapter 1 judges two claims with it)",
        "src/backpropvis/claims/verdicts.py",
        "return judge(value >= good, partial is not None and value >= partial)",
        "return judge(value <= good, partial is not None and value >= partial)",
        (
            "tests/book/test_book_layer.py::test_the_verdict_rule",
            "tests/book/test_book.py::test_chapters_judge_their_claims_as_expected[01_observations]",
        ),
        (
            "test_the_verdict_rule",
            "test_chapters_judge_their_claims_as_expected[01_observations]",
        ),
    ),
    Mutation(
        "scorecard-wrong-verdict-column",
        "scorecard.render: every row's verdict column shows 'reproduced'",
        "scripts/scorecard.py",
        "{measured} | {BADGES[r['verdict']]} |",
        "{measured} | {BADGES[REPRODUCED]} |",
        (
            "tests/book/test_book.py::test_scorecard_page_shows_each_claims_expected_verdict",
            "tests/book/test_scorecard.py::test_scorecard_renders_the_chapters_claims_in_order",
        ),
        ("test_scorecard_page_shows_each_claims_expected_verdict",),
    ),
    Mutation(
        "convnet-features-no-relu",
        "networks: ThreeLayerConvNet.features returns the convolution without its ReLU",
        "src/backpropvis/core/networks.py",
        "return self.relu(self.conv(x))",
        "return self.conv(x)",
        ("tests/unit/test_networks.py",),
        ("test_convnet_features_are_relu_of_the_seeded_filters",),
    ),
    Mutation(
        "readout-weights-one-stream",
        "networks.LayerReadouts: every layer's V_l drawn from the stream index 0",
        "src/backpropvis/core/networks.py",
        "v = streams.READOUTS.randn(tuple(x.shape[1:]), self.seed, i).to(x)",
        "v = streams.READOUTS.randn(tuple(x.shape[1:]), self.seed, 0).to(x)",
        ("tests/unit/test_randomization.py",),
        ("test_layer_readouts_equal_a_hand_computed_readout",),
    ),
    Mutation(
        "batchnorm-folded-without-sqrt",
        "folding: the BatchNorm scale gamma / (var + eps) instead of gamma / sqrt(var + eps)",
        "src/backpropvis/core/folding.py",
        "scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)",
        "scale = bn.weight / (bn.running_var + bn.eps)",
        ("tests/unit/test_folding.py",),
        ("test_folded_network_has_the_same_logits_and_input_gradients",),
    ),
    Mutation(
        "ig-half-on-the-wrong-points",
        "Integrated Gradients: the half-step map from the even points, not the rule with n / 2",
        "src/backpropvis/methods/gradient.py",
        "half = range(1, n, 2) if n % 2 == 0 else []",
        "half = range(0, n, 2) if n % 2 == 0 else []",
        ("tests/unit/test_methods.py",),
        ("test_the_maps_at_half_the_copies_and_steps_are_those_of_a_run_with_half[6]",),
    ),
    Mutation(
        "repeats-back-through-one-logit",
        "SmoothGrad / IG with repeats: every copy of a photo differentiated for its first logit",
        "src/backpropvis/methods/gradient.py",
        "picked = logits.gather(1, picks[:, t : t + 1]).sum()",
        "picked = logits.gather(1, picks[:, :1]).sum()",
        ("tests/unit/test_methods.py",),
        ("test_repeated_images_share_one_forward_pass_and_their_noisy_copies",),
    ),
    Mutation(
        "step-b-for-the-top-class",
        "step (b): V of the network's top class instead of the digit's label",
        "src/backpropvis/core/step_b.py",
        "value = float(_mean_correlation(hv[labels.to(hv.device)], z))",
        "value = float(_mean_correlation(hv[layer(z.float()).argmax(1)], z))",
        ("tests/unit/test_training.py",),
        ("test_step_b_is_zero_within_its_error_at_initialization_and_sees_dependence",),
    ),
    Mutation(
        "permuted-labels-in-order",
        "data randomization: the permuted labels are the true labels (the shuffle lost)",
        "src/backpropvis/core/digits.py",
        "return labels[torch.randperm(len(labels), generator=g)]",
        "return labels[torch.arange(len(labels))]",
        ("tests/unit/test_training.py",),
        ("test_permuted_labels_keep_every_class_count",),
    ),
    Mutation(
        "csc-signed-cosine",
        "convergence.csc: the median of cos instead of |cos| (opposite directions cancel)",
        "src/backpropvis/core/convergence.py",
        "return float(kept.abs().median())",
        "return float(kept.median())",
        ("tests/unit/test_width_depth.py",),
        ("test_csc_of_identical_and_of_opposite_vectors_is_one",),
    ),
    Mutation(
        "width-effect-read-at-depth",
        "width_or_depth.effects: the width effect read along the depth axis",
        "src/backpropvis/claims/width_or_depth.py",
        '"width": at(depths[0], widths[-1]) - base,',
        '"width": at(depths[-1], widths[0]) - base,',
        ("tests/unit/test_width_depth.py",),
        ("test_the_grids_verdicts_are_computed_from_the_grid",),
    ),
]


def copy_repo(dest: Path, working_tree: bool) -> None:
    """The repository's HEAD (or working tree, without .venv and build outputs) into ``dest``."""
    if working_tree:
        ignore = shutil.ignore_patterns(".venv", ".git", "_build", "__pycache__", ".pytest_cache")
        shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
        return
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def apply(copy: Path, mutation: Mutation) -> None:
    path = copy / mutation.path
    text = path.read_text()
    count = text.count(mutation.old)
    if count != 1:
        raise SystemExit(
            f"{mutation.name}: the text to change occurs {count} times in {mutation.path}; "
            "update the mutation to the current source"
        )
    path.write_text(text.replace(mutation.old, mutation.new))


def run_tests(copy: Path, tests: tuple[str, ...], report: Path) -> tuple[list[str], int, float]:
    """Run ``tests`` (those that exist in the copy) in ``copy``; return (failed ids, n, s)."""
    present = [t for t in tests if (copy / t.split("::")[0]).exists()]
    if not present:
        return [], 0, 0.0
    env = dict(os.environ, PYTHONPATH=str(copy / "src"), BACKPROPVIS_OFFLINE="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    cmd += ["--junitxml", str(report), *present]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if not report.exists():
        return ["<pytest did not run: collection error>"], 0, seconds
    failed, total = [], 0
    for case in ET.parse(report).getroot().iter("testcase"):
        total += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}")
    return failed, total, seconds


def check_imports(copy: Path) -> None:
    """The copy's package must be the one imported, not the shared tree's editable install."""
    env = dict(os.environ, PYTHONPATH=str(copy / "src"))
    out = subprocess.run(
        [sys.executable, "-c", "import backpropvis, helpers; print(backpropvis.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not out.startswith(str(copy)):
        raise SystemExit(f"the copy imports backpropvis from {out}, not from {copy}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", help="run this mutation only (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--working-tree", action="store_true", help="copy uncommitted files too")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.list or not chosen:
        for m in MUTATIONS:
            print(f"{m.name:28s} {m.bug}")
        return 0 if args.list else 2
    tmp = Path(tempfile.mkdtemp(prefix="mutation_check_"))
    try:
        clean = tmp / "clean"
        copy_repo(clean, args.working_tree)
        check_imports(clean)
        selection = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        failed, total, secs = run_tests(clean, selection, tmp / "clean.xml")
        print(f"no bug: {total} tests in {secs:.0f} s, {len(failed)} failed")
        for f in failed:
            print(f"    {f}")
        already = set(failed)
        missed = []
        for m in chosen:
            copy = tmp / m.name
            copy_repo(copy, args.working_tree)
            apply(copy, m)
            failed, total, secs = run_tests(copy, m.tests, tmp / f"{m.name}.xml")
            new = [f for f in failed if f not in already]
            hit = [e for e in m.expected if any(e in f for f in new)]
            verdict = "CAUGHT" if hit else "MISSED" if not new else "CAUGHT (elsewhere only)"
            if not hit:
                missed.append(m.name)
            print(f"\n[{verdict}] {m.name}: {m.bug}")
            print(f"    {m.path}; ran {total} tests in {secs:.0f} s; {len(new)} failed:")
            for f in new:
                mark = "*" if any(e in f for e in m.expected) else " "
                print(f"    {mark} {f}")
            if not args.keep:
                shutil.rmtree(copy)
        summary = f"{len(chosen) - len(missed)} of {len(chosen)} bugs caught by a test named "
        summary += "after the part (* above)"
        print(f"\n{summary}" + (f"; missed: {', '.join(missed)}" if missed else ""))
        return 1 if missed else 0
    finally:
        if args.keep:
            print(f"copies kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
