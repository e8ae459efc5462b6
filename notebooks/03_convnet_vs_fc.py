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
# # Convnet versus fully connected: Figure 2
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/backpropvis/backpropvis-book/blob/main/notebooks/03_convnet_vs_fc.ipynb)
#
# Section 3 of {cite:t}`nie2017towards` ends with its central claim: it is the *local
# connections* of a convnet that make guided backpropagation (GBP) show the input. Replace the
# convolution of Eq. (1) by a fully connected layer,
#
# $$f_k(x) = \sum_{i=1}^{N_h} V_{i,k}\,\sigma\big(w^{(i)T}x\big),\qquad \text{Eq. (7)}$$
#
# and the same argument still gives a limit, $x/\|x\|_2$, but each filter $w^{(i)}$ now has the
# dimension $d$ of the whole image ($224\times224\times3 = 150528$) instead of a patch
# ($p = 7\times7\times3 = 147$), so far more hidden units are needed to reach it. Figure 2 of the
# paper shows this with a convnet of kernel $[7, 7, 3, 256]$ and a fully connected (FC) network
# with $N_h = 4096$ hidden units, both with Gaussian weights, on $224\times224$ photos. This page
# redraws it and measures it.

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
photos = ["chelsea", "astronaut", "coffee", "rocket"]  # bundled photos or paths
size = 224  # image side in pixels
kernel_size = 7  # k: convnet filters are k x k x 3 (patch size p is 3 k^2)
n_filters = 256  # N, the number of convolutional filters
hidden = 4096  # N_h, the hidden units of the fully connected network
n_seeds = 3  # independent networks (weight seeds 0, 1, ...) for the table
target = 0  # the logit k
out_dir = "metrics"  # where the chapter's metrics JSON goes

# %%
import itertools
import time

import numpy as np
import torch
from tqdm import tqdm

import helpers as H

photos = H.as_list(photos, "photos", str)
rec = H.Record(
    "03_convnet_vs_fc", out_dir
)  # glues each number, saves it as a metric
start, cpu_start = time.perf_counter(), time.process_time()

# %% tags=["remove-cell"]
rec.update(photos=photos)
rec("size", size)
rec("kernel_size", kernel_size)
rec("n_filters", n_filters)
rec("hidden", hidden)
rec("n_seeds", n_seeds)
rec("target", target)
rec("n_photos", len(photos))

# %%
device = H.default_device()
images = H.load_images(photos, size)  # (B, 3, H, W) in [0, 1]
# RGB minus the VGG mean, as in the paper
xs = H.preprocess(images, "centered").to(device)
NETS, RULES = ("conv", "fc"), ("guided", "plain")

# %%
limits = {
    "conv": torch.stack([H.gbp_limit(x, kernel_size) for x in xs]),  # Eq. (5)
    "fc": torch.stack([H.gbp_limit_fc(x) for x in xs]),  # x / ||x||
}
weights_g = rec("fc_weights_g", hidden * xs[0].numel() / 1e9)  # the FC layer's size

# %% [markdown]
# ## The maps
#
# Both networks have i.i.d. $\mathcal N(0, c^2)$ weights ($c = 1$; the scale does not change a
# min-max-normalized map), zero biases, and are read at logit $k$ = {glue:text}`target`. For the
# convnet, `H.conv_map_sweep` evaluates Eq. (2),
# $s_k(x) = \sum_j D_j^T \sum_i h(V_{q_{ij},k})\,\tilde w^{(i,j)}$, as one convolution, a mask
# and one transposed convolution (the same numbers as autograd through
# `H.ThreeLayerConvNet`; the tests check it). The FC network's first layer alone would hold
# $N_h d$ = {glue:text}`fc_weights_g:.2f` billion weights, so `H.fc_map_sweep` draws them block by
# block from the seed, exactly as `H.FullyConnectedNet` does, and keeps the running sum
# $\sum_i h(V_{i,k})\,[w^{(i)T}x > 0]\,w^{(i)}$ for all photos and both rules in one pass.


# %%
def maps_for(seed: int) -> dict[str, torch.Tensor]:
    """GBP and plain maps of both networks: net -> (rule, photo, 3, H, W)."""
    conv = [
        H.conv_map_sweep(x, [n_filters], kernel_size, target, RULES, seed=seed)
        for x in xs
    ]
    fc_net = H.FullyConnectedNet(xs.shape[1:], hidden, seed=seed)
    fc = H.fc_map_sweep(fc_net, xs, targets=[target], rules=RULES)
    return {"conv": torch.stack(conv, 1)[:, :, 0], "fc": fc[0, :, :, 0]}


# %% tags=["remove-stderr"]
REFS = {"limit": lambda net, b: limits[net][b], "input": lambda net, b: xs[b]}
METRICS = {"pearson": H.pearson, "ssim": H.ssim, "rel_error": H.relative_error}
M, R = list(METRICS), list(REFS)
scores = np.zeros((len(M), len(R), len(NETS), len(RULES), n_seeds, len(photos)))
for seed in tqdm(range(n_seeds), desc="seeds"):
    maps = maps_for(seed)
    if seed == 0:
        first = {net: m.cpu() for net, m in maps.items()}  # drawn in Figure 2
    for (m_i, fn), (r_i, ref), (n_i, net), h_i, b in itertools.product(
        enumerate(METRICS.values()), enumerate(REFS.values()), enumerate(NETS),
        range(len(RULES)), range(len(xs)),
    ):  # fmt: skip
        scores[m_i, r_i, n_i, h_i, seed, b] = fn(maps[net][h_i, b], ref(net, b))
scores[M.index("rel_error"), :, :, RULES.index("plain")] = np.nan  # no signal

# %% [markdown]
# ## Figure 2, redrawn
#
# Rows are photos; columns the input, the convnet's closed-form limit (Eq. 5, the photo
# reweighted by $\sum_{j\ni \text{pixel}} 1/\|y^{(j)}\|_2$), and the four maps of the paper
# (weight seed 0). Every map is min-max normalized over all pixels and channels, as in the
# paper.

# %% tags=["remove-output"]
cols = [("GBP-convnet", "conv", 0), ("Plain-convnet", "conv", 1)]
cols += [("GBP-fc", "fc", 0), ("Plain-fc", "fc", 1)]
rows = [
    [images[b], limits["conv"][b]] + [first[net][h_i, b] for _, net, h_i in cols]
    for b in range(len(photos))
]
labels = ["input", "limit, Eq. (5)"] + [name for name, _, _ in cols]
fig = H.plot_grid(rows, row_labels=list(photos), col_labels=labels, cell=2.1)
rec.figure("fig_figure2", fig)

# %% [markdown]
# ```{glue:figure} fig_figure2
# :name: fig-figure2
#
# The paper's Figure 2 at its own sizes: a convnet with kernel
# [{glue:text}`kernel_size`, {glue:text}`kernel_size`, 3, {glue:text}`n_filters`] and an FC
# network with $N_h$ = {glue:text}`hidden`, Gaussian weights, {glue:text}`size` x
# {glue:text}`size` inputs (RGB minus the VGG mean), logit {glue:text}`target`.
# ```
#
# Only GBP of the convnet shows the photo; the other three maps look like noise, as in the
# paper.
#
# ## Measured: similarity to the limit and to the input
#
# Pearson correlation $\rho$ over all pixels and channels, and SSIM of the two min-max
# normalized maps {cite:p}`adebayo2018sanity`, against each network's own limit (Eq. 5 for the
# convnet, $x/\|x\|$ for the FC network) and against the input. Mean $\pm$ standard deviation
# over {glue:text}`n_seeds` weight seeds $\times$ {glue:text}`n_photos` photos. For the FC
# network the limit *is* the input up to scale, so both references give the same numbers.


# %% tags=["hide-input"]
def stat(metric: str, ref: str, net: str, rule: str, fn=np.mean) -> float:
    """A statistic of ``scores`` over seeds and photos."""
    at = (M.index(metric), R.index(ref), NETS.index(net), RULES.index(rule))
    return float(fn(scores[at]))


NAMES = {("conv", 0): "GBP-convnet", ("conv", 1): "Plain-convnet"}
NAMES.update({("fc", 0): "GBP-fc", ("fc", 1): "Plain-fc"})
header = ["map"] + [f"{m} to {r}" for r in R for m in ("pearson", "ssim")]


def cell(m: str, r: str, net: str, rule: str) -> str:
    return H.plus_minus(stat(m, r, net, rule), stat(m, r, net, rule, np.std))


# %% tags=["remove-output"]
rows = [
    [name] + [cell(m, r, net, RULES[h]) for r in R for m in ("pearson", "ssim")]
    for (net, h), name in NAMES.items()
]
rec.table("similarity_table", header, rows)

# %% [markdown]
# ```{glue:md} similarity_table
# :format: myst
# ```

# %% tags=["remove-cell"]
for kind, metric in (
    ("corr", "pearson"),
    ("ssim", "ssim"),
):  # metrics: <kind>_to_<ref>
    for ref in R:
        table = {n: {r: stat(metric, ref, n, r) for r in RULES} for n in NETS}
        spread = {
            n: {r: stat(metric, ref, n, r, np.std) for r in RULES} for n in NETS
        }
        rec.update(**{f"{kind}_to_{ref}": table, f"{kind}_to_{ref}_std": spread})
m = rec.metrics

# %% tags=["remove-cell"]
# the numbers the prose quotes, glued under their metrics names
rec("corr_to_limit.conv.guided", m["corr_to_limit"]["conv"]["guided"])
rec("corr_to_input.conv.guided", m["corr_to_input"]["conv"]["guided"])
rec("corr_to_limit.fc.guided", m["corr_to_limit"]["fc"]["guided"])
abs_max = lambda a: np.abs(a).max()  # noqa: E731
rec(
    "plain_max_abs",
    max(stat("pearson", r, n, "plain", abs_max) for n in NETS for r in R),
)
rec("fc_gbp_min", stat("pearson", "limit", "fc", "guided", np.min))

# %%
claim = "Only GBP in the convnet gives a clean picture; plain maps and FC are noise"
clean = H.only_conv_gbp_claim(m["corr_to_limit"])
verdict = rec.claim("only_conv_gbp", "4, Fig. 2", claim, *clean)

# %% [markdown]
# GBP of the convnet correlates with its limit at $\rho$ =
# {glue:text}`corr_to_limit.conv.guided:.3f` and with the input at
# {glue:text}`corr_to_input.conv.guided:.3f`. GBP of the FC network reaches only $\rho$ =
# {glue:text}`corr_to_limit.fc.guided:.3f`: small, but at least {glue:text}`fc_gbp_min:.3f` in
# every run, so the input *is* in the map, buried under noise. Both plain maps are
# uncorrelated with both references ($|\rho| \le$ {glue:text}`plain_max_abs:.3f` over all
# seeds and photos), as Eq. (3) predicts with $\mathbb E[h(V)] = 0$. SSIM tells the same
# story. The paper's reading of its Figure 2: {glue:text}`claims.only_conv_gbp.verdict`
# (reproduced when the convnet's GBP map correlates with its limit above 0.8 and the other
# three maps stay within $|\rho| < 0.2$).
#
# ## Why: how much noise each network leaves
#
# Eq. (2) is a sum of $NJ$ random terms $h(V_{q_{ij},k})\,D_j^T\tilde w^{(i,j)}$. For GBP each
# has mean $\frac{c^2}{2\pi}\,D_j^T y^{(j)}/\|y^{(j)}\|_2$ (chapter 2's constants), which add up
# to the signal $\frac{Nc^2}{2\pi}L$ with $L = \sum_j D_j^T y^{(j)}/\|y^{(j)}\|_2$ (Eq. 5). Each
# has mean square $\mathbb E[\sigma(V)^2]\,\mathbb E\|D_j^T\tilde w\|^2 = \frac{c^2}{2}\cdot
# \frac{p_jc^2}{2}$, with $p_j$ the entries of patch $j$ inside the image. Treating the terms as
# uncorrelated, the noise-to-signal ratio of the map is
#
# $$\varepsilon = \frac{\|s_k - \alpha L\|}{\|\alpha L\|} \approx
# \pi\sqrt{\frac{\sum_j p_j}{N\,\|L\|_2^2}}
# \quad\text{(convnet)},\qquad
# \varepsilon \approx \pi\sqrt{\frac{d}{N_h}}\quad\text{(FC: } J = 1,\ p = d,\ \|L\| = 1),$$
#
# whatever $c$ (`H.predicted_relative_error`). It is measured as the relative error after the
# best scalar fit $\alpha$, `H.relative_error` $= \sqrt{1/\cos^2 - 1}$, which keeps its meaning
# when the map is far from the limit (chapter 4 follows it over $N$ and $N_h$).

# %%
pred = {
    "conv": [
        float(H.predicted_relative_error(x, n_filters, kernel_size)) for x in xs
    ],
    "fc": [float(H.predicted_relative_error(x, hidden)) for x in xs],
}
# %%
rel = scores[M.index("rel_error"), 0, :, 0].mean(1)  # (net, photo): mean over seeds
meas = dict(zip(NETS, rel, strict=True))

# %% tags=["remove-cell"]
rec.update(
    rel_error_gbp={
        n: {
            "measured": float(np.mean(meas[n])),
            "predicted": float(np.mean(pred[n])),
        }
        for n in NETS
    }
)

# %% tags=["remove-cell"]
rows = [
    [p, meas["conv"][b], pred["conv"][b], meas["fc"][b], pred["fc"][b]]
    for b, p in enumerate(photos)
]
header = ["photo", "convnet measured", "convnet predicted", "FC measured"]
rec.table(
    "law_table",
    header + ["FC predicted"],
    [[r[0], *(f"{v:.2f}" for v in r[1:])] for r in rows],
)
ratio = np.concatenate([meas[n] / np.array(pred[n]) for n in NETS])
rec("law_ratio_min", float(ratio.min()))
rec("law_ratio_max", float(ratio.max()))

# %% tags=["remove-cell"]
eps_conv = rec(
    "rel_error_gbp.conv.measured", m["rel_error_gbp"]["conv"]["measured"]
)
rec("rel_error_gbp.fc.measured", m["rel_error_gbp"]["fc"]["measured"])
need = (
    np.pi**2 * xs[0].numel() / eps_conv**2
)  # N_h with the FC error = the convnet's
rec.update(fc_hidden_for_conv_error=need)
rec("fc_hidden_for_conv_error_millions", need / 1e6)
times = rec("fc_hidden_for_conv_error_over_hidden", need / hidden)

# %% [markdown]
# Relative error $\varepsilon$ of the GBP maps to their limits, mean over seeds:
#
# ```{glue:md} law_table
# :format: myst
# ```
#
# Measured over predicted lies between {glue:text}`law_ratio_min:.2f` and
# {glue:text}`law_ratio_max:.2f` on every photo. The convnet's map is off its limit by
# $\varepsilon$ = {glue:text}`rel_error_gbp.conv.measured:.2f`, the FC network's by
# {glue:text}`rel_error_gbp.fc.measured:.1f`: the norm of its noise is that many times the norm
# of its signal. For the same $\varepsilon$ the FC network would need
# $N_h = \pi^2 d/\varepsilon^2 \approx$ {glue:text}`fc_hidden_for_conv_error_millions:.0f`
# million hidden units, {glue:text}`fc_hidden_for_conv_error_over_hidden:.0f` times the paper's
# {glue:text}`hidden`. Note what does *not* appear in the convnet's formula: away from the
# border $\sum_j p_j \approx Jp$ and $\|L\|^2 \approx Jk^2$ (each pixel is covered by $k^2$
# patches), so $\varepsilon \approx \pi\sqrt{3/N}$ whatever the kernel size. The noise of the
# $k^2$ overlapping patches averages out; chapter 4 measures this.
#
# (claims-ch3)=
# ## Claims and verdicts

# %% tags=["remove-cell"]
rec.update(seconds=time.perf_counter() - start)
rec.update(cpu_seconds=time.process_time() - cpu_start)
rec.claims_table()
rec.save()
rec("seconds", rec.metrics["seconds"])
rec("cpu_seconds", rec.metrics["cpu_seconds"])

# %% [markdown]
# ```{glue:md} claims_table
# :format: myst
# ```
#
# This page ran in {glue:text}`seconds:.0f` s of wall-clock time and
# {glue:text}`cpu_seconds:.0f` s of CPU time.
