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
# # Observations: guided backpropagation without training
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/backpropvis/backpropvis-book/blob/main/notebooks/01_observations.ipynb)
#
# Section 2 of {cite:t}`nie2017towards` starts from one picture: guided backpropagation (GBP)
# {cite:p}`springenberg2014striving` of a network whose weights were *never trained* still shows
# the input photo. Section 3 explains it with the simplest convnet, Eq. (1):
#
# $$f_k(x) = \sum_{i=1}^{N}\sum_{j=1}^{J} V_{q_{ij},k}\,\sigma\big(w^{(i)T} y^{(j)}\big),
# \qquad y^{(j)} = D_j x,$$
#
# with Gaussian weights. This page checks the pipeline end to end on that network: GBP against
# the plain gradient (saliency map) of a random three-layer convnet on the tabby-cat photo.

# %% tags=["remove-cell"]
# Colab setup: installs this book's helper module (Colab's own torch stays in place).
import subprocess
import sys

if "google.colab" in sys.modules:
    REPO = "https://github.com/backpropvis/backpropvis-book"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{REPO}"], check=True)

# %% tags=["parameters"]
photo = "chelsea"  # a bundled sample photo or an image path
size = 224  # image side in pixels
n_filters = 256  # N, the number of convolutional filters
kernel_size = 7  # k: filters are k x k x 3, so p = 3 k^2
n_logits = 1000  # K
seed = 0
out_dir = "metrics"  # where the chapter's metrics JSON goes

# %%
import helpers as H

device = H.default_device()
x = H.preprocess(H.load_image(photo, size), "centered").to(device)
net = H.ThreeLayerConvNet(n_filters, kernel_size, n_logits, seed=seed).to(device)
gbp = H.backprop_map(net, x, target=0, rule="guided")
plain = H.backprop_map(net, x, target=0, rule="plain")
limit = H.gbp_limit(x, kernel_size)

# %% [markdown]
# The closed-form limit of Eq. (5), $\sum_j D_j^T y^{(j)}/\|y^{(j)}\|_2$, is the photo reweighted
# by local contrast. The figure shows the input, the limit and both maps (global min-max to [0, 1],
# as in the paper).

# %%
fig = H.plot_grid(
    [[x, limit, gbp, plain]],
    col_labels=["input", "limit, Eq. (5)", f"GBP, N={n_filters}", f"plain, N={n_filters}"],
    cell=2.6,
)

# %%
corr = {rule: H.pearson(m, limit) for rule, m in (("guided", gbp), ("plain", plain))}
H.glue("n_filters", n_filters)
H.glue("corr_gbp_limit", round(corr["guided"], 3))
H.glue("corr_plain_limit", round(corr["plain"], 3))
H.save_metrics(out_dir, "01_observations", {"corr_with_limit": corr, "n_filters": n_filters})

# %% [markdown]
# With $N$ = {glue:text}`n_filters` random filters, the GBP map correlates with the limit at
# Pearson $\rho$ = {glue:text}`corr_gbp_limit`, while the plain gradient of the same network
# correlates at $\rho$ = {glue:text}`corr_plain_limit`: guided backpropagation recovers the image,
# the true gradient does not.
