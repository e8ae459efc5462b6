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
# # Every gradient method: which maps ignore the weights and the class?
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/backpropvis/backpropvis-book/blob/main/notebooks/07_every_method.ipynb)
#
# The draft {cite:p}`nie2017towards` concludes about "this class of gradient-based
# visualizations" but tests three backward rules: the saliency map, DeconvNet and
# guided backpropagation (GBP). Attribution in practice uses more: gradient × input,
# SmoothGrad, Integrated Gradients, Grad-CAM and Guided Grad-CAM.
# {cite:t}`adebayo2018sanity` ran model randomization on that family and judged it
# by eye; they did not connect the outcome to a theory. This chapter runs all eight
# methods through the book's three questions (does the map depend on the class, on
# the weights, and does a random network's map still look like the photo?) on
# {glue:text}`model`, and asks whether the paper's argument predicts which maps
# ignore the weights. The prediction is written down before anything is measured.
#
# In short:
#
# * **The argument predicts the outcome for {glue:text}`n_agree` of
#   {glue:text}`n_methods` methods.** It says that a map ignores the upper layers
#   when every factor that depends on them passes through the positive part $\sigma$
#   of GBP's or DeconvNet's backward rule: {glue:text}`predicted_list`. Measured by
#   the rank correlation of the absolute maps while the upper half of the network is
#   re-initialized, the insensitive methods are {glue:text}`measured_list`.
# * **Class invariance goes with it.** Maps of {glue:text}`n_logits` logits
#   correlate at {glue:text}`guided_backprop.class_invariance:.2f` for GBP and
#   {glue:text}`saliency.class_invariance:.2f` for the saliency map.
# * **Beside the sanity checks,** the book agrees with {cite:t}`adebayo2018sanity`
#   on {glue:text}`n_agree_sanity` of the {glue:text}`n_sanity` methods they tested
#   ({glue:text}`sanity_disagree`).

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
# bundled photos or paths (two or more)
photos = ["chelsea", "astronaut", "coffee", "rocket", "motorcycle", "china"]
size = 224  # image side in pixels
model = "auto"  # "auto" (VGG-16 if it loads) or any torchvision name: "resnet50"
n_logits = 8  # logits compared per photo (class invariance)
n_top = 3  # of which the network's top classes; then logit 482, then random ones
logit_seed = 0  # draws the random logits
smoothgrad_samples = 0  # noisy copies per SmoothGrad map; 0: 50 on a GPU, else 16
smoothgrad_noise = 0.15  # SmoothGrad's noise std as a fraction of the input range
ig_steps = 16  # Integrated Gradients' points (right Riemann sum)
batch_size = 16  # images per forward pass (SmoothGrad's copies, IG's steps, photos)
insensitive_at = 0.5  # rank correlation above which a map counts as insensitive
seed = 0  # re-initialized layers, SmoothGrad's noise
out_dir = "metrics"  # where the chapter's metrics JSON goes

# %%
import time

import numpy as np
import torch

import helpers as H

photos = H.as_list(photos, "photos", str)
start = time.perf_counter()
torch.manual_seed(seed)
H.quiet_attribution_warnings()  # constant maps, Captum's and PyTorch's notes
rec = H.Record("07_every_method", out_dir)
# gradient family, modified backprop and CAM (the LRP family: chapter 9)
METHODS = rec("methods", H.method_keys("gradient", "modified", "cam"), glued=False)
NAME = {m: H.METHODS[m].label for m in METHODS}
# short column labels for the grids of maps
SHORT = NAME | {"input_x_gradient": "grad ×\ninput", "smoothgrad": "Smooth-\nGrad"}
SHORT |= {"integrated_gradients": "IG", "deconvnet": "Deconv-\nNet"}
SHORT |= {"guided_backprop": "GBP", "gradcam": "Grad-\nCAM"}
SHORT |= {"guided_gradcam": "Guided\nGrad-\nCAM"}

# %%
device = H.default_device()
if smoothgrad_samples == 0:  # the sanity-checks paper's 50 where a GPU allows
    smoothgrad_samples = H.smoothgrad_samples_on(device)
lm = H.load_model(model, seed=seed, device=device)
# the donor of re-initialized layers: the same architecture, seeded
donor = H.untrained_twin(lm, seed=seed, device=device)
for loaded in (lm, donor):
    loaded.model.requires_grad_(False)
images = H.load_images(photos, size).to(device)
xs = lm.prepare(images)  # (B, 3, H, W), the model's input
# the same function, BatchNorm folded into the convolutions: fast for many passes
fast = H.folded_for_maps(lm.model, xs)

# %% tags=["remove-cell"]
rec.update(photos=photos, seed=seed, batch_size=batch_size)
rec("size", size)
rec("n_photos", len(photos))
rec("model", lm.name)

# %% [markdown]
# ## Eight methods, and who computes them
#
# Every method starts from the gradient of one logit $f_k$ with respect to the input
# $x$, the saliency map $\nabla f_k(x)$, or from the same backward pass with another
# rule $h$ at every ReLU (chapter 1). With $A$ the last feature map (channels $c$,
# $Z$ positions) and $x_0$ a black image, gradient × input, SmoothGrad
# {cite:p}`smilkov2017smoothgrad`, Integrated Gradients (IG)
# {cite:p}`sundararajan2017axiomatic` and Grad-CAM {cite:p}`selvaraju2017gradcam`
# are
#
# $$\text{gradient} \times \text{input} = x \odot \nabla f_k(x),\qquad
# \text{SmoothGrad} = \tfrac{1}{n}\textstyle\sum_{i=1}^{n} \nabla f_k(x + \epsilon_i),\
# \epsilon_i \sim \mathcal{N}(0, s^2),$$
#
# $$\text{IG} = (x - x_0) \odot \int_0^1 \nabla f_k(x_0 + a(x - x_0))\,da,\qquad
# \text{Grad-CAM} = \sigma\Big(\sum_c \alpha_c A_c\Big),\
# \alpha_c = \frac{1}{Z}\sum_{z} \frac{\partial f_k}{\partial A_{c,z}},$$
#
# Guided Grad-CAM {cite:p}`selvaraju2017gradcam` is GBP times Grad-CAM upsampled to
# the input. SmoothGrad uses {glue:text}`smoothgrad_samples` noisy copies at $s$ =
# {glue:text}`smoothgrad_noise` of the input range (the sanity-checks paper's
# {glue:text}`smoothgrad_gpu` where a GPU is present, {glue:text}`smoothgrad_cpu` on a
# CPU), Integrated Gradients the right Riemann sum over
# {glue:text}`ig_steps` points $a = 1/n, \dots, 1$, as {cite:t}`sundararajan2017axiomatic`
# write it. Every photo's noisy copies and interpolation steps share forward passes of
# `batch_size` images, and every map is computed on a copy of the network with each
# BatchNorm folded into the convolution before it (`H.folded_for_maps`: the same
# function to float32 rounding; `benchmarks/bench_methods.py` measures the saving).
# [Captum](https://captum.ai) {cite:p}`kokhlikyan2020captum` is the reference
# implementation. Its guided and DeconvNet hooks cover `nn.ReLU` modules only, and
# {glue:text}`model` uses `nn.ReLU6`; there the book's own rules take over.
# `tests/unit/test_methods.py` checks every method against Captum (or a hand computation)
# on a plain-ReLU network. Here is what ran:

# %%
impl = H.method_implementations(lm.model, METHODS)
rec("implementations", impl, glued=False)
rec.table("impl_table", ["method", "implementation"], H.implementation_rows(impl))
# the same settings for every model, step and photo; SmoothGrad's noise from seed
# (halves: every pass also gives SmoothGrad and IG at half the copies and steps)
settings = H.attribution_settings(
    lm, images[0], smoothgrad_samples, smoothgrad_noise, ig_steps, seed, batch_size,
    halves=True,
)  # fmt: skip

# %% tags=["remove-cell"]
rec("smoothgrad_samples", smoothgrad_samples)
rec("smoothgrad_gpu", H.SMOOTHGRAD_SAMPLES["cuda"])
rec("smoothgrad_cpu", H.SMOOTHGRAD_SAMPLES["cpu"])
rec("smoothgrad_noise", smoothgrad_noise)
rec("ig_steps", ig_steps)

# %% [markdown]
# ```{glue:md} impl_table
# :format: myst
# ```
#
# ## The prediction, before any measurement
#
# Eq. (2) writes a map as $\sum_j D_j^T \sum_i h(V_{q_{ij},k})\,\tilde w^{(i,j)}$:
# everything above the first layer reaches the map through $h(V)$. With the plain
# rule, $\mathbb{E}[h(V)] = 0$ and the map's sign and size follow $V$, so
# **replacing the upper layers replaces the map**. With GBP's or DeconvNet's $h =
# \sigma$, $V$ enters only through a positive factor whose average is the same for
# any weights, and the map is a function of the lower layers and the image: it
# should **survive re-initializing the upper layers**. The argument therefore sorts
# methods by one question: does any factor that depends on the upper layers escape
# $\sigma$? Gradient × input, SmoothGrad and Integrated Gradients are plain
# gradients, reweighted or averaged. Grad-CAM's $\alpha_c$ is a plain gradient.
# Guided Grad-CAM multiplies GBP by that Grad-CAM, so its coarse envelope should
# move even though its fine structure should not.
#
# *Measured* insensitivity is fixed here too: a method is insensitive when the
# Spearman rank correlation of its absolute map with the original, averaged over the
# cascading steps that re-initialize the upper half of the network (defined below),
# is at least {glue:text}`insensitive_at`.

# %% tags=["remove-input"]
rec("insensitive_at", insensitive_at)
rec.table("prediction_table", *H.prediction_rows(METHODS))

# %% [markdown]
# ```{glue:md} prediction_table
# :format: myst
# ```
#
# ## The original maps and class invariance
#
# First the trained network's own maps for its top class, then chapter 1's
# class-invariance score: for each photo, $T$ = {glue:text}`n_logits` logits (the
# {glue:text}`n_top` largest, logit 482 and random ones drawn from `logit_seed`),
# the mean off-diagonal Pearson correlation $\bar\rho$ between their maps, averaged
# over photos. One batch holds every photo-logit pair; a photo's logits share its
# forward passes and SmoothGrad's noisy copies, so their maps differ by the class alone.

# %% tags=["remove-cell"]
rec("n_logits", n_logits)
rec("n_top", n_top)

# %%
orig, top = H.attribution_maps(fast, xs, "max", METHODS, **settings)
class_invariance = H.class_invariance_by_method(
    fast, xs, n_logits, n_top, logit_seed, METHODS, **settings
)


# %% tags=["remove-output"]
def shown(m):
    """As the sanity-checks paper shows maps: channel sum of |m|, clipped."""
    return H.normalize_map(m, "abs99")


fig = H.plot_grid(  # one column per photo, titled by its top class
    [[im.permute(1, 2, 0) for im in images]]
    + [[shown(orig[m][b]) for b in range(len(images))] for m in METHODS],
    row_labels=["photo"] + [SHORT[m] for m in METHODS],
    col_labels=[lm.categories[int(t)] for t in top],
    mode="abs99",
    cell=1.6,
)
rec.figure("fig_methods", fig)

# %% tags=["remove-input"]
rec("guided_backprop.class_invariance", class_invariance["guided_backprop"])
rec("saliency.class_invariance", class_invariance["saliency"])
rows = [[NAME[m], class_invariance[m]] for m in METHODS]
rec.table("ci_table", ["method", "mean ρ across logits"], rows)

# %% [markdown]
# ```{glue:figure} fig_methods
# :name: fig-methods
#
# The {glue:text}`n_methods` maps of the trained {glue:text}`model` for its top class (column titles; IG:
# Integrated Gradients, GBP: guided backprop), as
# the sanity-checks paper shows them: channel sum of $|m|$ clipped at its 99th percentile.
# ```
#
# ```{glue:md} ci_table
# :format: myst
# ```
#
# Class invariance: mean off-diagonal Pearson correlation of the maps of
# {glue:text}`n_logits` logits, averaged over {glue:text}`n_photos` photos (1 = the
# same map for every class).
#
# ## Model randomization, every method at once
#
# Chapter 6's protocol: the layers of {glue:text}`model` are re-initialized group by
# group from the logits down (*cascading*) or one group at a time (*independent*),
# by copying them from the same architecture's seeded initialization. At every step
# each method's map for the current model's top class is compared with the original:
# Spearman of the absolute maps and of the signed maps, SSIM, and Spearman of HOG
# features (histograms of oriented gradients {cite:p}`dalal2005histograms`), as
# {cite:t}`adebayo2018sanity` do (`H.SanityReference`).

# %%
groups = H.randomization_groups(lm.model)
refs = H.sanity_references(orig)  # each original map, normalized and ranked once


def method_maps(net):
    """Every method's maps of a randomized network, each for its own top class."""
    return H.attribution_maps(
        H.folded_for_maps(net, xs), xs, "max", METHODS, **settings
    )[0]


# the maps at half the copies and steps are judged on the cascading steps only
only = {"cascading": refs, "independent": {m: refs[m] for m in METHODS}}
runs = {
    mode: H.randomization_run(
        lm.model, donor.model, groups, orig, mode, method_maps, only[mode]
    )
    for mode in ("cascading", "independent")
}
steps = {mode: run.steps for mode, run in runs.items()}

# %% tags=["remove-output"]
example = runs["cascading"].example  # one column per method, one row per step
fig = H.plot_grid(
    [[shown(example[m][i]) for m in METHODS] for i in range(len(groups) + 1)],
    row_labels=["original"] + [H.layer_label(s) for s in steps["cascading"]],
    col_labels=[SHORT[m] for m in METHODS],
    mode="abs99",
    cell=1.25,
)
rec.figure("fig_cascading_grid", fig)


# %% tags=["remove-output"]
def randomization_figure(mode):
    """Similarity to the original per step, one line per method."""
    named = {NAME[m]: runs[mode].curves[m] for m in METHODS}
    scores = ("spearman_abs", "spearman", "ssim", "hog")
    return H.plot_randomization(
        named, steps[mode], scores, title=f"{mode}, {lm.name}"
    )


rec.figure("fig_cascading", randomization_figure("cascading"))
rec.figure("fig_independent", randomization_figure("independent"))

# %% tags=["remove-cell"]
# groups that, re-initialized alone, leave the plain gradient zero on every photo
dead = [
    c["layer"]
    for c in runs["independent"].curves["saliency"]
    if c["degenerate"] == 1
]
named = ", ".join(H.layer_label(d) for d in dead)
rec(
    "independent_dead",
    f"Re-initialized alone, {named} leaves the gradient zero on every photo: no "
    "gradient passes the activations above it (chapter 6 finds every ReLU6 of "
    "EfficientNet-Lite0's head off), so every map but DeconvNet's, which ignores "
    "the forward masks, is degenerate and the curves leave a gap there."
    if dead
    else "No single group leaves the gradient zero on every photo.",
)

# %% [markdown]
# ```{glue:figure} fig_cascading_grid
# :name: fig-cascading-grid
#
# Cascading randomization of {glue:text}`model` on `chelsea`, the layout of the
# sanity-checks paper turned by a quarter: one column per method, the original map,
# then one row per step, the map after every group from the logits down to the one
# named is re-initialized ($|m|$ clipped at the 99th percentile). A black panel is a
# degenerate map, zero everywhere (Grad-CAM once its ReLU removes a CAM that is negative
# everywhere).
# ```
#
# ```{glue:figure} fig_cascading
# :name: fig-cascading-curves
#
# Cascading randomization: similarity to the original map, mean ± std over
# {glue:text}`n_photos` photos, by the four metrics of the sanity-checks paper. A
# method's line stops where its map is degenerate on every photo (as Grad-CAM's can be,
# below).
# ```
#
# ```{glue:figure} fig_independent
# :name: fig-independent-curves
#
# Independent randomization: one group re-initialized at a time.
# {glue:text}`independent_dead`
# ```
#
# ## Does a random network's map still look like the photo?
#
# The paper's third question, asked of the fully re-initialized network (the last
# cascading step): the centred correlation of each map with the input, and the rank
# correlation of its magnitude with the photo's Sobel edges (chapter 6's measures; a
# one-channel Grad-CAM map is compared with every channel).

# %%
final = runs["cascading"].final  # every group re-initialized
resemble = {
    m: {
        "trained": H.resemblance(orig[m], xs, images),
        "random": H.resemblance(final[m], xs, images),
    }
    for m in METHODS
}

# %% tags=["remove-cell"]
last_gradcam = runs["cascading"].curves["gradcam"][-1]
rec("gradcam_degenerate_last", 100 * last_gradcam["degenerate"])

# %% [markdown]
# ## Verdicts
#
# The upper half of the network is the first {glue:text}`n_upper` cascading steps
# ({glue:text}`upper_steps`). For each method: the prediction, the measurement, and
# whether they agree. The last column is for the fully random network.

# %%
n_upper = rec("n_upper", len(groups) // 2)
results = H.method_results(
    METHODS, class_invariance, runs, resemble, n_upper, insensitive_at
)

# %% tags=["remove-input"]
rec("upper_steps", ", ".join(steps["cascading"][:n_upper]))
agree = [m for m, r in results.items() if r["verdict"] == "agree"]
predicted = [m for m, r in results.items() if r["predicted_insensitive"]]
measured = [m for m, r in results.items() if r["measured_insensitive"]]
rec("n_agree", len(agree))
rec("n_methods", len(METHODS))
rec("predicted_list", H.method_list(predicted))
rec("measured_list", H.method_list(measured))
rec("disagree_list", H.method_list([m for m in METHODS if m not in agree]))
rec.update(**results)  # per method: prediction, curves, measurement, verdict

# %% [markdown]
# ```{glue:md} verdict_table
# :format: myst
# ```
#
# Predicted and measured insensitivity to the upper layers (rank correlation of
# $|m|$ with the original, mean over the first {glue:text}`n_upper` cascading steps
# and {glue:text}`n_photos` photos), class invariance, and resemblance to the input
# when every layer is random. Two of the chapter's claims follow from this table:
# the per-method predictions agree with the measurement, and class invariance
# (mean ρ across logits of at least {glue:text}`invariant_at`) holds for exactly
# the guided and DeconvNet rules.

# %%
invariant_at = rec("invariant_at", H.CLASS_INVARIANT)  # mean ρ across logits
claim = (
    "Maps whose upper layers enter only through $\\sigma$ (GBP, DeconvNet) "
    "ignore them; the others do not (per-method verdicts)"
)
verdict = H.prediction_claim(results)
rec.claim("every_method_prediction", "Eq. (2), extended", claim, *verdict)
claim = (
    "Class invariance holds for the guided and DeconvNet rules only, "
    "among eight methods"
)
verdict = H.class_invariance_claim(results, at=invariant_at)
rec.claim("every_method_class_invariance", "2 (c), extended", claim, *verdict)
rec.table("verdict_table", *H.verdict_rows(results))

# %% tags=["remove-cell"]
upper = {m: r["upper_half_spearman_abs"] for m, r in results.items()}
rec("guided_backprop.upper_half_spearman_abs", upper["guided_backprop"])
rec("deconvnet.upper_half_spearman_abs", upper["deconvnet"])
rec("saliency.upper_half_spearman_abs", upper["saliency"])
rec("smoothgrad.upper_half_spearman_abs", upper["smoothgrad"])
rec("input_x_gradient.upper_half_spearman_abs", upper["input_x_gradient"])
rec("integrated_gradients.upper_half_spearman_abs", upper["integrated_gradients"])
rec("guided_gradcam.upper_half_spearman_abs", upper["guided_gradcam"])

# %% tags=["remove-cell"]
signed = {m: r["upper_half_spearman"] for m, r in results.items()}
rec("saliency.upper_half_spearman", signed["saliency"])
rec("input_x_gradient.upper_half_spearman", signed["input_x_gradient"])
rec("integrated_gradients.upper_half_spearman", signed["integrated_gradients"])
first = runs["cascading"].curves["gradcam"][0]["spearman_abs"]  # logits random
rec("gradcam.first_step_spearman_abs", first)
random_input = {m: resemble[m]["random"]["corr_input"] for m in METHODS}
rec(
    "guided_backprop.resemblance.random.corr_input", random_input["guided_backprop"]
)
others = [abs(v) for m, v in random_input.items() if m != "guided_backprop"]
rec("random_input_others", float(np.nanmax(others)))

# %% [markdown]
# **Verdict: {glue:text}`claims.every_method_prediction.verdict`.** The argument
# predicts {glue:text}`n_agree` of {glue:text}`n_methods` methods. It names
# {glue:text}`predicted_list` as insensitive; the measurement finds
# {glue:text}`measured_list`; they disagree on {glue:text}`disagree_list`. For the
# maps made of one backward pass the argument holds. GBP keeps a rank correlation of
# {glue:text}`guided_backprop.upper_half_spearman_abs:.2f` while the upper half of
# the network is random, DeconvNet {glue:text}`deconvnet.upper_half_spearman_abs:.2f`;
# the saliency map falls to {glue:text}`saliency.upper_half_spearman_abs:.2f` and
# SmoothGrad to {glue:text}`smoothgrad.upper_half_spearman_abs:.2f`. Class invariance
# among the eight methods: {glue:text}`claims.every_method_class_invariance.verdict`
# ({glue:text}`claims.every_method_class_invariance.measured`).
#
# Each disagreement involves a factor the argument leaves out: a quantity of the
# *forward* pass that multiplies the map. Gradient × input and Integrated Gradients
# multiply by the input, whose magnitude no weight can change. The rank correlation
# of their absolute maps stays at
# {glue:text}`input_x_gradient.upper_half_spearman_abs:.2f` and
# {glue:text}`integrated_gradients.upper_half_spearman_abs:.2f`, while that of their
# signed maps falls to {glue:text}`input_x_gradient.upper_half_spearman:.2f` and
# {glue:text}`integrated_gradients.upper_half_spearman:.2f`, as the saliency map's
# does ({glue:text}`saliency.upper_half_spearman:.2f`): the gradient inside them
# changed, the photo did not. Grad-CAM weights the feature map $A$ of the lower
# layers, so replacing the classifier alone leaves it at
# {glue:text}`gradcam.first_step_spearman_abs:.2f`; Guided Grad-CAM, GBP inside that
# envelope, keeps {glue:text}`guided_gradcam.upper_half_spearman_abs:.2f`. Read after
# the fact, the argument extends: a map ignores the upper layers when they reach it
# only through $\sigma$, and forward-pass factors ($x$, $A$) carry the lower layers'
# structure into any map they multiply.
#
# The third question separates GBP from everything else. With every layer random,
# GBP's map correlates with the input at
# {glue:text}`guided_backprop.resemblance.random.corr_input:.2f`; no other method
# exceeds {glue:text}`random_input_others:.2f` in absolute value. Grad-CAM of the
# fully random network is degenerate (zero or constant everywhere) on
# {glue:text}`gradcam_degenerate_last:.0f`% of the photos (its ReLU removes a CAM
# that is negative everywhere), so its similarities there are undefined: the curves
# leave a gap at every step where a map is degenerate.
#
# ## Beside the sanity-checks paper
#
# {cite:t}`adebayo2018sanity` report, for cascading randomization of an Inception
# v3, which maps stay visually similar to the original (insensitive) and which
# change markedly. DeconvNet is not among their methods.

# %%
paper = rec("sanity_checks_2018", H.sanity_checks_2018(METHODS), glued=False)
tested = [m for m in METHODS if paper[m] is not None]
claim = (
    "GBP and Guided Grad-CAM survive cascading randomization; gradient, "
    "gradient × input, SmoothGrad, IG and Grad-CAM do not"
)
verdict = H.sanity_checks_claim(results, paper)
rec.claim("every_method_sanity_checks", "Adebayo", claim, *verdict)
rec.table("sanity_table", *H.sanity_rows(results, paper))

# %% tags=["remove-cell"]
differ = [m for m in tested if paper[m] != results[m]["measured_insensitive"]]
rec("n_sanity", len(tested))
rec("n_agree_sanity", len(tested) - len(differ))
differ_text = "they differ on " + H.method_list(differ)
rec("sanity_disagree", differ_text if differ else "all of them")

# %% [markdown]
# ```{glue:md} sanity_table
# :format: myst
# ```
#
# Verdict: {glue:text}`claims.every_method_sanity_checks.verdict`
# ({glue:text}`claims.every_method_sanity_checks.measured`). The book's "insensitive"
# is the rank-correlation criterion above, theirs a visual judgement; they note in
# their erratum that GBP is not fully invariant either. Their "changes markedly" for
# gradient × input and Integrated Gradients matches the signed rank correlation
# above, not the absolute one.
#
# ## Do the verdicts depend on the settings?
#
# SmoothGrad and Integrated Gradients are averages over {glue:text}`smoothgrad_samples`
# noisy copies and {glue:text}`ig_steps` points; with fewer, their maps are noisier.
# The convergence check measures those two methods again at half of each
# ({glue:text}`half_samples` copies, {glue:text}`half_steps` steps), at every step the
# verdicts read, and judges every claim anew. The half maps come from the same passes:
# the first half of the noisy copies, and every second Riemann point, which is the
# rule with half the points (an odd number of steps pays for its own half passes).

# %%
half_ci, half_run = H.half_measures(class_invariance, runs["cascading"])
half_results = H.rejudged(results, half_ci, half_run, n_upper, insensitive_at)

# %% tags=["remove-cell"]
half = H.half_settings(settings)
rec("half_samples", half["smoothgrad_samples"])
rec("half_steps", half["ig_steps"])
at_default = H.settings_verdicts(results, paper, invariant_at)
at_half = H.settings_verdicts(half_results, paper, invariant_at)
header, rows, moved = H.convergence_rows(at_default, at_half)
rec.table("convergence_table", header, rows)
rec("settings_verdict", moved)
sg, ig = results["smoothgrad"], results["integrated_gradients"]
sg_half, ig_half = half_results["smoothgrad"], half_results["integrated_gradients"]
rec(
    "convergence.smoothgrad.default.upper_half_spearman_abs",
    sg["upper_half_spearman_abs"],
)
rec(
    "convergence.smoothgrad.half.upper_half_spearman_abs",
    sg_half["upper_half_spearman_abs"],
)
rec("convergence.smoothgrad.half.class_invariance", sg_half["class_invariance"])
rec(
    "convergence.integrated_gradients.default.upper_half_spearman_abs",
    ig["upper_half_spearman_abs"],
)
rec(
    "convergence.integrated_gradients.half.upper_half_spearman_abs",
    ig_half["upper_half_spearman_abs"],
)
rec(
    "convergence.integrated_gradients.half.class_invariance",
    ig_half["class_invariance"],
)

# %% [markdown]
# ```{glue:md} convergence_table
# :format: myst
# ```
#
# Each claim at the chapter's settings and at half the SmoothGrad copies and IG
# steps: {glue:text}`settings_verdict`. SmoothGrad's rank correlation over the upper
# half goes from {glue:text}`convergence.smoothgrad.half.upper_half_spearman_abs:.2f`
# at half to {glue:text}`convergence.smoothgrad.default.upper_half_spearman_abs:.2f`,
# Integrated Gradients' from
# {glue:text}`convergence.integrated_gradients.half.upper_half_spearman_abs:.2f` to
# {glue:text}`convergence.integrated_gradients.default.upper_half_spearman_abs:.2f`.
#
# ## Cost
#
# The chapter ran in {glue:text}`elapsed_s:.0f` s at {glue:text}`size` pixels on
# {glue:text}`n_photos` photos ({glue:text}`n_steps` randomized models), with
# SmoothGrad at {glue:text}`smoothgrad_samples` copies (the sanity-checks paper uses 50;
# `smoothgrad_samples = 0` picks {glue:text}`smoothgrad_gpu` on a GPU and
# {glue:text}`smoothgrad_cpu` on a CPU) and Integrated Gradients
# at {glue:text}`ig_steps` steps. SmoothGrad and Integrated Gradients take
# most of it (`benchmarks/bench_methods.py` prints each method's share).

# %% tags=["remove-input"]
rec("elapsed_s", time.perf_counter() - start)
rec("n_steps", len(steps["cascading"]) + len(steps["independent"]))
rec.update(randomization_steps=steps["cascading"])

# %% [markdown]
# ## Claims and verdicts
#
# The chapter's claims, each judged once above by the book's verdict rule
# (`H.judge`): the per-method prediction, class invariance, and the comparison with
# the sanity-checks paper. The scorecard shows these same verdicts.

# %% tags=["remove-input"]
rec.claims_table()
rec.save()

# %% [markdown]
# ```{glue:md} claims_table
# :format: myst
# ```
