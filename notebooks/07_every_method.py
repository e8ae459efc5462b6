# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
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
# {glue:text}`model_name`, and asks whether the paper's argument predicts which maps
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
#   correlate at {glue:text}`ci_guided_backprop:.2f` for GBP and
#   {glue:text}`ci_saliency:.2f` for the saliency map.
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
photos = ["chelsea", "astronaut"]  # bundled photos or paths (two or more)
size = 224  # image side in pixels
model = "auto"  # trained network: "auto" (VGG-16 if its weights load), "efficientnet_lite0"
n_logits = 8  # logits compared per photo (class invariance)
n_top = 3  # of which the network's top classes; then logit 482, then random ones
logit_seed = 0  # draws the random logits
smoothgrad_samples = 4  # noisy copies per SmoothGrad map
smoothgrad_noise = 0.15  # SmoothGrad's noise std as a fraction of the input range
ig_steps = 6  # Integrated Gradients' Gauss-Legendre points
insensitive_at = 0.5  # rank correlation above which a map counts as insensitive
seed = 0  # re-initialized layers, SmoothGrad's noise
out_dir = "metrics"  # where the chapter's metrics JSON goes

# %%
import time
import warnings

import numpy as np
import torch
from IPython.display import Markdown

import helpers as H

start = time.perf_counter()
torch.manual_seed(seed)
torch.set_num_threads(
    1
)  # as chapter 6: small kernels, faster on one thread of a shared CPU
warnings.filterwarnings("ignore", message="An input array is constant")
warnings.filterwarnings(
    "ignore", message="Input Tensor .* did not already require gradients"
)
warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
device = H.default_device()
METHODS, NAME = list(H.METHODS), H.METHODS
lm = H.load_model(model, device=device)
donor = H.load_model(
    f"{lm.name}_untrained", seed=seed, device=device
)  # re-initialized layers
for m in (lm, donor):
    m.model.requires_grad_(False)
images = torch.stack([H.load_image(p, size) for p in photos]).to(
    device
)  # (B, 3, H, W)
xs = lm.prepare(images)
metrics = {"photos": photos, "size": size, "seed": seed, "model": lm.name}

# %% [markdown]
# ## Eight methods, and who computes them
#
# Every method starts from the gradient of one logit $f_k$ with respect to the input
# $x$, the saliency map $\nabla f_k(x)$, or from the same backward pass with another
# rule $h$ at every ReLU (chapter 1). With $A$ the last feature map (channels $c$,
# $Z$ positions) and $x_0$ a black image:
#
# $$\text{gradient} \times \text{input} = x \odot \nabla f_k(x),\qquad
# \text{SmoothGrad} = \tfrac{1}{n}\textstyle\sum_{i=1}^{n} \nabla f_k(x + \epsilon_i),\
# \epsilon_i \sim \mathcal{N}(0, s^2),$$
#
# $$\text{IG} = (x - x_0) \odot \int_0^1 \nabla f_k(x_0 + a(x - x_0))\,da,\qquad
# \text{Grad-CAM} = \sigma\Big(\sum_c \alpha_c A_c\Big),\
# \alpha_c = \frac{1}{Z}\sum_{z} \frac{\partial f_k}{\partial A_{c,z}},$$
#
# Guided Grad-CAM is GBP times Grad-CAM upsampled to the input. SmoothGrad uses
# {glue:text}`smoothgrad_samples` noisy copies at $s$ =
# {glue:text}`smoothgrad_noise` of the input range, Integrated Gradients
# {glue:text}`ig_steps` Gauss-Legendre points: few, chosen to keep the chapter near
# two minutes on two CPU cores (its measured time is at the end).
# [Captum](https://captum.ai) is the reference implementation. Its guided and
# DeconvNet hooks cover `nn.ReLU` modules only, and {glue:text}`model_name` uses
# `nn.ReLU6`; there the book's own rules take over. `tests/test_methods.py` checks
# every method against Captum (or a hand computation) on a plain-ReLU network. Here
# is what ran:

# %%
impl = H.method_implementations(lm.model)
rows = [[NAME[m], how] for m, how in impl.items()]
H.glue("impl_table", Markdown(H.markdown_table(["method", "implementation"], rows)))
x_range = lm.prepare(torch.ones(3, 1, 1)) - lm.prepare(torch.zeros(3, 1, 1))
settings = {  # the same for every model, step and photo; SmoothGrad's noise drawn from seed
    "smoothgrad_samples": smoothgrad_samples,
    "smoothgrad_std": smoothgrad_noise * float(x_range.max()),
    "ig_steps": ig_steps,
    "baseline": lm.prepare(torch.zeros_like(images[0])),  # a black image
    "seed": seed,
}
metrics["implementations"] = impl

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

# %%
predicted = {m: H.METHOD_INGREDIENTS[m].predicted_insensitive for m in METHODS}
yes = {True: "yes", False: "no"}
rows = [
    [NAME[m], ing.backward, yes[ing.input], yes[ing.gradcam], yes[predicted[m]]]
    for m, ing in ((m, H.METHOD_INGREDIENTS[m]) for m in METHODS)
]
header = ["method", "rule h", "× input", "× Grad-CAM", "predicted insensitive"]
H.glue("prediction_table", Markdown(H.markdown_table(header, rows)))
H.glue("insensitive_at", insensitive_at)

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
# over photos. One batch holds every photo-logit pair.

# %%
orig, top = H.attribution_maps(lm.model, xs, "max", METHODS, **settings)
with torch.no_grad():
    tops = lm.model(xs).topk(n_top).indices.tolist()
targets = [H.class_targets(t, n_logits, seed=logit_seed) for t in tops]
rep = xs.repeat_interleave(n_logits, 0)  # photo-major: (B * T, 3, H, W)
per_logit, _ = H.attribution_maps(
    lm.model, rep, sum(targets, []), METHODS, **settings
)
class_invariance = {
    m: float(
        np.mean([H.map_class_invariance(c) for c in per_logit[m].split(n_logits)])
    )
    for m in METHODS
}


# %% tags=["remove-output"]
def shown(m):
    """As the sanity-checks paper shows maps: channel sum of |m|, 99th percentile clip."""
    return H.normalize_map(m, "abs99")


fig = H.plot_grid(
    [
        [images[b].permute(1, 2, 0)] + [shown(orig[m][b]) for m in METHODS]
        for b in range(len(photos))
    ],
    row_labels=[
        f"{p}: {lm.categories[int(t)]}" for p, t in zip(photos, top, strict=True)
    ],
    col_labels=["photo"] + [NAME[m] for m in METHODS],
    mode="abs99",
    cell=1.6,
)
H.glue_figure("fig_methods", fig)

# %%
rows = [[NAME[m], class_invariance[m]] for m in METHODS]
H.glue(
    "ci_table", Markdown(H.markdown_table(["method", "mean ρ across logits"], rows))
)
H.glue("model_name", lm.name)
H.glue("n_logits", n_logits)
H.glue("n_top", n_top)
H.glue("n_photos", len(photos))
H.glue("smoothgrad_samples", smoothgrad_samples)
H.glue("smoothgrad_noise", smoothgrad_noise)
H.glue("ig_steps", ig_steps)
for m in METHODS:
    H.glue(f"ci_{m}", class_invariance[m])

# %% [markdown]
# ```{glue:figure} fig_methods
# :name: fig-methods
#
# The eight maps of the trained {glue:text}`model_name` for its top class (row labels), as
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
# Chapter 6's protocol: the layers of {glue:text}`model_name` are re-initialized
# group by group from the logits down (*cascading*) or one group at a time
# (*independent*), by copying them from the same architecture's seeded
# initialization. At every step each method's map for the current model's top class
# is compared with the original: Spearman of the absolute maps and of the signed
# maps, SSIM, and Spearman of HOG features (histograms of oriented gradients), as
# {cite:t}`adebayo2018sanity` do (`H.SanityReference`).

# %%
groups = H.randomization_groups(lm.model)
refs = {
    m: [H.SanityReference(orig[m][b]) for b in range(len(photos))] for m in METHODS
}
curves, example, steps = {}, {}, {}
for mode in ("cascading", "independent"):
    curves[mode] = {m: [] for m in METHODS}
    example[mode], steps[mode] = {m: [orig[m][0]] for m in METHODS}, []
    for label, scores, maps in H.randomization_study(
        lm.model, donor.model, groups, xs, refs, mode, **settings
    ):
        steps[mode].append(label)
        for m in METHODS:
            curves[mode][m].append({"layer": label} | H.mean_std(scores[m]))
            example[mode][m].append(maps[m][0])
        if mode == "cascading":
            final = maps  # the last cascading step: every group re-initialized

# %% tags=["remove-output"]
fig = H.plot_grid(
    [[shown(e) for e in example["cascading"][m]] for m in METHODS],
    row_labels=[NAME[m] for m in METHODS],
    col_labels=["original"] + steps["cascading"],
    mode="abs99",
    cell=1.25,
)
H.glue_figure("fig_cascading_grid", fig)
for mode in ("cascading", "independent"):
    named = {NAME[m]: curves[mode][m] for m in METHODS}
    metric_names = ("spearman_abs", "spearman", "ssim", "hog")
    fig = H.plot_randomization(
        named, steps[mode], metric_names, title=f"{mode}, {lm.name}"
    )
    H.glue_figure(f"fig_{mode}", fig)

# %% [markdown]
# ```{glue:figure} fig_cascading_grid
# :name: fig-cascading-grid
#
# Cascading randomization of {glue:text}`model_name` on `chelsea`, in the layout of the
# sanity-checks paper: one row per method, the original map, then the map after every group
# from the logits down to the one named is re-initialized ($|m|$ clipped at the 99th
# percentile).
# ```
#
# ```{glue:figure} fig_cascading
# :name: fig-cascading-curves
#
# Cascading randomization: similarity to the original map, mean ± std over
# {glue:text}`n_photos` photos, by the four metrics of the sanity-checks paper.
# ```
#
# ```{glue:figure} fig_independent
# :name: fig-independent-curves
#
# Independent randomization: one group re-initialized at a time.
# ```
#
# ## Does a random network's map still look like the photo?
#
# The paper's third question, asked of the fully re-initialized network (the last
# cascading step): the centred correlation of each map with the input, and the rank
# correlation of its magnitude with the photo's Sobel edges (chapter 6's measures; a
# one-channel Grad-CAM map is compared with every channel).


# %%
def resemblance(maps):
    """Centred correlation with the input and edge score, mean/std over photos."""
    return H.mean_std(
        [
            {
                "corr_input": H.centered_pearson(maps[b].expand_as(xs[b]), xs[b]),
                "edges": H.edge_score(maps[b], images[b]),
            }
            for b in range(len(photos))
        ]
    )


resemble = {
    m: {"trained": resemblance(orig[m]), "random": resemblance(final[m])}
    for m in METHODS
}

# %% [markdown]
# ## Verdicts
#
# The upper half of the network is the first {glue:text}`n_upper` cascading steps
# ({glue:text}`upper_steps`). For each method: the prediction, the measurement, and
# whether they agree. The last column is for the fully random network.

# %%
n_upper = len(groups) // 2
measured, results = {}, {}
for m in METHODS:
    upper_steps = curves["cascading"][m][:n_upper]
    upper = np.nanmean([c["spearman_abs"] for c in upper_steps])
    measured[m] = bool(upper >= insensitive_at)
    results[m] = {
        "class_invariance": class_invariance[m],
        "cascading": curves["cascading"][m],
        "independent": curves["independent"][m],
        "predicted_insensitive": predicted[m],
        "measured_insensitive": measured[m],
        "upper_half_spearman_abs": float(upper),
        "upper_half_spearman": float(
            np.nanmean([c["spearman"] for c in upper_steps])
        ),
        "resemblance": resemble[m],
        "verdict": "agree" if predicted[m] == measured[m] else "disagree",
    }

# %% tags=["remove-output"]
words = {True: "insensitive", False: "sensitive"}
header = [
    "method",
    "predicted",
    "rank ρ of abs, upper half random",
    "measured",
    "verdict",
]
header += ["signed rank ρ", "ρ across logits", "ρ(input), random net"]
rows = [
    [NAME[m], words[predicted[m]], r["upper_half_spearman_abs"], words[measured[m]]]
    + [r["verdict"], r["upper_half_spearman"], r["class_invariance"]]
    + [r["resemblance"]["random"]["corr_input"]]
    for m, r in results.items()
]
H.glue("verdict_table", Markdown(H.markdown_table(header, rows)))

# %%
agree = [m for m in METHODS if results[m]["verdict"] == "agree"]
others = [
    abs(resemble[m]["random"]["corr_input"])
    for m in METHODS
    if m != "guided_backprop"
]
H.glue("random_input_others", float(np.nanmax(others)))
H.glue("gradcam_zero_last", 100 * curves["cascading"]["gradcam"][-1]["zero_map"])
H.glue("n_agree", len(agree))
H.glue("n_methods", len(METHODS))
H.glue("n_upper", n_upper)
H.glue("upper_steps", ", ".join(steps["cascading"][:n_upper]))
H.glue(
    "predicted_list", ", ".join(NAME[m] for m in METHODS if predicted[m]) or "none"
)
H.glue(
    "measured_list", ", ".join(NAME[m] for m in METHODS if measured[m]) or "none"
)
H.glue(
    "disagree_list", ", ".join(NAME[m] for m in METHODS if m not in agree) or "none"
)
for m in METHODS:
    H.glue(f"upper_{m}", results[m]["upper_half_spearman_abs"])
    H.glue(f"random_input_{m}", resemble[m]["random"]["corr_input"])
    H.glue(f"signed_upper_{m}", results[m]["upper_half_spearman"])
    H.glue(f"casc_first_{m}", curves["cascading"][m][0]["spearman_abs"])

# %% [markdown]
# ```{glue:md} verdict_table
# :format: myst
# ```
#
# Predicted and measured insensitivity to the upper layers (rank correlation of
# $|m|$ with the original, mean over the first {glue:text}`n_upper` cascading steps
# and {glue:text}`n_photos` photos), class invariance, and resemblance to the input
# when every layer is random.
#
# **Verdict.** The argument predicts {glue:text}`n_agree` of {glue:text}`n_methods`
# methods. It names {glue:text}`predicted_list` as insensitive; the measurement
# finds {glue:text}`measured_list`; they disagree on {glue:text}`disagree_list`. For
# the maps made of one backward pass the argument holds. GBP keeps a rank
# correlation of {glue:text}`upper_guided_backprop:.2f` while the upper half of the
# network is random, DeconvNet {glue:text}`upper_deconvnet:.2f`; the saliency map
# falls to {glue:text}`upper_saliency:.2f` and SmoothGrad to
# {glue:text}`upper_smoothgrad:.2f`.
#
# Each disagreement involves a factor the argument leaves out: a quantity of the
# *forward* pass that multiplies the map. Gradient × input and Integrated Gradients
# multiply by the input, whose magnitude no weight can change. The rank correlation
# of their absolute maps stays at {glue:text}`upper_input_x_gradient:.2f` and
# {glue:text}`upper_integrated_gradients:.2f`, while that of their signed maps falls
# to {glue:text}`signed_upper_input_x_gradient:.2f` and
# {glue:text}`signed_upper_integrated_gradients:.2f`, as the saliency map's does
# ({glue:text}`signed_upper_saliency:.2f`): the gradient inside them changed, the
# photo did not. Grad-CAM weights the feature map $A$ of the lower layers, so
# replacing the classifier alone leaves it at {glue:text}`casc_first_gradcam:.2f`;
# Guided Grad-CAM, GBP inside that envelope, keeps
# {glue:text}`upper_guided_gradcam:.2f`. Read after the fact, the argument extends:
# a map ignores the upper layers when they reach it only through $\sigma$, and
# forward-pass factors ($x$, $A$) carry the lower layers' structure into any map
# they multiply.
#
# The third question separates GBP from everything else. With every layer random,
# GBP's map correlates with the input at
# {glue:text}`random_input_guided_backprop:.2f`; no other method exceeds
# {glue:text}`random_input_others:.2f` in absolute value. Grad-CAM of the fully
# random network is zero everywhere on {glue:text}`gradcam_zero_last:.0f`% of the
# photos (its ReLU removes a CAM that is negative everywhere), so its rank
# correlations there are undefined and left out of the curves.
#
# ## Beside the sanity-checks paper
#
# {cite:t}`adebayo2018sanity` report, for cascading randomization of an Inception
# v3, which maps stay visually similar to the original (insensitive) and which
# change markedly. DeconvNet is not among their methods.

# %% tags=["remove-output"]
paper = H.SANITY_CHECKS_INSENSITIVE
rows = [
    [
        NAME[m],
        "not tested" if paper[m] is None else words[paper[m]],
        words[measured[m]],
    ]
    + ["—" if paper[m] is None else "yes" if paper[m] == measured[m] else "no"]
    for m in METHODS
]
header = ["method", "sanity checks (2018)", "this book", "agree"]
H.glue("sanity_table", Markdown(H.markdown_table(header, rows)))
tested = [m for m in METHODS if paper[m] is not None]
differ = [NAME[m] for m in tested if paper[m] != measured[m]]
H.glue("n_sanity", len(tested))
H.glue("n_agree_sanity", len(tested) - len(differ))
H.glue(
    "sanity_disagree",
    "they differ on " + ", ".join(differ) if differ else "all of them",
)

# %% [markdown]
# ```{glue:md} sanity_table
# :format: myst
# ```
#
# The book's "insensitive" is the rank-correlation criterion above, theirs a visual
# judgement; they note in their erratum that GBP is not fully invariant either.
# Their "changes markedly" for gradient × input and Integrated Gradients matches the
# signed rank correlation above, not the absolute one.
#
# ## Cost
#
# The chapter ran in {glue:text}`elapsed_s:.0f` s at {glue:text}`size` pixels on
# {glue:text}`n_photos` photos ({glue:text}`n_steps` randomized models). SmoothGrad
# and Integrated Gradients take most of it: raise `smoothgrad_samples` and
# `ig_steps` in the parameters cell for smoother maps.

# %%
elapsed = time.perf_counter() - start
H.glue("elapsed_s", elapsed)
H.glue("size", size)
H.glue("n_steps", len(steps["cascading"]) + len(steps["independent"]))
metrics |= {
    "methods": METHODS,
    "randomization_steps": steps["cascading"],
    "elapsed_s": elapsed,
}
metrics["sanity_checks_2018"] = (
    paper  # Adebayo et al.'s findings, for the scorecard
)
metrics |= results
metrics_path = H.save_metrics(out_dir, "07_every_method", metrics)
