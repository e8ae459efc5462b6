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
# # Observations: guided backpropagation with and without training
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/backpropvis/backpropvis-book/blob/main/notebooks/01_observations.ipynb)
#
# Section 2 of {cite:t}`nie2017towards` draws three claims from one picture (its Figure 1),
# guided backpropagation (GBP) {cite:p}`springenberg2014striving` of a trained VGG-16
# {cite:p}`simonyan2014very` and of one with random weights, on a tabby cat:
#
# (a) both networks give a human-interpretable map;
# (b) the trained network's map "cares more about edges", the untrained one "recovers the
#     original image as a whole";
# (c) the map does not depend on which logit is backpropagated, and "though having not shown
#     here", the same class invariance holds for the plain saliency map {cite:p}`simonyan2013deep`
#     and for DeconvNet {cite:p}`zeiler2014visualizing`.
#
# The paper judges all three by eye. This chapter redraws the figure and turns each claim into a
# number, for three networks: a trained ImageNet classifier (here {glue:text}`trained_model`),
# the same architecture with random weights, and a randomly initialized VGG-16. In short:
#
# * **(a)** GBP of the untrained VGG-16 correlates with the input photo at Pearson
#   $\rho$ = {glue:text}`in_vgg_guided:.2f`; the plain gradient of the same network at
#   {glue:text}`in_vgg_plain:.3f`.
# * **(c)** Maps of different logits correlate at $\bar\rho \ge$
#   {glue:text}`inv_min_guided:.3f` under GBP: class invariance
#   {glue:text}`verdict_guided`. Under the plain gradient $\bar\rho \le$
#   {glue:text}`inv_max_plain:.3f`: the paper's sentence about the plain saliency map
#   {glue:text}`verdict_plain`. For DeconvNet it {glue:text}`verdict_deconv`.
# * **(b)** The "whole image" half {glue:text}`verdict_whole` (untrained maps correlate with the
#   photo more than the trained one's on {glue:text}`wins_in` of {glue:text}`n_photos` photos);
#   the "edges" half {glue:text}`verdict_edges` by the Sobel edge measure used below.

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
photos = [
    "chelsea",
    "astronaut",
    "coffee",
    "rocket",
]  # bundled photos or paths (first: Fig. 1)
size = 224  # image side in pixels
model = "auto"  # trained network: "auto" (VGG-16 if its weights load), "vgg16", ...
n_logits = 10  # logits compared per photo and network (class invariance)
n_top = 5  # of which the network's top classes (the first is the max logit); then 482, random
logit_seed = 0  # draws the random logits
seed = 0  # initializes the untrained networks
n_filters = 256  # N of the three-layer convnet in the last section
kernel_size = 7  # k of its k x k x 3 filters
out_dir = "metrics"  # where the chapter's metrics JSON goes

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown

import helpers as H

device = H.default_device()
trained = H.load_model(model, seed=seed, device=device)
untrained = H.load_model(f"{trained.name}_untrained", seed=seed, device=device)
# a trained VGG-16's twin *is* the untrained VGG-16: loaded once
vgg = (
    untrained
    if untrained.name == "vgg16_untrained"
    else H.load_model("vgg16_untrained", seed=seed, device=device)
)
models = {"trained": trained, "untrained": untrained, "vgg16_untrained": vgg}
for m in models.values():
    m.model.requires_grad_(False)  # only the input gradient is needed
LABEL = {
    "trained": f"{trained.name} (trained)",
    "untrained": f"{untrained.name.removesuffix('_untrained')} (untrained)",
    "vgg16_untrained": "VGG-16 (untrained)",
}
model_note = (
    "the paper's own network, with torchvision's IMAGENET1K_V1 weights"
    if trained.name == "vgg16"
    else "not the paper's VGG-16: its ImageNet weights could not be loaded where this page was "
    "built, so the offline EfficientNet-Lite0 checkpoint stands in"
)
for key, value in {
    "trained_model": trained.name,
    "trained_prep": trained.preprocessing,
    "model_note": model_note,
}.items():
    H.glue(key, value)

# %% [markdown]
# ## Three networks, three backward rules
#
# The trained network that ran is **{glue:text}`trained_model`**, {glue:text}`model_note`. Its
# random twin has the same architecture with PyTorch's default initialization (seeded), so
# trained against untrained is like for like; the randomly initialized VGG-16 (torchvision's
# Kaiming-normal convolutions) is the paper's untrained network. Every network gets the input
# normalization it expects ({glue:text}`trained_prep` for the trained one) and runs in `eval()`
# mode.
#
# A map is the input-space "gradient" of one logit $f_k$, computed with a backward rule $h$ at
# every ReLU $\sigma(z) = \max(z, 0)$: with $R$ the signal arriving from above,
#
# $$R_{\text{plain}} = [z > 0]\,R,\qquad R_{\text{guided}} = [z > 0]\,\sigma(R),\qquad
# R_{\text{deconv}} = \sigma(R).$$
#
# The plain rule is the true gradient (saliency map), DeconvNet ignores the forward mask, and GBP
# applies both masks. EfficientNet-Lite0 uses ReLU6, $\min(\max(z,0),6)$: its forward mask is
# $[0 < z < 6]$.
#
# ## Photos and what the trained network sees in them
#
# Figure 1 of the paper uses an ImageNet "tabby"; scikit-image's bundled `chelsea` is one, and
# {glue:text}`n_photos` photos in all are used below. The trained network's top-5 classes:

# %% tags=["remove-output"]
images = {p: H.load_image(p, size).to(device) for p in photos}
top5 = {p: trained.top_k(x, 5) for p, x in images.items()}
rows = [[p] + [f"{name} ({prob:.2f})" for _, name, prob in top5[p]] for p in photos]
table = H.markdown_table(["photo"] + [f"top-{i + 1}" for i in range(5)], rows)
_, top1_name, top1_prob = top5[photos[0]][0]
for key, value in {
    "top5_table": Markdown(table),
    "n_photos": len(photos),
    "top1_first": f"{top1_name} (p = {top1_prob:.2f})",
}.items():
    H.glue(key, value)
print(table)

# %% [markdown]
# ```{glue:md} top5_table
# :format: myst
# ```
#
# ## Which logits
#
# For each photo and network, $T$ = {glue:text}`n_logits` logits: the network's
# {glue:text}`n_top` largest (the first is the max logit, "max" in the paper), logit 482 (one of
# the paper's "randomly chosen" numbers) and logits drawn by a generator seeded with
# `logit_seed`, the same for every network (in order of drawing, skipping any already chosen):
# {glue:text}`random_logits`. One forward pass serves all $T$ maps of all three rules.

# %%
names = {
    m.name: m for m in models.values()
}  # a trained VGG-16's twin *is* vgg16_untrained
targets, maps = {}, {}
for p, x in images.items():
    for name, m in names.items():
        xp = m.prepare(x)
        with torch.no_grad():
            top = m.model(xp[None])[0].topk(n_top).indices.tolist()
        targets[p, name] = H.class_targets(top, n_logits, seed=logit_seed)
        by_rule, _ = H.backprop_maps(m.model, xp[None], H.RULES, targets[p, name])
        for rule in H.RULES:
            maps[p, name, rule] = by_rule[rule][:, 0].cpu()  # (T, 3, H, W)
random_logits = [
    k for k in H.class_targets([], n_logits, seed=logit_seed) if k != 482
]
for key, value in {
    "n_logits": n_logits,
    "n_top": n_top,
    "random_logits": ", ".join(map(str, random_logits[: n_logits - n_top - 1])),
}.items():
    H.glue(key, value)

# %% [markdown]
# ## Figure 1, redrawn
#
# The paper shows GBP for the max logit and for randomly chosen ones, displayed after one global
# min-max normalization over all pixels and channels (as the author's code does).

# %% tags=["remove-output"]
first = photos[0]
common = [k for k in (482, *random_logits) if all(k in t for t in targets.values())]
shown = [
    "max",
    *common[:3],
]  # the max logit, 482 and random logits, as in the paper


def grab(p: str, m: H.LoadedModel, rule: str, k: int | str) -> torch.Tensor:
    """The map of logit ``k`` ("max" = the network's largest logit on photo ``p``)."""
    return maps[p, m.name, rule][0 if k == "max" else targets[p, m.name].index(k)]


def name_of(k: int | str) -> str:
    return "max" if k == "max" else f"logit {k}"


fig = H.plot_grid(
    [
        [images[first]] + [grab(first, m, "guided", k) for k in shown]
        for m in models.values()
    ],
    row_labels=list(LABEL.values()),
    col_labels=["input"] + [name_of(k) for k in shown],
    cell=2.4,
)
H.glue_figure("fig_figure1", fig)

# %% [markdown]
# ```{glue:figure} fig_figure1
# :name: fig-figure1
#
# The paper's Figure 1 redrawn: guided backpropagation on `chelsea` ({glue:text}`size` x
# {glue:text}`size`) for the trained {glue:text}`trained_model` (top row; its top-1 class is
# {glue:text}`top1_first`), the same architecture untrained (middle) and an untrained VGG-16
# (bottom), for the max logit, logit 482 and random logits. Each map min-max normalized.
# ```
#
# The untrained VGG-16 returns the photo itself, in color, for every logit; the untrained
# {glue:text}`trained_model` returns a fainter copy under a grid pattern; the trained network
# returns a sparse line drawing of the cat's eyes, nose and outline. The same holds on the
# other photos:

# %% tags=["remove-output"]
pick = shown[:2]  # the max logit and logit 482
fig = H.plot_grid(
    [
        [images[p]]
        + [grab(p, m, "guided", k) for m in models.values() for k in pick]
        for p in photos
    ],
    row_labels=photos,
    col_labels=["input"]
    + [f"{LABEL[n]}\n{name_of(k)}" for n in models for k in pick],
    cell=2.0,
)
H.glue_figure("fig_photos", fig)

# %% [markdown]
# ```{glue:figure} fig_photos
# :name: fig-photos
#
# Guided backpropagation on {glue:text}`n_photos` photos for the trained
# {glue:text}`trained_model`, its untrained twin and an untrained VGG-16; for each network the
# max logit (its own on each photo) and logit 482.
# ```
#
# ## All three rules
#
# Claim (c) extends to the plain saliency map and DeconvNet. Here are all three rules, each for
# the max logit and logit 482:

# %% tags=["remove-output"]
fig = H.plot_grid(
    [
        [images[first]] + [grab(first, m, r, k) for r in H.RULES for k in pick]
        for m in models.values()
    ],
    row_labels=list(LABEL.values()),
    col_labels=["input"] + [f"{r}, {name_of(k)}" for r in H.RULES for k in pick],
    cell=2.0,
)
H.glue_figure("fig_rules", fig)

# %% [markdown]
# ```{glue:figure} fig_rules
# :name: fig-rules
#
# Plain gradient, guided backpropagation and DeconvNet on `chelsea` for the three networks
# (trained {glue:text}`trained_model` on top), max logit and logit 482, each map min-max
# normalized.
# ```
#
# By eye, plain maps are noise that changes with the logit, while GBP and DeconvNet maps look
# the same for both logits; the DeconvNet maps, though, hardly show the photo. The numbers
# follow.
#
# ## Class invariance in numbers
#
# For one photo, network and rule, the $T$ maps $m_1, \dots, m_T$ give a $T \times T$ similarity
# matrix. Its mean off-diagonal Pearson correlation $\bar\rho$ is the class-invariance score.
# It reads as a variance share: if each map is a common part plus a logit-specific part,
# $m_k = s + n_k$, with the $n_k$ uncorrelated and of equal size, then
# $\bar\rho = \operatorname{var}(s) / (\operatorname{var}(s) + \operatorname{var}(n))$, the
# fraction of a map that is the same for every logit. We call a rule *class-invariant* when
# $\bar\rho \ge 0.9$, *partly class-dependent* for $0.5 \le \bar\rho < 0.9$ and
# *class-dependent* below. SSIM (of min-max normalized maps) and Spearman's rank correlation
# {cite:p}`adebayo2018sanity` check that the verdict does not hang on one metric; they are
# computed on the first photo, Pearson on all photos.

# %%
sims = {}
for (p, name, rule), mp in maps.items():
    metrics_here = ("pearson", "ssim", "spearman") if p == first else ("pearson",)
    sims[p, name, rule] = H.similarity_matrices(mp, metrics_here)


def invariance(
    key: str, rule: str, metric: str = "pearson", photo: str | None = None
) -> float:
    """Mean off-diagonal similarity, averaged over photos (or for one photo)."""
    ps = [photo] if photo else photos
    return float(
        np.mean(
            [
                H.mean_offdiagonal(sims[p, models[key].name, rule][metric])
                for p in ps
            ]
        )
    )


def verdict(rho: float) -> str:
    if rho >= 0.9:
        return "class-invariant"
    return "partly class-dependent" if rho >= 0.5 else "class-dependent"


class_invariance = {k: {r: invariance(k, r) for r in H.RULES} for k in models}

# %% tags=["remove-output"]
ticks = targets[first, trained.name]
for metric in ("pearson", "ssim", "spearman"):
    fig = H.plot_heatmaps(
        [
            [sims[first, m.name, r][metric] for r in H.RULES]
            for m in models.values()
        ],
        row_labels=list(LABEL.values()),
        col_labels=list(H.RULES),
        tick_labels=["max"]
        + [
            f"top-{i + 1}" if i < n_top else str(k)
            for i, k in enumerate(ticks)
            if i > 0
        ],
        vmin=-1 if metric != "ssim" else 0,
        cbar_label=metric,
    )
    H.glue_figure(f"fig_matrix_{metric}", fig)

# %% [markdown]
# ```{glue:figure} fig_matrix_pearson
# :name: fig-matrix-pearson
#
# Pearson correlation between the maps of {glue:text}`n_logits` logits on `chelsea`, per network
# (rows; trained {glue:text}`trained_model` on top) and rule (columns): each network's own
# top classes, then logit 482 and the random logits. Panel titles give $\bar\rho$.
# ```
#
# ```{glue:figure} fig_matrix_ssim
# :name: fig-matrix-ssim
#
# The same with SSIM of the min-max normalized maps (color scale 0 to 1).
# ```
#
# ```{glue:figure} fig_matrix_spearman
# :name: fig-matrix-spearman
#
# The same with Spearman's rank correlation.
# ```

# %% tags=["remove-output"]
rows = [
    [
        LABEL[k],
        r,
        class_invariance[k][r],
        min(invariance(k, r, photo=p) for p in photos),
        invariance(k, r, "ssim", first),
        invariance(k, r, "spearman", first),
        verdict(class_invariance[k][r]),
    ]
    for k in models
    for r in H.RULES
]
header = [
    "network",
    "rule",
    "Pearson (mean)",
    "Pearson (worst photo)",
    "SSIM",
    "Spearman",
]
invariance_table = H.markdown_table(header + ["verdict"], rows)
H.glue("invariance_table", Markdown(invariance_table))
print(invariance_table)

# %% [markdown]
# ```{glue:md} invariance_table
# :format: myst
# ```
#
# Mean off-diagonal similarity across {glue:text}`n_logits` logits: Pearson averaged over the
# {glue:text}`n_photos` photos and on the worst photo; SSIM and Spearman on `chelsea`. The
# verdict uses the mean Pearson.


# %%
def holds_for(rule: str) -> str:
    """Which networks a rule is class-invariant for, as words."""
    yes = [LABEL[k] for k in models if class_invariance[k][rule] >= 0.9]
    if len(yes) == len(models):
        return "holds for all three networks"
    if not yes:
        return "holds for none of the three networks"
    return "holds for the " + " and the ".join(yes) + " only"


for r in H.RULES:
    H.glue(f"verdict_{r}", holds_for(r))
    H.glue(f"inv_min_{r}", min(class_invariance[k][r] for k in models))
    H.glue(f"inv_max_{r}", max(class_invariance[k][r] for k in models))
    for k in models:
        H.glue(f"inv_{k}_{r}", class_invariance[k][r])

# the trained network's plain maps: its top classes against the other logits, on the first photo
plain_blocks = {
    "top": H.mean_offdiagonal(
        sims[first, trained.name, "plain"]["pearson"][:n_top, :n_top]
    ),
    "rest": H.mean_offdiagonal(
        sims[first, trained.name, "plain"]["pearson"][n_top:, n_top:]
    ),
}
top_names = [trained.categories[k] for k in targets[first, trained.name][:n_top]]
for key, value in {
    "plain_top_trained": plain_blocks["top"],
    "plain_rest_trained": plain_blocks["rest"],
    "top_names": ", ".join(top_names),
}.items():
    H.glue(key, value)

# %% [markdown]
# **GBP.** $\bar\rho$ ranges from {glue:text}`inv_min_guided:.4f` to
# {glue:text}`inv_max_guided:.4f` over the three networks, trained or not: class invariance
# {glue:text}`verdict_guided`.
#
# **Plain saliency map.** $\bar\rho$ lies between {glue:text}`inv_min_plain:.3f` and
# {glue:text}`inv_max_plain:.3f`. The paper's sentence that class invariance was observed for
# the plain saliency map too {glue:text}`verdict_plain`. For the untrained networks this is
# what the paper's own section 3 predicts: with $\mathbb{E}[h(V)] = 0$ for $h(v) = v$, the
# plain map is a sum of terms of random sign set by the logit's own weights. In the trained
# network the plain map is class-specific in a meaningful way: on `chelsea` the maps of its
# top {glue:text}`n_top` classes ({glue:text}`top_names`) correlate with each other at
# $\bar\rho$ = {glue:text}`plain_top_trained:.2f`, those of logit 482 and the random logits
# at {glue:text}`plain_rest_trained:.2f` (the top-left block of the first heat map).
#
# **DeconvNet.** $\bar\rho$ = {glue:text}`inv_trained_deconv:.3f` (trained),
# {glue:text}`inv_untrained_deconv:.3f` (untrained twin) and
# {glue:text}`inv_vgg16_untrained_deconv:.3f` (untrained VGG-16); the paper's sentence
# {glue:text}`verdict_deconv`. Invariant is not the same as informative: the DeconvNet maps
# correlate with the photo at $\rho$ = {glue:text}`in_trained_deconv:.3f`,
# {glue:text}`in_untrained_deconv:.3f` and {glue:text}`in_vgg16_untrained_deconv:.3f` (next
# section), against {glue:text}`in_vgg16_untrained_guided:.3f` for GBP of the untrained VGG-16.
# What they share across logits is mostly a periodic grid pattern (see the figure above).
#
# ## Edges versus the whole image
#
# Claim (b) compares what the maps look like. Two measures, each averaged over logits and photos:
#
# * `corr_with_input`: Pearson correlation of the map $m$ (all pixels and channels, signed) with
#   the input $\tilde x$ the network sees (the photo after the network's normalization). A map
#   that "recovers the image as a whole" scores high.
# * `corr_with_edges`: Pearson correlation of the channel-summed magnitude $\sum_c |m_c|$ with
#   the Sobel gradient magnitude of the grayscale photo. A map that "cares about edges" puts its
#   magnitude where the edges are and scores high.

# %%
edges = {p: H.edge_map(x) for p, x in images.items()}


def mean_corr(ref, mats) -> float:
    """Pearson of ``ref`` with each map of ``mats``, averaged over the maps."""
    return float(
        H.similarity_matrices([ref, *mats], ("pearson",))["pearson"][0, 1:].mean()
    )


by_photo = {"input": {}, "edges": {}}
for k, m in models.items():
    by_photo["input"][k] = {
        r: [mean_corr(m.prepare(images[p]), maps[p, m.name, r]) for p in photos]
        for r in H.RULES
    }
    by_photo["edges"][k] = {
        r: [mean_corr(edges[p], maps[p, m.name, r].abs().sum(1)) for p in photos]
        for r in H.RULES
    }
corr_with_input = {
    k: {r: float(np.mean(v)) for r, v in d.items()}
    for k, d in by_photo["input"].items()
}
corr_with_edges = {
    k: {r: float(np.mean(v)) for r, v in d.items()}
    for k, d in by_photo["edges"].items()
}

# %% tags=["remove-output"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for ax, what in zip(axes, ("input", "edges"), strict=True):
    data = {r: {LABEL[k]: by_photo[what][k][r] for k in models} for r in H.RULES}
    H.plot_grouped_bars(
        data, ax=ax, ylabel=f"Pearson with {what}", title=f"corr_with_{what}"
    )
axes[0].legend(fontsize=8)
fig.tight_layout()
H.glue_figure("fig_edges_bars", fig)

gbp_max = [grab(first, m, "guided", "max") for m in models.values()]
fig = H.plot_grid(
    [
        [images[first], *gbp_max],
        [edges[first], *[H.normalize_map(g, "abs99") for g in gbp_max]],
    ],
    row_labels=["photo; GBP map", "Sobel edges; sum_c |m_c|"],
    col_labels=["chelsea", *LABEL.values()],
    cell=2.4,
)
H.glue_figure("fig_edges_maps", fig)

# %% [markdown]
# ```{glue:figure} fig_edges_maps
# :name: fig-edges-maps
#
# Top: `chelsea` and the GBP map of the max logit of each network (trained
# {glue:text}`trained_model` first). Bottom: the Sobel edge map and the channel-summed magnitude
# $\sum_c|m_c|$ that `corr_with_edges` compares with it (shown clipped at its 99th
# percentile).
# ```
#
# ```{glue:figure} fig_edges_bars
# :name: fig-edges-bars
#
# `corr_with_input` (left) and `corr_with_edges` (right) for each rule and network; bars are
# means over the {glue:text}`n_photos` photos, dots single photos.
# ```

# %%
g_in = {k: corr_with_input[k]["guided"] for k in models}
g_ed = {k: corr_with_edges[k]["guided"] for k in models}
wins_in = sum(
    min(by_photo["input"][k]["guided"][i] for k in ("untrained", "vgg16_untrained"))
    > by_photo["input"]["trained"]["guided"][i]
    for i in range(len(photos))
)
wins_ed = sum(
    by_photo["edges"]["trained"]["guided"][i]
    > max(
        by_photo["edges"][k]["guided"][i] for k in ("untrained", "vgg16_untrained")
    )
    for i in range(len(photos))
)
whole_holds = g_in["trained"] < min(g_in["untrained"], g_in["vgg16_untrained"])
edges_holds = g_ed["trained"] > max(g_ed["untrained"], g_ed["vgg16_untrained"])
for key, value in {
    "verdict_whole": "holds" if whole_holds else "does not hold",
    "verdict_edges": "holds" if edges_holds else "does not hold",
    "wins_in": wins_in,
    "wins_ed": wins_ed,
    "in_vgg_guided": g_in["vgg16_untrained"],
    "in_vgg_plain": corr_with_input["vgg16_untrained"]["plain"],
}.items():
    H.glue(key, value)
for k in models:
    H.glue(f"in_{k}_guided", g_in[k])
    H.glue(f"edge_{k}_guided", g_ed[k])
    H.glue(f"in_{k}_deconv", corr_with_input[k]["deconv"])

# %% [markdown]
# **The "whole image" half {glue:text}`verdict_whole`.** GBP maps correlate with the input at
# $\rho$ = {glue:text}`in_vgg16_untrained_guided:.3f` (untrained VGG-16) and
# {glue:text}`in_untrained_guided:.3f` (untrained twin) against
# {glue:text}`in_trained_guided:.3f` for the trained {glue:text}`trained_model`; both untrained
# networks beat the trained one on {glue:text}`wins_in` of {glue:text}`n_photos` photos. The plain
# gradient, by contrast, does not correlate with the input at all (left panel), which is claim
# (a) in numbers: the untrained network's GBP map shows the photo, its true gradient does not.
#
# **The "edges" half {glue:text}`verdict_edges` by this measure.** The magnitude of the trained
# network's GBP map correlates with the Sobel edges at
# $\rho$ = {glue:text}`edge_trained_guided:.3f`, against
# {glue:text}`edge_untrained_guided:.3f` for its untrained twin and
# {glue:text}`edge_vgg16_untrained_guided:.3f` for the untrained VGG-16 (the trained map is the
# most edge-correlated on {glue:text}`wins_ed` of {glue:text}`n_photos` photos). What looks like
# "edges" in the trained map is a *sparse* drawing: a few contours of the object (the cat's eyes
# and nose) rather than all of the photo's edges, while the untrained VGG-16's map, the photo
# reweighted by local contrast, follows every edge. Caveat: the paper's trained network was
# VGG-16; with {glue:text}`trained_model` standing in, this half is tested on a different
# architecture.
#
# ## Where the explanation starts
#
# Section 3 of the paper explains the untrained picture with the simplest convnet, Eq. (1):
#
# $$f_k(x) = \sum_{i=1}^{N}\sum_{j=1}^{J} V_{q_{ij},k}\,\sigma\big(w^{(i)T} y^{(j)}\big),
# \qquad y^{(j)} = D_j x,$$
#
# with Gaussian weights; for large $N$ its GBP map tends to $\sum_j D_j^T y^{(j)}/\|y^{(j)}\|_2$
# (Eq. (5)), the photo reweighted by local contrast, while its plain gradient averages to zero.
# The next chapter derives this; here is the check on `chelsea` for logit 482.

# %% tags=["remove-output"]
x = H.preprocess(images[first], "centered")  # the author's preprocessing
net = H.ThreeLayerConvNet(n_filters, kernel_size, 1000, seed=seed).to(device)
conv_maps = {
    r: H.backprop_map(net, x, target=482, rule=r) for r in ("guided", "plain")
}
limit = H.gbp_limit(x, kernel_size)
corr_with_limit = {r: H.pearson(m, limit) for r, m in conv_maps.items()}
H.glue("n_filters", n_filters)
H.glue("corr_gbp_limit", corr_with_limit["guided"])
H.glue("corr_plain_limit", corr_with_limit["plain"])
fig = H.plot_grid(
    [[images[first], limit, conv_maps["guided"], conv_maps["plain"]]],
    col_labels=[
        "input",
        "limit, Eq. (5)",
        f"GBP, N={n_filters}",
        f"plain, N={n_filters}",
    ],
    cell=2.4,
)
H.glue_figure("fig_convnet", fig)

# %% [markdown]
# ```{glue:figure} fig_convnet
# :name: fig-convnet
#
# A random three-layer convnet (Eq. (1), $N$ = {glue:text}`n_filters` filters of
# {glue:text}`kernel_size` x {glue:text}`kernel_size` x 3): the limit of Eq. (5), the GBP map
# and the plain gradient of logit 482.
# ```
#
# With $N$ = {glue:text}`n_filters` random filters the GBP map correlates with the limit at
# $\rho$ = {glue:text}`corr_gbp_limit:.3f` and the plain gradient at
# {glue:text}`corr_plain_limit:.3f`.
#
# ## Summary
#
# * (a) GBP is interpretable, trained or not: the untrained VGG-16's GBP map correlates with the
#   photo at $\rho$ = {glue:text}`in_vgg_guided:.2f`, its plain gradient at
#   {glue:text}`in_vgg_plain:.3f`.
# * (b) Trained maps care about edges, untrained ones recover the whole image: the whole-image
#   half {glue:text}`verdict_whole`, the edge half {glue:text}`verdict_edges`.
# * (c) GBP is class-invariant: {glue:text}`verdict_guided` ($\bar\rho \ge$
#   {glue:text}`inv_min_guided:.3f`).
# * (c) The plain saliency map is class-invariant: {glue:text}`verdict_plain`
#   ($\bar\rho \le$ {glue:text}`inv_max_plain:.3f`).
# * (c) DeconvNet is class-invariant: {glue:text}`verdict_deconv`.

# %%
H.glue("size", size)
H.glue("kernel_size", kernel_size)
metrics_path = H.save_metrics(
    out_dir,
    "01_observations",
    {
        "trained_model": trained.name,
        "photos": photos,
        "size": size,
        "n_logits": n_logits,
        "targets": {f"{p}/{n}": t for (p, n), t in targets.items()},
        "top5": {
            p: [[k, name, prob] for k, name, prob in t] for p, t in top5.items()
        },
        "class_invariance": class_invariance,
        "class_invariance_by_photo": {
            p: {k: {r: invariance(k, r, photo=p) for r in H.RULES} for k in models}
            for p in photos
        },
        "class_invariance_ssim": {
            k: {r: invariance(k, r, "ssim", first) for r in H.RULES} for k in models
        },
        "class_invariance_spearman": {
            k: {r: invariance(k, r, "spearman", first) for r in H.RULES}
            for k in models
        },
        "invariance_verdict": {
            k: {r: verdict(class_invariance[k][r]) for r in H.RULES} for k in models
        },
        "corr_with_input": corr_with_input,
        "corr_with_edges": corr_with_edges,
        "corr_with_input_by_photo": by_photo["input"],
        "corr_with_edges_by_photo": by_photo["edges"],
        "whole_image_holds": whole_holds,
        "edges_holds": edges_holds,
        "corr_with_limit": corr_with_limit,
        "plain_blocks_trained": plain_blocks,
        "n_filters": n_filters,
    },
)
