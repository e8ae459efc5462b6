# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Width or depth? The paper's explanation against the rank-one explanation
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/backpropvis/backpropvis-book/blob/main/notebooks/09_width_or_depth.ipynb)
#
# The paper {cite:p}`nie2017towards` explains why guided backprop forgets the class
# through **width**: in one hidden layer the average over $N$ filters makes $h(V)$ a
# constant (Eqs. 3-5), so the map tends to the image as $N$ grows.
# {cite:t}`sixt2020explanations` explain the same symptom through **depth**: a modified
# backprop whose backward matrices are non-negative multiplies them layer by layer,
# such a product converges to rank one, and the layers above, the class included,
# stop mattering. Neither paper varies the other's variable. This chapter does, on
# random convnets of every depth and width, then runs the rank-one test layer by
# layer on real networks, and puts the LRP family {cite:p}`bach2015pixel` through the
# book's tests.
#
# In short:
#
# * **Width** (the paper): {glue:text}`claims.width.verdict`. GBP's class invariance
#   in one layer goes from {glue:text}`gbp.width_from:.2f` at $N$ =
#   {glue:text}`n_min` to {glue:text}`gbp.width_to:.2f` at $N$ = {glue:text}`n_max`.
# * **Depth** (Sixt et al.): {glue:text}`claims.depth.verdict`. At $N$ =
#   {glue:text}`n_min`, GBP goes from {glue:text}`gbp.width_from:.2f` at one layer
#   to {glue:text}`gbp.depth_to:.2f` at {glue:text}`l_max`.
# * {glue:text}`both_sentence`
# * **Real networks**: {glue:text}`claims.vgg.verdict`
#   ({glue:text}`claims.vgg.measured`).

# %% tags=["remove-cell"]
# Colab setup: installs this book's helper module (Colab's own torch stays in place).
import subprocess
import sys

if "google.colab" in sys.modules:
    REPO = "https://github.com/backpropvis/backpropvis-book"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", f"git+{REPO}"], check=True
    )

# %% tags=["parameters"]
depths = [1, 2, 4, 8]  # L, the conv + ReLU layers of the grid's convnets
widths = [4, 16, 64, 256]  # N, their channels
grid_size = 12  # the grid's photos, in pixels (small: 16 cells x seeds x 8 methods)
grid_photos = ["chelsea", "astronaut", "coffee"]  # one per seed: the spread
n_vectors = 3  # injections of each sign per photo (grid)
layer_vectors = 5  # signed injections per photo (real networks, as Sixt et al.)
layer_photos = ["chelsea", "astronaut"]  # photos of the real networks
layer_size = 64  # their side in pixels
size = 16  # digit side of the trained CNN (chapter 8's)
epochs = 16  # its epochs on the digits
n_randomization = 32  # test digits of the LRP family's tests
smoothgrad_samples = 8  # noisy copies per SmoothGrad map
ig_steps = 8  # Integrated Gradients' points
insensitive_at = 0.5  # rank correlation above which a map counts as insensitive
seed = 0  # networks, injections, digits split and training
out_dir = "metrics"  # where the chapter's metrics JSON goes

# %%
import time

import torch
from tqdm.auto import tqdm

import helpers as H

start = time.perf_counter()
torch.manual_seed(seed)
H.quiet_attribution_warnings()  # constant maps, Captum's and PyTorch's notes
rec = H.Record("09_width_or_depth", out_dir)
depths, widths = H.as_list(depths, "depths", int), H.as_list(widths, "widths", int)
METHODS = rec("methods", H.backward_methods(), glued=False)
NAME = {m: H.METHODS[m].label for m in METHODS}

# %% [markdown]
# ## Two predictions, stated before measuring
#
# Both explanations predict, per method, whether class invariance grows with the width
# $N$ and with the depth $L$, from what the method's backward pass is made of:
#
# * **width** (Eqs. 3-5): where $h$ gives a positive factor whose mean does not depend on
#   the weights (the guided and DeconvNet rules; LRP-z⁺ and LRP-α2β1, which pass
#   shares of $V^+$), the average over $N$ filters makes it a constant and the map
#   tends to the class-free image. Where $\mathbb E[h(V)] = 0$ (the plain gradient,
#   LRP-ε's signed $V$, the composites' ε at the linear layer), the class stays.
# * **depth** (Sixt et al.'s theorem): where the backward matrices at the convolutions
#   are non-negative (GBP, DeconvNet, LRP-z⁺, LRP-α2β1, EpsilonPlusFlat, whose
#   convolutions use z⁺), their product tends to rank one as $L$ grows. The plain
#   gradient and LRP-ε (their LRP-z), signed at every layer, are the theorem's
#   exceptions; the γ rule of EpsilonGammaBox ($w + 0.25\,w^+$, signed but leaning
#   positive) is outside it, and the theorem predicts nothing for it.
#
# The two disagree on EpsilonPlusFlat: its top layer carries the signed $V$ (width:
# class-dependent), but everything below it is non-negative (depth: rank one).

# %% tags=["remove-input"]
WORD = {True: "grows", False: "no", None: "outside the theorem"}
rows = [[NAME[m]] + [WORD[p] for p in H.predictions(m).values()] for m in METHODS]
rec.table("prediction_table", ["method", "width predicts", "depth predicts"], rows)

# %% [markdown]
# ```{glue:md} prediction_table
# :format: myst
# ```
#
# ## The rank-one test
#
# Sixt et al.'s *cosine similarity convergence* (CSC): inject random vectors at the
# logits, pass each down by the method's backward pass (`H.injected`), and compare them
# at a layer position by position: the cosine between the channel vectors of two
# injections, for every pair, and CSC is the median $|\cos|$. A rank-one backward pass
# sends every injection to one direction: CSC = 1. Independent directions in $C$
# channels give the random baseline (`H.random_csc`), {glue:text}`random_3:.2f` for the
# input's three colour channels. Their code injects **signed** vectors (standard
# normal). Their theorem is about products of non-negative matrices, and such a
# product sends a **non-negative** vector to its leading direction for sure, a signed
# one only when it has a component there; so the book injects both. Non-negative
# injections start alike: at the logits their CSC is already
# {glue:text}`nonneg_at_logits:.2f`.

# %% tags=["remove-cell"]
rec("random_3", H.random_csc(3))
rec("nonneg_at_logits", H.csc(H.injections("nonnegative", 50, 10, seed)))

# %% [markdown]
# ## A phase diagram: depth against width
#
# Random convnets of $L$ layers of $3 \times 3 \times N$ convolutions and ReLUs, then a
# fully connected layer to 10 logits (`H.deep_convnet`), one per seed, each on its own
# photo ({glue:text}`grid_size` × {glue:text}`grid_size` pixels: the grid holds
# {glue:text}`n_cells` networks up to {glue:text}`n_max` channels). Per method: class
# invariance over the 10 logits (chapter 1's score), CSC at the input of signed and of
# non-negative injections, and the top logit's map's centred correlation with the
# input.

# %% tags=["hide-output"]
xs = H.load_images(grid_photos, grid_size)
xs = (xs - xs.mean((1, 2, 3), keepdim=True)) / xs.std((1, 2, 3), keepdim=True)
grid = H.phase_diagram(depths, widths, xs, METHODS, n_vectors, progress=tqdm)

# %% tags=["remove-input"]
rec("grid_size", grid_size)
rec("n_cells", len(depths) * len(widths) * len(xs))
rec("n_min", widths[0])
rec("n_max", widths[-1])
rec("l_max", f"{depths[-1]} layers")
rec("n_seeds", len(xs))
rec.update(grid=grid)
SHORT = NAME | {"epsilon_plus_flat": "ε, z⁺, flat", "guided_backprop": "GBP"}
SHORT |= {"epsilon_gamma_box": "ε, γ, box"}


def panel(key):
    """Each method's grid of one measure, depth down and width across."""
    return {
        SHORT[m]: [[H.grid_cell(grid, m, d, w)[key]["mean"] for w in widths]
                  for d in depths]
        for m in METHODS
    }  # fmt: skip


# %% tags=["remove-output"]
fig = H.plot_phase_diagram(
    panel("class_invariance"), depths, widths, "ρ across logits"
)
rec.figure("fig_phase_ci", fig)

# %% tags=["remove-output"]
fig = H.plot_phase_diagram(panel("csc_signed"), depths, widths, "CSC, signed")
rec.figure("fig_phase_csc", fig)

# %% [markdown]
# ```{glue:figure} fig_phase_ci
# :name: fig-phase-ci
#
# Class invariance (mean correlation of the maps of the 10 logits), mean over
# {glue:text}`n_seeds` seeds, by depth $L$ (down) and width $N$ (across).
# ```
#
# ```{glue:figure} fig_phase_csc
# :name: fig-phase-csc
#
# CSC at the input of signed injections (random baseline {glue:text}`random_3:.2f`).
# ```


# %% tags=["remove-input"]
def cell_rows(m):
    return [
        [d, w] + [H.plus_minus(c[k]["mean"], c[k]["spread"], 2) for k in H.GRID_MEASURES]
        for d in depths for w in widths for c in [H.grid_cell(grid, m, d, w)]
    ]  # fmt: skip


header = ["L", "N", "ρ across logits", "CSC signed", "CSC ≥ 0", "ρ(input)"]
rec.table("gbp_table", header, cell_rows("guided_backprop"))
rec.table("zplus_table", header, cell_rows("lrp_zplus"))

# %% [markdown]
# GBP in numbers, mean ± standard deviation over {glue:text}`n_seeds` seeds:
#
# ```{glue:md} gbp_table
# :format: myst
# ```
#
# and LRP-z⁺:
#
# ```{glue:md} zplus_table
# :format: myst
# ```
#
# ## Which explanation accounts for which method
#
# An effect is a change of class invariance of at least {glue:text}`effect` across the
# grid: with the width alone (one layer, $N$ = {glue:text}`n_min` to
# {glue:text}`n_max`) or the depth alone ($N$ = {glue:text}`n_min`, one layer to
# {glue:text}`l_max`). An explanation predicts a method right when its prediction,
# growth or none, is what was measured.

# %%
explained = {m: H.explains(grid, m) for m in METHODS}

# %% tags=["remove-cell"]
rec("effect", H.EFFECT)
rec.update(explained=explained)
rows = [
    [NAME[m], e["base"], e["width"], e["depth"], e["right"]]
    for m, e in explained.items()
]
header = ["method", "base ρ", "Δ width", "Δ depth", "predicted right by"]
rec.table("explains_table", header, rows)
gbp = explained["guided_backprop"]
rec.update(gbp={
    "width_from": gbp["base"], "width_to": gbp["base"] + gbp["width"],
    "depth_to": gbp["base"] + gbp["depth"], "both_to": gbp["base"] + gbp["both"],
    "share_width": 100 * gbp["share_width"], "share_depth": 100 * gbp["share_depth"],
})  # fmt: skip
rec.quote("gbp.width_from", "gbp.width_to", "gbp.depth_to", "gbp.both_to")
rec.quote("gbp.share_width", "gbp.share_depth")
rec(
    "both_sentence",
    f"GBP is predicted right by {gbp['right']}: of the gap from {gbp['base']:.2f} to 1, width alone closes "
    f"{100 * gbp['share_width']:.0f} % and depth alone {100 * gbp['share_depth']:.0f} %.",
)
right = {"both": "both", "width": "width only", "depth": "depth only"}
right = {
    k: [m for m, e in explained.items() if e["right"] == v]
    for k, v in right.items()
}
right["neither"] = [m for m, e in explained.items() if e["right"] == "neither"]
rec.update(right={k: H.method_list(v) for k, v in right.items()})
rec.quote("right.both", "right.width", "right.depth", "right.neither")
n0, n1, l0, l1 = widths[0], widths[-1], depths[0], depths[-1]
corr = {
    "gbp_base": H.grid_cell(grid, "guided_backprop", l0, n0)["corr_input"]["mean"],
    "gbp_wide": H.grid_cell(grid, "guided_backprop", l0, n1)["corr_input"]["mean"],
    "gbp_deep": H.grid_cell(grid, "guided_backprop", l1, n0)["corr_input"]["mean"],
    "zplus_both": H.grid_cell(grid, "lrp_zplus", l1, n1)["corr_input"]["mean"],
}
rec.update(
    corr=corr, deconv={k: explained["deconvnet"][k] for k in ("width", "depth")}
)
rec.quote("corr.gbp_base", "corr.gbp_wide", "corr.gbp_deep", "corr.zplus_both")
rec.quote("deconv.width", "deconv.depth")
rec(
    "epf_shallow_csc",
    H.grid_cell(grid, "epsilon_plus_flat", l0, n0)["csc_signed"]["mean"],
)
rec("epf_depth", explained["epsilon_plus_flat"]["depth"])
claim = "At one layer, GBP's class invariance grows with the width N (Eqs. 3-5)"
rec.claim("width", "Eqs. (3)-(5)", claim, *H.width_claim(grid))
claim = (
    "Backward passes with non-negative matrices converge to rank one with depth "
    "(CSC ≥ 0.99), the others do not"
)
rec.claim("depth", "Sixt et al.", claim, *H.depth_claim(grid, METHODS))

# %% [markdown]
# ```{glue:md} explains_table
# :format: myst
# ```
#
# Class invariance of the one-layer net of $N$ = {glue:text}`n_min` ("base ρ") and
# its change with the width alone and with the depth alone. Verdicts: width,
# **{glue:text}`claims.width.verdict`** ({glue:text}`claims.width.measured`);
# depth, **{glue:text}`claims.depth.verdict`** ({glue:text}`claims.depth.measured`).
#
# Predicted right by both explanations: {glue:text}`right.both`; by the width only:
# {glue:text}`right.width`; by the depth only: {glue:text}`right.depth`; by neither:
# {glue:text}`right.neither`.
#
# Width alone closes {glue:text}`gbp.share_width:.0f` % of GBP's gap to 1 and depth
# alone {glue:text}`gbp.share_depth:.0f` %; both together reach
# {glue:text}`gbp.both_to:.2f`. The two differ in what the map shows. GBP's
# correlation with the input goes from {glue:text}`corr.gbp_base:.2f` to
# {glue:text}`corr.gbp_wide:.2f` with the width alone and to
# {glue:text}`corr.gbp_deep:.2f` with the depth alone; LRP-z⁺'s is
# {glue:text}`corr.zplus_both:.2f` in the deepest, widest net, whatever its class
# invariance. DeconvNet's class invariance changes by {glue:text}`deconv.width:.2f`
# with the width alone and by {glue:text}`deconv.depth:.2f` with the depth alone.
# EpsilonPlusFlat's flat first layer gives every colour channel of a pixel the same
# relevance, so its CSC at the input is {glue:text}`epf_shallow_csc:.2f` already at one
# layer of {glue:text}`n_min` channels: there it measures nothing, and its class
# invariance, which changes by {glue:text}`epf_depth:.2f` with depth, is what counts.
#
# ## Real networks, layer by layer
#
# CSC at every ReLU from the logits down, as Sixt et al. plot it, for
# {glue:text}`layer_vectors` signed injections on {glue:text}`n_layer_photos` photos
# ({glue:text}`layer_size` pixels), on a random VGG-16 and a random ResNet-18
# (torchvision's architectures and initializations, zennit's canonizers).

# %%
NETWORKS = {
    "VGG-16, random": "vgg16_untrained",
    "ResNet-18, random": "resnet18_untrained",
}
levels, zplus_sum = {}, {}
for label, name in NETWORKS.items():
    lm = H.load_model(name, seed=seed)
    photos = lm.prepare(H.load_images(layer_photos, layer_size))
    levels[label] = H.layer_convergence(
        lm.model.requires_grad_(False), photos, METHODS, layer_vectors, seed
    )
    zplus_sum[label] = H.conservation(lm.model, photos[:1], "lrp_zplus")

# %% [markdown]
# The trained network would be the book's offline EfficientNet-Lite0. zennit cannot
# canonize it: its residual additions are not modules, and zennit's ResNet canonizer
# is for torchvision's ResNet blocks only, so relevance passes whole into both
# branches of every sum. LRP-z⁺ should conserve it; on the tabby the relevance at the
# input sums to {glue:text}`zplus_sum.lite:.2f` times the relevance given to the
# logit ({glue:text}`zplus_sum.vgg:.4f` on the random VGG-16,
# {glue:text}`zplus_sum.resnet:.4f` on the canonized random ResNet-18). The trained network of this chapter is chapter 8's MNIST CNN, trained
# here on the digits the same way (test accuracy {glue:text}`cnn_test:.3f`).

# %% tags=["remove-input"]
lite = H.load_model("efficientnet_lite0")
tabby = lite.prepare(H.load_images(["chelsea"], lite.image_size))
rec.update(zplus_sum={
    "lite": H.conservation(lite.model, tabby, "lrp_zplus"),
    "vgg": zplus_sum["VGG-16, random"], "resnet": zplus_sum["ResNet-18, random"],
})  # fmt: skip
rec.quote("zplus_sum.lite", "zplus_sum.vgg", "zplus_sum.resnet")
digits = H.load_digits_split(size, 500, seed)
x_train, x_test = digits.prepare(digits.train_x), digits.prepare(digits.test_x)

# %% tags=["hide-output"]
cnn = H.train(
    H.sanity_cnn(size, seed=seed), x_train, digits.train_y, epochs, 1e-3, 64, seed,
    desc="MNIST CNN",
).model  # fmt: skip
levels["MNIST CNN, trained"] = H.layer_convergence(
    cnn, x_test[: len(layer_photos)], METHODS, layer_vectors, seed
)

# %% tags=["remove-cell"]
rec("cnn_test", H.accuracy(cnn, x_test, digits.test_y))
rec("layer_vectors", layer_vectors)
rec("n_layer_photos", len(layer_photos))
rec("layer_size", layer_size)
rec.update(layers=levels)
rank_one = H.RANK_ONE_AT


def passes(lv):
    level = H.passes_at(lv, rank_one)
    return f"{level['depth']} ({level['layer']})" if level else "never"


rows = [[NAME[m]] + [passes(levels[n][m]) for n in levels] + [levels[n][m][-1]["csc"]
        for n in levels] for m in METHODS]  # fmt: skip
rec.table(
    "passes_table", ["method", *levels, *(f"input, {n}" for n in levels)], rows
)
rec.update(
    passes={n: {m: passes(lv[m]) for m in METHODS} for n, lv in levels.items()}
)
claim = (
    "CSC at the input above 0.99 on VGG-16 for every method but LRP-z (Sixt et al.)"
)
verdict = H.real_network_claim(levels["VGG-16, random"], "random VGG-16")
rec.claim("vgg", "Sixt et al.", claim, *verdict)

# %% tags=["remove-output"]
csc = {n: {SHORT[m]: [x["csc"] for x in lv[m]] for m in METHODS}
       for n, lv in levels.items()}  # fmt: skip
random = {n: [x["random"] for x in lv[METHODS[0]]] for n, lv in levels.items()}
fig = H.plot_layer_curves(csc, random)
rec.figure("fig_layers", fig)

# %% [markdown]
# ```{glue:figure} fig_layers
# :name: fig-layers
#
# CSC of {glue:text}`layer_vectors` signed injections at the logits (level 0), at
# every ReLU from the top and at the input (last level), pooled over
# {glue:text}`n_layer_photos` images; dashed, the random baseline of each layer's
# channel count.
# ```
#
# ```{glue:md} passes_table
# :format: myst
# ```
#
# The first ReLU from the logits (counted from the top) below which CSC stays at or
# above {glue:text}`rank_one`, and CSC at the input. Sixt et al. report CSC above 0.99
# at the input of a trained VGG-16 for every method but LRP-z and DeepLIFT. On the
# random VGG-16: **{glue:text}`claims.vgg.verdict`** ({glue:text}`claims.vgg.measured`).
#
# ## The LRP family through the book's tests
#
# Chapter 7's protocol through the methods registry, on the trained CNN and
# {glue:text}`n_randomization` test digits: class invariance over the 10 logits and
# cascading randomization from the logits down, judged on its first half, for chapter
# 7's eight methods and the five LRP methods, in one table. The prediction is Eq. (2)'s
# argument (chapter 7), which counts LRP-z⁺ and LRP-α2β1 with GBP.

# %%
settings = H.attribution_settings(
    digits, digits.test_x[0], smoothgrad_samples, 0.15, ig_steps, seed
)
ALL = H.method_keys()
lrp_results = H.cascading_verdicts(
    cnn, H.sanity_cnn(size, seed=seed + 1), x_test[:n_randomization], ALL,
    insensitive_at, **settings,
)  # fmt: skip

# %% tags=["remove-cell"]
rec("rank_one", rank_one)
rec("n_randomization", n_randomization)
rec.update(lrp_randomization=lrp_results)
lrp_rows = [
    [H.METHODS[m].label, r["class_invariance"], r["upper_half_spearman_abs"],
     "insensitive" if r["predicted_insensitive"] else "sensitive",
     "insensitive" if r["measured_insensitive"] else "sensitive", r["verdict"]]
    for m, r in lrp_results.items()
]  # fmt: skip
header = ["method", "ρ across logits", "rank ρ, upper half random", "predicted"]
rec.table("lrp_table", header + ["measured", "verdict"], lrp_rows)
lrp_only = {m: r for m, r in lrp_results.items() if H.METHODS[m].family == "lrp"}
rec(
    "lrp_surprise",
    H.method_list(
        [
            m
            for m, r in lrp_only.items()
            if r["measured_insensitive"] > r["predicted_insensitive"]
        ]
    ),
)
rec.quote("lrp_randomization.input_x_gradient.upper_half_spearman_abs")
rec.quote("lrp_randomization.saliency.upper_half_spearman_abs")
claim = "LRP-z⁺ and LRP-α2β1 ignore the upper layers, LRP-ε and the composites not"
rec.claim("lrp_prediction", "Eq. (2), LRP", claim, *H.prediction_claim(lrp_only))

# %% [markdown]
# ```{glue:md} lrp_table
# :format: myst
# ```
#
# Verdict on the LRP family: **{glue:text}`claims.lrp_prediction.verdict`**
# ({glue:text}`claims.lrp_prediction.measured`). Measured insensitive but predicted
# not: {glue:text}`lrp_surprise`. Every LRP map ends in a multiplication by the input
# at the first layer, and on these digits the input carries a map through
# randomization, as it carries gradient × input
# ({glue:text}`lrp_randomization.input_x_gradient.upper_half_spearman_abs:.2f`, the
# plain gradient {glue:text}`lrp_randomization.saliency.upper_half_spearman_abs:.2f`).
#
# ## Cost
#
# The chapter ran in {glue:text}`elapsed_s:.0f` s on the CPU: the grid's
# {glue:text}`n_cells` networks, two random ImageNet networks and one training.

# %% tags=["remove-cell"]
rec("elapsed_s", time.perf_counter() - start)

# %% [markdown]
# ## Claims and verdicts
#
# The chapter's claims, each judged once above by the book's verdict rule
# (`H.judge`). The scorecard shows these same verdicts.

# %% tags=["remove-input"]
rec.claims_table()
rec.save()

# %% [markdown]
# ```{glue:md} claims_table
# :format: myst
# ```
