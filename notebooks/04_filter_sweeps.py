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
# # Filter sweeps: Figures 3 and 4, and the laws behind them
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/backpropvis/backpropvis-book/blob/main/notebooks/04_filter_sweeps.ipynb)
#
# Section 4 of {cite:t}`nie2017towards` grows the networks of Figure 2: the number of filters $N$
# of the convnet (Figure 3, $224\times224$ inputs) and the hidden layer $N_h$ of the fully
# connected (FC) network (Figure 4, inputs downsampled to $64\times64$). Both maps get cleaner,
# and the paper concludes that "even by setting $N_h = 100000$ [...] the fully-connected network
# cannot achieve a comparable performance to the convnet with $N = 16$". This page redraws both
# figures at the paper's sizes, then measures what they only suggest: how fast each map
# approaches its limit, whether the kernel size matters, and whether that sentence holds.

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
]  # the first one is drawn in the figures
conv_size = 224  # image side for the convnet sweeps (Figure 3)
conv_sizes = [2**i for i in range(11)]  # N for Figure 3: 1, 2, 4, ..., 1024
kernel_sizes = [3, 5, 7, 11]  # k of the repeated convnet sweeps
kernel_size = 7  # k of Figure 3 and of the comparisons
fc_size = 64  # image side for the FC sweep (Figure 4)
fc_sizes = [
    100,
    200,
    500,
    1000,
    2000,
    5000,
    10000,
    20000,
    50000,
    100000,
]  # N_h for Figure 4
n_seeds = 3  # weight seeds 0 .. n_seeds - 1 for every sweep
conv_fit_min = 32  # smallest N in the slope fits
fc_fit_min = 1000  # smallest N_h in the slope fits
claim_n = 16  # the paper's comparison: a convnet with this many filters ...
claim_hidden = (
    100000  # ... against an FC network with this many hidden units (in fc_sizes)
)
big_sizes = [
    4096,
    10000,
    30000,
    100000,
]  # N_h of the FC net on the conv_size image (one seed)
padding_n = 256  # N of the VALID versus SAME comparison
target = 0  # the logit k
out_dir = "metrics"  # where the chapter's metrics JSON goes

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown
from tqdm import tqdm

import helpers as H

start, cpu_start = time.perf_counter(), time.process_time()
device = H.default_device()


def load(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The photos at ``size``: (B, 3, H, W) in [0, 1] for display, and preprocessed."""
    raw = torch.stack([H.load_image(p, size) for p in photos])
    return raw, H.preprocess(raw, "centered").to(device)  # RGB minus the VGG mean


raw_conv, xs_conv = load(conv_size)
raw_fc, xs_fc = load(fc_size)
x = xs_conv[0]  # the photo of Figure 3
SEEDS = range(n_seeds)
metrics = {"n_seeds": n_seeds, "photos": photos, "kernel_size": kernel_size}
H.glue("n_seeds", n_seeds)
H.glue("photo", photos[0])

# %% [markdown]
# ## Figure 3: the convnet with $N = 1, 2, 4, \dots$ filters
#
# The net with $N$ filters is, by construction of `H.ThreeLayerConvNet`, the first $N$ filters
# (and rows of $V$) of the same seed's net with more filters, exactly as growing one network.
# `H.conv_map_sweep` therefore evaluates Eq. (2) once for the largest $N$ and reads the running
# sum over filters at each size: the whole sweep costs one backward pass of its largest member.
# The same sweep is repeated for kernel sizes $k$ = {glue:text}`kernels`, and, for the kernel of
# Figure 3, with the plain rule as a control.


# %% tags=["remove-stderr"]
def conv_sweep(
    xi: torch.Tensor, k: int, seed: int, rules=("guided",), padding="valid"
):
    """(R, S, 3, H, W) maps for N in conv_sizes."""
    return H.conv_map_sweep(
        xi, conv_sizes, k, target, list(rules), seed=seed, padding=padding
    )


conv_err, conv_rho = (
    {},
    {},
)  # k -> (seeds, sizes): relative error, Pearson to the limit
plain_rho = np.zeros((n_seeds, len(conv_sizes)))
valid_runs = []  # the GBP sweeps of Figure 3's kernel, reused for VALID versus SAME
for k in tqdm(kernel_sizes, desc="kernels"):
    lim = H.gbp_limit(x, k)
    conv_err[k], conv_rho[k] = np.zeros((2, n_seeds, len(conv_sizes)))
    for seed in SEEDS:
        rules = ("guided", "plain") if k == kernel_size else ("guided",)
        maps = conv_sweep(x, k, seed, rules)
        conv_err[k][seed] = [H.relative_error(m, lim) for m in maps[0]]
        conv_rho[k][seed] = [H.pearson(m, lim) for m in maps[0]]
        if k == kernel_size:
            plain_rho[seed] = [H.pearson(m, lim) for m in maps[1]]
            valid_runs.append(maps[0])
            if seed == 0:
                fig3 = maps[0].cpu()  # drawn in Figure 3
H.glue("kernels", ", ".join(map(str, kernel_sizes)))

# %% tags=["remove-output"]
fig = H.plot_sweep(raw_conv[0], list(fig3), [f"N = {n}" for n in conv_sizes])
H.glue_figure("fig_figure3", fig)
H.glue("conv_size", conv_size)
H.glue("kernel_size", kernel_size)

# %% [markdown]
# ```{glue:figure} fig_figure3
# :name: fig-figure3
#
# The paper's Figure 3: GBP of the three-layer convnet ({glue:text}`kernel_size` x
# {glue:text}`kernel_size` x 3 filters, VALID padding, weight seed 0) on
# {glue:text}`conv_size` x {glue:text}`conv_size` {glue:text}`photo`, for growing $N$.
# ```
#
# The picture sharpens from an edge sketch at $N = 1$ to the photo at a few hundred filters, as
# in the paper.
#
# ## Figure 4: the FC network with growing $N_h$
#
# The FC network's first layer at $N_h$ = {glue:text}`fc_max` on {glue:text}`fc_size` x
# {glue:text}`fc_size` x 3 has {glue:text}`fc_weights_g:.2f` billion weights.
# `H.fc_map_sweep` draws them block by block from the seed (the same weights as
# `H.FullyConnectedNet`) and keeps running sums over hidden units, so one pass gives every $N_h$
# of the sweep, for all {glue:text}`n_photos` photos and both rules at once.

# %% tags=["remove-stderr"]
fc_err, fc_rho, fc_plain = np.zeros((3, n_seeds, len(photos), len(fc_sizes)))
fc_maps = {}  # seed -> (S, B, 3, H, W) GBP maps, kept for the N = claim_n comparison
for seed in tqdm(SEEDS, desc="FC seeds"):
    net = H.FullyConnectedNet(xs_fc.shape[1:], max(fc_sizes), seed=seed)
    maps = H.fc_map_sweep(net, xs_fc, fc_sizes, [target], ["guided", "plain"])[
        :, :, :, 0
    ]
    for b in range(len(photos)):
        lim = H.gbp_limit_fc(xs_fc[b])
        fc_err[seed, b] = [H.relative_error(m, lim) for m in maps[:, 0, b]]
        fc_rho[seed, b] = [H.pearson(m, lim) for m in maps[:, 0, b]]
        fc_plain[seed, b] = [H.pearson(m, lim) for m in maps[:, 1, b]]
    fc_maps[seed] = maps[:, 0].cpu()
H.glue("n_photos", len(photos))
H.glue("fc_max", max(fc_sizes))
H.glue("fc_weights_g", max(fc_sizes) * xs_fc[0].numel() / 1e9)

# %% tags=["remove-output"]
fig = H.plot_sweep(
    raw_fc[0], list(fc_maps[0][:, 0]), [f"$N_h$ = {n}" for n in fc_sizes]
)
H.glue_figure("fig_figure4", fig)
H.glue("fc_size", fc_size)

# %% [markdown]
# ```{glue:figure} fig_figure4
# :name: fig-figure4
#
# The paper's Figure 4: GBP of the three-layer FC network (Eq. 7, weight seed 0) on
# {glue:text}`fc_size` x {glue:text}`fc_size` {glue:text}`photo`, for growing $N_h$.
# ```
#
# The photo emerges from the noise only at the largest $N_h$, as in the paper.
#
# ## The laws behind the pictures
#
# Chapter 3 derived how far a GBP map is from its limit: summing $NJ$ random terms of mean
# $\frac{c^2}{2\pi}D_j^Ty^{(j)}/\|y^{(j)}\|$ and mean square $\frac{c^4}{4}p_j$ gives a relative
# error
#
# $$\varepsilon_{\text{conv}}(N) \approx \pi\sqrt{\frac{\sum_j p_j}{N\,\|L\|_2^2}}
# \approx \pi\sqrt{\frac{3}{N}},\qquad
# \varepsilon_{\text{FC}}(N_h) \approx \pi\sqrt{\frac{d}{N_h}}.$$
#
# Both fall as $N^{-1/2}$, the rate of the paper's argument (its $\sqrt{p/N}$ per patch, from
# {cite:t}`lugosi2017subgaussian`). The constants differ: the FC network pays the full input
# dimension $d$, while for the convnet the patch size $p = 3k^2$ cancels against the $k^2$
# overlapping patches that cover each pixel, so the kernel size should hardly matter. The
# distance is the relative error after the best scalar fit, $\sqrt{1/\cos^2-1}$
# (`H.relative_error`), which keeps falling at that rate far from the limit; $1-\rho$, by
# contrast, sits near 1 until the map is close (right panel). Slopes are fitted on
# $N \ge$ {glue:text}`conv_fit_min` and $N_h \ge$ {glue:text}`fc_fit_min`.

# %% tags=["remove-output"]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
conv_slopes = {}
for k in kernel_sizes:
    pred = H.predicted_relative_error(x, conv_sizes, k)
    conv_slopes[k] = H.plot_convergence(
        axes[0], conv_sizes, conv_err[k], f"$k$ = {k}", pred, conv_fit_min
    )
axes[0].set(xlabel="filters $N$", ylabel="relative error to the limit")
axes[0].set_title(f"convnet, {conv_size}x{conv_size} (dashed: law)", fontsize=10)
fc_pred = H.predicted_relative_error(xs_fc[0], fc_sizes)
fc_slope = H.plot_convergence(
    axes[1], fc_sizes, fc_err, "FC", fc_pred, fc_fit_min, "C3"
)
axes[1].set(xlabel="hidden units $N_h$", ylabel="relative error to the limit")
axes[1].set_title(f"FC, {fc_size}x{fc_size} (dashed: law)", fontsize=10)
H.plot_convergence(
    axes[2], conv_sizes, 1 - conv_rho[kernel_size], f"convnet $k$={kernel_size}"
)
H.plot_convergence(axes[2], fc_sizes, 1 - fc_rho, "FC", color="C3")
axes[2].set(xlabel="$N$ or $N_h$", ylabel=r"$1 - \rho$ (Pearson to the limit)")
axes[2].set_title(r"$1-\rho$ saturates and hides the rate", fontsize=10)
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()
H.glue_figure("fig_laws", fig)
H.glue("conv_fit_min", conv_fit_min)
H.glue("fc_fit_min", fc_fit_min)


# %%
slopes = {
    k: H.loglog_slopes(conv_sizes, conv_err[k], conv_fit_min) for k in kernel_sizes
}
fc_slopes = H.loglog_slopes(
    fc_sizes, fc_err, fc_fit_min
)  # one slope per photo and seed
rows = [[f"convnet, k = {k}", v.mean(), v.std(), -0.5] for k, v in slopes.items()]
rows.append([f"FC, {fc_size}x{fc_size}", fc_slopes.mean(), fc_slopes.std(), -0.5])
H.glue(
    "slope_table",
    Markdown(H.markdown_table(["sweep", "slope", "std", "law"], rows)),
)
i_mid = (
    conv_sizes.index(padding_n) if padding_n in conv_sizes else len(conv_sizes) // 2
)
k_lo, k_hi = min(kernel_sizes), max(kernel_sizes)
ratio = conv_err[k_hi][:, i_mid].mean() / conv_err[k_lo][:, i_mid].mean()
H.glue("n_mid", conv_sizes[i_mid])
H.glue("k_lo", k_lo)
H.glue("k_hi", k_hi)
H.glue("k_ratio", float(ratio))
H.glue("k_ratio_sqrtp", float(np.sqrt(k_hi**2 / k_lo**2)))
H.glue("conv_slope", float(slopes[kernel_size].mean()))
H.glue("fc_slope", float(fc_slopes.mean()))

# %%
# measured error over the law's prediction, at the sizes where the law is fitted
all_conv = np.concatenate(
    [
        conv_err[k] / H.predicted_relative_error(x, conv_sizes, k)
        for k in kernel_sizes
    ]
)[:, np.asarray(conv_sizes) >= conv_fit_min]
H.glue("conv_law_lo", float(all_conv.mean(0).min()))
H.glue("conv_law_hi", float(all_conv.mean(0).max()))
fc_ratio = (fc_err / fc_pred)[..., np.asarray(fc_sizes) >= fc_fit_min].mean((0, 1))
H.glue("fc_law_lo", float(fc_ratio.min()))
H.glue("fc_law_hi", float(fc_ratio.max()))
H.glue("plain_max", float(max(np.abs(plain_rho).max(), np.abs(fc_plain).max())))

# %% [markdown]
# ```{glue:figure} fig_laws
# :name: fig-laws
#
# Left and middle: relative error of the GBP map to its limit (mean $\pm$ std over
# {glue:text}`n_seeds` seeds; the FC curve also over {glue:text}`n_photos` photos), with the
# slope fitted to the mean and the law (dashed). Right: $1-\rho$ for the same maps.
# ```
#
# Fitted slopes, mean and standard deviation over runs:
#
# ```{glue:md} slope_table
# :format: myst
# ```
#
# Both maps converge at the predicted rate $N^{-1/2}$: the fitted slope is
# {glue:text}`conv_slope:.3f` for the convnet with $k$ = {glue:text}`kernel_size` and
# {glue:text}`fc_slope:.3f` for the FC network. The constants match too: measured over
# predicted error lies in [{glue:text}`conv_law_lo:.2f`, {glue:text}`conv_law_hi:.2f`] for the
# convnets and in [{glue:text}`fc_law_lo:.2f`, {glue:text}`fc_law_hi:.2f`] for the FC network.
# **The kernel size does not matter** the way the paper's $\sqrt{p/N}$ suggests: at
# $N$ = {glue:text}`n_mid`, the error with $k$ = {glue:text}`k_hi` is
# {glue:text}`k_ratio:.2f` times the error with $k$ = {glue:text}`k_lo`, where $\sqrt{p/N}$
# would predict {glue:text}`k_ratio_sqrtp:.2f`. The paper's per-patch bound is right for one
# patch, but the map sums $k^2$ overlapping patches per pixel, whose independent errors average
# out. The plain maps stay uncorrelated with the limit at every size
# ($|\rho| \le$ {glue:text}`plain_max:.3f`).
#
# ## Beyond the paper: the FC network on the full image
#
# The paper downsampled the FC network's input to $64\times64$. On the full
# {glue:text}`conv_size` x {glue:text}`conv_size` x 3 image a dense first layer with
# $N_h$ = {glue:text}`big_max` would hold {glue:text}`big_weights_g:.1f` billion weights
# ({glue:text}`big_gb:.0f` GB in float32). Streamed, one pass reads the map at every $N_h$ of
# {glue:text}`big_sizes_text` (weight seed 0, the first photo).

# %% tags=["remove-stderr"]
t0 = time.perf_counter()
x_big = x  # the first photo at conv_size, as in Figure 3
big_net = H.FullyConnectedNet(x_big.shape, max(big_sizes), seed=0)
big_maps = H.fc_map_sweep(big_net, x_big, big_sizes, [target], progress=True)[
    :, 0, 0, 0
]
big_seconds = time.perf_counter() - t0
big_err = [H.relative_error(m, x_big) for m in big_maps]
big_pred = H.predicted_relative_error(x_big, big_sizes)
H.glue("big_sizes_text", ", ".join(map(str, big_sizes)))
H.glue("big_seconds", big_seconds)
H.glue("big_err_max", big_err[-1])
H.glue("big_pred_max", float(big_pred[-1]))
H.glue("big_max", max(big_sizes))
H.glue("big_weights_g", max(big_sizes) * x_big.numel() / 1e9)
H.glue("big_gb", max(big_sizes) * x_big.numel() * 4 / 1e9)

# %% tags=["remove-output"]
i16 = conv_sizes.index(claim_n) if claim_n in conv_sizes else 0
fig = H.plot_grid(
    [[raw_conv[0]] + list(big_maps.cpu()) + [fig3[i16]]],
    col_labels=["input"]
    + [f"FC, $N_h$ = {n}" for n in big_sizes]
    + [f"convnet, N = {claim_n}"],
    cell=2.2,
)
H.glue_figure("fig_big_fc", fig)

# %% [markdown]
# ```{glue:figure} fig_big_fc
# :name: fig-big-fc
#
# GBP of the FC network on the full {glue:text}`conv_size` x {glue:text}`conv_size` x 3 image,
# streamed ({glue:text}`big_weights_g:.1f` billion first-layer weights at the largest $N_h$,
# never stored), next to the convnet with $N$ = {glue:text}`claim_n` filters on the same image.
# ```
#
# With $N_h$ = {glue:text}`big_max` the relative error is {glue:text}`big_err_max:.2f`
# (the law: {glue:text}`big_pred_max:.2f`); the pass took {glue:text}`big_seconds:.0f` s.
#
# ## "Even $N_h = 100000$ cannot achieve a comparable performance to the convnet with $N = 16$"
#
# The paper compares pictures at two resolutions: the convnet at $224\times224$ (Figure 3) and
# the FC network at $64\times64$ (Figure 4). Below, both networks see the same
# {glue:text}`fc_size` x {glue:text}`fc_size` photos ({glue:text}`n_photos` photos x
# {glue:text}`n_seeds` seeds), with three metrics and two references: each network's own limit
# and the input itself. "Better" needs a margin of one standard deviation.

# %%
lims_conv = torch.stack([H.gbp_limit(xb, kernel_size) for xb in xs_fc])
lims_fc = torch.stack([H.gbp_limit_fc(xb) for xb in xs_fc])
j_claim = fc_sizes.index(claim_hidden)
CLAIM = {
    "relative error": (H.relative_error, -1),  # lower is better
    "Pearson": (H.pearson, 1),
    "SSIM": (H.ssim, 1),
}
claim = {
    (m, r, net): []
    for m in CLAIM
    for r in ("limit", "input")
    for net in ("conv", "fc")
}
for seed in SEEDS:
    for b, xb in enumerate(xs_fc):
        conv16 = H.conv_map_sweep(xb, [claim_n], kernel_size, target, seed=seed)[0]
        fc_m = fc_maps[seed][j_claim, b]
        for m, (fn, _) in CLAIM.items():
            claim[m, "limit", "conv"].append(fn(conv16, lims_conv[b]))
            claim[m, "limit", "fc"].append(fn(fc_m, lims_fc[b]))
            claim[m, "input", "conv"].append(fn(conv16, xb))
            claim[m, "input", "fc"].append(fn(fc_m, xb))

# %%
WINNER = {"first": "convnet", "second": "FC", "comparable": "comparable"}
rows, table = [], {}
for m, (_, sign) in CLAIM.items():
    for r in ("limit", "input"):
        c, f = claim[m, r, "conv"], claim[m, r, "fc"]
        v = WINNER[
            H.better_by_one_sd(c, f, sign)
        ]  # a margin of one standard deviation
        rows.append(
            [
                f"{m} to {r}",
                *(f"{np.mean(a):.3f} ± {np.std(a):.3f}" for a in (c, f)),
                v,
            ]
        )
        table[f"{m} to {r}"] = {
            "conv": float(np.mean(c)),
            "fc": float(np.mean(f)),
            "better": v,
        }
header = [
    "metric",
    f"convnet, N = {claim_n}",
    f"FC, N_h = {claim_hidden}",
    "better",
]
H.glue("claim_table", Markdown(H.markdown_table(header, rows)))

# %%
eps_c, eps_f = (
    np.mean(claim["relative error", "limit", net]) for net in ("conv", "fc")
)
winners = [t["better"] for t in table.values()]
claim_holds = table["relative error to limit"]["better"] == "convnet"
rho_lim = [H.pearson(lim, xb) for lim, xb in zip(lims_conv, xs_fc, strict=True)]
for key, value in {
    "claim_n": claim_n,
    "claim_hidden": claim_hidden,
    "eps_conv16": float(eps_c),
    "eps_fc_claim": float(eps_f),
    "n_equivalent": float(claim_n * (eps_c / eps_f) ** 2),  # error ~ N^(-1/2)
    "n_fc_wins": winners.count("FC"),
    "n_conv_wins": winners.count("convnet"),
    "n_rows": len(table),
    "claim_word": "holds" if claim_holds else "does not hold",
    "fc_rel_word": "below" if eps_f < eps_c else "above",
    "limit_vs_input": float(np.mean(rho_lim)),
    "conv16_rho_input": table["Pearson to input"]["conv"],
    "conv16_rho_limit": table["Pearson to limit"]["conv"],
}.items():
    H.glue(key, value)

# %% [markdown]
# ```{glue:md} claim_table
# :format: myst
# ```
#
# At the same resolution the sentence **{glue:text}`claim_word`**: FC with $N_h$ =
# {glue:text}`claim_hidden` is better in {glue:text}`n_fc_wins` of the {glue:text}`n_rows`
# comparisons and worse in {glue:text}`n_conv_wins`; the rest are within the spread. Its
# relative error to its limit, {glue:text}`eps_fc_claim:.2f`, is {glue:text}`fc_rel_word` the
# convnet's {glue:text}`eps_conv16:.2f`; with error $\propto N^{-1/2}$ it matches a convnet with
# $N \approx$ {glue:text}`n_equivalent:.0f` filters. The reference changes the convnet's
# numbers only: the FC network's limit is the input itself, while the convnet's is the photo
# reweighted by local contrast (Pearson {glue:text}`limit_vs_input:.3f` with the photo), so
# against the input the convnet scores {glue:text}`conv16_rho_input:.3f` instead of
# {glue:text}`conv16_rho_limit:.3f`.
#
# On the full image, where the FC network pays for the full input dimension $d$, the comparison
# {glue:text}`turn_word`:

# %%
c16 = conv_err[kernel_size][:, i16]
big_claim = (
    big_err[big_sizes.index(claim_hidden)]
    if claim_hidden in big_sizes
    else big_err[-1]
)
H.glue("conv16_224", float(c16.mean()))
H.glue("conv16_224_std", float(c16.std()))
H.glue("fc_224_claim", float(big_claim))
H.glue(
    "fc_224_needed_m", float(max(big_sizes) * (big_claim / c16.mean()) ** 2 / 1e6)
)
H.glue("fc_64_needed", float(claim_hidden * (eps_f / eps_c) ** 2))
H.glue(
    "turn_word",
    "turns around" if c16.mean() < big_claim else "does not turn around",
)
H.glue("enough_word", "is not enough" if claim_holds else "is enough")

# %% [markdown]
# on {glue:text}`conv_size` x {glue:text}`conv_size` {glue:text}`photo` the convnet with
# $N$ = {glue:text}`claim_n` has relative error {glue:text}`conv16_224:.2f`
# ($\pm$ {glue:text}`conv16_224_std:.2f` over seeds), the FC network with
# $N_h$ = {glue:text}`big_max` {glue:text}`fc_224_claim:.2f`; matching the convnet would take
# about {glue:text}`fc_224_needed_m:.1f` million hidden units there, against
# {glue:text}`fc_64_needed:.0f` at {glue:text}`fc_size` x {glue:text}`fc_size`. So the paper's
# conclusion that the FC network needs far more units is right, and grows with the image
# ($N_h \propto d$ at fixed error), but its sharpest sentence compares a 224-pixel convnet with a
# 64-pixel FC network; at equal resolution, $N_h$ = {glue:text}`claim_hidden`
# {glue:text}`enough_word`.
#
# ## VALID versus SAME padding
#
# The paper's analysis uses VALID padding and remarks that SAME padding "could alleviate the
# boundary inconsistency". In the limit (Eq. 5) each pixel is weighted by
# $\sum_{j \ni \text{pixel}} 1/\|y^{(j)}\|_2$. With VALID padding border pixels lie in fewer
# patches; with SAME padding they lie in $k^2$ patches as everywhere, but those patches are
# partly zeros, so their norms are small. The weight field and the GBP maps
# ($N$ = {glue:text}`padding_n`, seed 0) for both:


# %% tags=["remove-stderr"]
border = H.border_mask(
    x.shape[-2:], kernel_size - 1
)  # pixels in fewer than k^2 patches
i_pad = conv_sizes.index(padding_n)
pad_res = {}
for padding in ("valid", "same"):
    lim = H.gbp_limit(x, kernel_size, padding)
    if padding == "valid":
        runs = valid_runs
    else:
        runs = [
            conv_sweep(x, kernel_size, s, padding=padding)[0]
            for s in tqdm(SEEDS, padding)
        ]
    err = np.array([[H.relative_error(m, lim) for m in maps] for maps in runs])
    w = H.limit_weight(x, kernel_size, padding).cpu()
    pad_res[padding] = {
        "weight_border_over_inside": float(w[border].mean() / w[~border].mean()),
        "limit_border_gain": H.border_gain(lim, x, border),
        "gbp_border_gain": float(
            np.mean([H.border_gain(r[i_pad], x, border) for r in runs])
        ),
        "gbp_pearson_input": float(np.mean([H.pearson(r[i_pad], x) for r in runs])),
        "limit_pearson_input": H.pearson(lim, x),
        "rel_error": float(err[:, i_pad].mean()),
        "rel_error_predicted": float(
            H.predicted_relative_error(x, padding_n, kernel_size, padding)
        ),
        "map": runs[0][i_pad].cpu(),
        "weight": w,
    }

# %%
for padding, res in pad_res.items():
    for key, value in res.items():
        if isinstance(value, float):
            H.glue(f"{padding}_{key}", value)
H.glue("padding_n", padding_n)
dev = {p: 100 * abs(r["weight_border_over_inside"] - 1) for p, r in pad_res.items()}
H.glue("valid_pct", dev["valid"])
H.glue("same_pct", dev["same"])
H.glue("alleviate_word", "holds" if dev["same"] < dev["valid"] else "does not hold")

# %% tags=["remove-output"]
fig, axes = plt.subplots(
    1, 4, figsize=(15, 3.6), gridspec_kw={"width_ratios": [1, 1, 1, 1.6]}
)
shown = [raw_conv[0], pad_res["valid"]["map"], pad_res["same"]["map"]]
titles = ["input", f"GBP, VALID, N = {padding_n}", f"GBP, SAME, N = {padding_n}"]
for ax, img, title in zip(axes, shown, titles, strict=False):
    ax.imshow(H.normalize_map(img).transpose(1, 2, 0))
    ax.set(title=title, xticks=[], yticks=[])
for padding in ("valid", "same"):
    w = pad_res[padding]["weight"]
    axes[3].plot((w / w[~border].mean()).mean(0), label=padding.upper())
axes[3].axhline(1, color="gray", lw=0.5)
axes[3].set(
    xlabel="column",
    ylabel="weight / inside mean",
    title="limit's weight, column means",
)
axes[3].legend()
fig.tight_layout()
H.glue_figure("fig_padding", fig)

# %% [markdown]
# ```{glue:figure} fig_padding
# :name: fig-padding
#
# VALID versus SAME padding on {glue:text}`photo`: GBP maps, and the per-pixel weight
# $\sum_{j\ni\text{pixel}}1/\|y^{(j)}\|$ of the limit divided by its mean inside the border
# frame of width $k-1$, averaged over each column.
# ```
#
# On the border frame the limit's weight is {glue:text}`valid_weight_border_over_inside:.2f`
# times its inside mean with VALID padding and {glue:text}`same_weight_border_over_inside:.2f`
# with SAME padding: VALID darkens the border by {glue:text}`valid_pct:.0f`%, SAME brightens it
# by {glue:text}`same_pct:.0f`%. The GBP maps follow (border gain
# {glue:text}`valid_gbp_border_gain:.2f` and {glue:text}`same_gbp_border_gain:.2f`, against
# {glue:text}`valid_limit_border_gain:.2f` and {glue:text}`same_limit_border_gain:.2f` for the
# limits). The correlation with the input hardly
# moves ({glue:text}`valid_gbp_pearson_input:.3f` VALID, {glue:text}`same_gbp_pearson_input:.3f`
# SAME), and the error law holds for both (measured {glue:text}`valid_rel_error:.3f` and
# {glue:text}`same_rel_error:.3f`, predicted {glue:text}`valid_rel_error_predicted:.3f` and
# {glue:text}`same_rel_error_predicted:.3f`). The paper's remark that SAME padding alleviates
# the boundary inconsistency "to some extent" {glue:text}`alleviate_word`: the border is off by
# {glue:text}`same_pct:.0f`% instead of {glue:text}`valid_pct:.0f`%, in the other direction.

# %%
metrics.update(
    conv_sweep={
        n: float(v)
        for n, v in zip(conv_sizes, conv_rho[kernel_size].mean(0), strict=True)
    },
    conv_rel_error={
        k: {
            n: float(v)
            for n, v in zip(conv_sizes, conv_err[k].mean(0), strict=True)
        }
        for k in kernel_sizes
    },
    fc_sweep={
        n: float(v) for n, v in zip(fc_sizes, fc_rho.mean((0, 1)), strict=True)
    },
    fc_rel_error={
        n: float(v) for n, v in zip(fc_sizes, fc_err.mean((0, 1)), strict=True)
    },
    conv_error_slope=float(slopes[kernel_size].mean()),
    conv_error_slope_std=float(slopes[kernel_size].std()),
    conv_error_slope_by_kernel={k: float(v.mean()) for k, v in slopes.items()},
    fc_error_slope=float(fc_slopes.mean()),
    fc_error_slope_std=float(fc_slopes.std()),
    predicted_slope=-0.5,
    conv_law_ratio=[float(all_conv.mean(0).min()), float(all_conv.mean(0).max())],
    fc_law_ratio=[float(fc_ratio.min()), float(fc_ratio.max())],
    kernel_error_ratio={"measured": float(ratio), "sqrt_p": float(k_hi / k_lo)},
    plain_max_abs_corr={
        "conv": float(np.abs(plain_rho).max()),
        "fc": float(np.abs(fc_plain).max()),
    },
    fc_100000_vs_conv_16={
        "metric": "relative_error_to_limit",
        "size": fc_size,
        "conv": float(eps_c),
        "fc": float(eps_f),
        "conv_n": claim_n,
        "fc_hidden": claim_hidden,
        "holds": bool(eps_c < eps_f),
        "n_equivalent": float(claim_n * (eps_c / eps_f) ** 2),
        "by_metric": table,
        "at_full_size": {
            "size": conv_size,
            "conv": float(c16.mean()),
            "fc": float(big_claim),
        },
    },
    fc_full_size={
        "size": conv_size,
        "rel_error": dict(zip(big_sizes, big_err, strict=True)),
        "predicted": dict(zip(big_sizes, map(float, big_pred), strict=True)),
        "seconds": big_seconds,
    },
    padding={
        p: {k: v for k, v in r.items() if isinstance(v, float)}
        for p, r in pad_res.items()
    },
    sizes={"conv": conv_size, "fc": fc_size, "kernels": kernel_sizes},
)
metrics["seconds"] = time.perf_counter() - start
metrics["cpu_seconds"] = time.process_time() - cpu_start
H.save_metrics(out_dir, "04_filter_sweeps", metrics)
H.glue("seconds", metrics["seconds"])
H.glue("cpu_seconds", metrics["cpu_seconds"])

# %% [markdown]
# This page ran in {glue:text}`seconds:.0f` s of wall-clock time and
# {glue:text}`cpu_seconds:.0f` s of CPU time ({glue:text}`n_seeds` seeds per sweep).
