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
# # Explorer: move the knobs yourself
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/backpropvis/backpropvis-book/blob/main/notebooks/05_explorer.ipynb)
#
# The previous chapters fix their settings; this one hands them over. The explorer below is a
# small instrument built from core ipywidgets: pick a photo (or upload one), a network (the
# paper's three-layer convnet of Eq. (1), its fully connected net of Eq. (7), an untrained
# VGG-16 {cite:p}`simonyan2014very`, or the trained model of the `"auto"` loader, here
# {glue:text}`trained_model`), a backward rule, the number of filters $N$ (or hidden units
# $N_h$), the kernel size, the padding, two logits and a seed. It shows the input, the maps of
# both logits, the closed-form large-$N$ limit of guided backpropagation (GBP) where the paper
# derives one, and Pearson correlations: map to limit, map to input, and map to map (class
# invariance, claim (c) of {cite:t}`nie2017towards`).
#
# The widget needs a live kernel (Jupyter, or Colab from the badge above). A static page cannot
# run it, so this page shows what it shows for the most telling settings, computed by the same
# callback. In short:
#
# * **GBP approaches its limit as $N$ grows, the plain gradient does not.** For the convnet,
#   the GBP map correlates with the limit of Eq. (5) at $\rho$ = {glue:text}`conv_lim_first:.2f`,
#   {glue:text}`conv_lim_mid:.2f` and {glue:text}`conv_lim_last:.3f` for $N$ =
#   {glue:text}`n_first`, {glue:text}`n_mid` and {glue:text}`n_last` filters; the plain gradient
#   at $N$ = {glue:text}`n_last` at {glue:text}`conv_plain_lim:.3f`.
# * **The fully connected net is far from its limit at $N_h$ = {glue:text}`fc_hidden`**:
#   $\rho$ = {glue:text}`fc_lim:.2f` with $x/\|x\|$, as the leading-order prediction
#   ({glue:text}`fc_pred:.2f`) says: without local connections, $N_h$ must exceed the input
#   dimension many times over.
# * **Class invariance is visible side by side**: GBP maps of two logits correlate at
#   {glue:text}`trained_ab_guided:.3f` (trained) and {glue:text}`conv_ab_guided:.3f`
#   (convnet), plain gradients at {glue:text}`trained_ab_plain:.3f` and
#   {glue:text}`conv_ab_plain:.3f`.
# * **It is live**: at its default settings an update took at most
#   {glue:text}`update_max_s:.2f` s here, which {glue:text}`speed_verdict` the
#   {glue:text}`update_target_s:g` s target; a revisited setting {glue:text}`update_cached_max_s:.3f` s.

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
photo = "chelsea"  # a bundled sample photo or an image path
size = 224  # image side of the static grid (the paper's scale)
fc_size = 64  # input side of the fully connected net
n_values = [1, 16, 256]  # N of the convnet rows
fc_hidden = 4096  # N_h of the fully connected row
kernel_size = 7  # k of the convnet's k x k x 3 filters
seed = 0  # draws the random networks and the "random" logit
live_size = 128  # the explorer's default image side
live_n = 256  # the explorer's default N
out_dir = "metrics"  # where the chapter's metrics JSON goes

# %%
import dataclasses
import os
import time

import numpy as np
from IPython.display import display

import helpers as H

n_values = H.as_list(n_values, "n_values", int)
rec = H.Record("05_explorer", out_dir)
settings = H.ExploreSettings(photo=photo, n=live_n, size=live_size, seed=seed)
explorer = H.Explorer(settings)

# %% tags=["remove-input"]
rec.update(n_values=n_values)
rec("photo", photo)
rec("size", size)
rec("fc_size", fc_size)
rec("fc_hidden", fc_hidden)
rec("fc_d", 3 * fc_size**2)
rec("kernel_size", kernel_size)
rec("live_size", live_size)
rec("live_n", live_n)
rec.update(defaults={"size": live_size, "n": live_n, "kernel_size": kernel_size})

# %% [markdown]
# ## One callback, free of widgets
#
# Everything the widget shows comes from one function, `Explorer.explore(settings)`. It takes
# an `ExploreSettings` (photo, network, rule, $N$ or $N_h$, kernel size $k$, padding, two
# logits, seed, image size) and returns an `ExploreResult`: the input, the maps, the limit
# (Eq. (5), $\sum_j D_j^T y^{(j)}/\|y^{(j)}\|$, for the convnet; $x/\|x\|$ for the fully connected
# net; none for the deep networks), the correlations, the name of the network that ran, the
# time taken, and an `error` message for bad input. A logit is `"max"`, `"random"` (drawn from
# the seed), an index, or an ImageNet class name {cite:p}`deng2009imagenet`. The random
# networks take the author's input normalization (the photo minus the VGG mean), the deep
# networks their own. Here it is at the explorer's defaults:

# %%
r = explorer.explore(explorer.defaults)
print(r.model, "| logits:", r.labels)
print(
    "Pearson with limit:",
    np.round(r.rho_limit, 3),
    "with input:",
    np.round(r.rho_input, 3),
)
print(f"between the two maps: {r.rho_logits:.3f}; {r.seconds:.2f} s")

# %% tags=["remove-output"]
# the same setting at `size`: its network is built already, so this times one update
big = explorer.explore(dataclasses.replace(explorer.defaults, size=size))

# %% tags=["remove-cell"]
rec("big_update_s", big.seconds)

# %% [markdown]
# The defaults are the convnet with $N$ = {glue:text}`live_n` filters of size
# {glue:text}`kernel_size` x {glue:text}`kernel_size` x 3 on a {glue:text}`live_size` x
# {glue:text}`live_size` photo: enough filters for the GBP map to sit close to its limit
# ($\rho$ = {glue:text}`live_rho:.3f`), small enough for an update in well under a second on
# two CPU cores (measured below; at {glue:text}`size` x {glue:text}`size` one update of the
# same setting took {glue:text}`big_update_s:.2f` s here). Networks, forward
# passes, maps and limits are cached per setting, so a change recomputes only what it touches:
# switching the rule reuses the network and the fully connected weights $V_{:,k}$ of both
# logits, changing the second logit computes one map, and a setting seen before costs nothing.
#
# ## What the explorer shows: the telling settings
#
# The grid below is the explorer's output for eight settings, computed by the same callback at
# {glue:text}`size` x {glue:text}`size` (the fully connected net at {glue:text}`fc_size` x
# {glue:text}`fc_size`, $d$ = {glue:text}`fc_d` inputs). The random networks compare logit 482
# (the paper's Figure 1) with a random logit, the deep networks the max logit with logit 482.


# %% tags=["remove-output"]
def at(network: str, rule: str, n: int = n_values[-1], **kw) -> H.ExploreSettings:
    """A setting of the grid (photo, k, seed, size fixed; logits 482 and random)."""
    return H.ExploreSettings(
        photo, network, rule, n, kernel_size, seed=seed, **{"size": size, **kw}
    )


deep = {"logit": "max", "logit2": 482}
grid = {f"convnet N={n}, guided": at("convnet", "guided", n) for n in n_values}
grid[f"convnet N={n_values[-1]}, plain"] = at("convnet", "plain")
grid[f"FC N_h={fc_hidden}, guided"] = at("fc", "guided", fc_hidden, size=fc_size)
grid["VGG-16 untrained, guided"] = at("vgg16_untrained", "guided", **deep)
grid["trained, guided"] = at("trained", "guided", **deep)
grid["trained, plain"] = at("trained", "plain", **deep)

# %% tags=["remove-output"]
results = {label: explorer.explore(s) for label, s in grid.items()}
failed = {label: r.error for label, r in results.items() if r.error}
assert not failed, failed
rec("trained_model", results["trained, guided"].model)

# %% tags=["remove-output"]
fig = H.plot_grid(
    [[r.image, r.maps[0], r.maps[1], r.limit] for r in results.values()],
    row_labels=[label.replace("N_h", "$N_h$") for label in results],
    col_labels=["input", "map, logit A", "map, logit B", "GBP limit"],
    cell=1.8,
)
for row, r in zip(
    np.array(fig.axes).reshape(len(results), 4), results.values(), strict=True
):
    lim = f"limit {r.rho_limit[0]:.2f}\n" if r.rho_limit else ""
    a, b = (label.replace(" (", "\n(") for label in r.labels)  # class names
    row[1].set_xlabel(f"{a}\n{lim}input {r.rho_input[0]:.2f}")
    row[2].set_xlabel(f"{b}\nA vs B {r.rho_logits:.3f}")
fig.tight_layout()
rec.figure("fig_grid", fig)

# %% [markdown]
# ```{glue:figure} fig_grid
# :name: fig-explorer-grid
#
# The explorer's output for eight settings on {glue:text}`photo`: the input, the maps of two
# logits (each min-max normalized over all pixels and channels, as in the paper), and the
# closed-form GBP limit where there is one. Under each map: the logit, its Pearson correlation
# with the limit and with the network's input; under the second, the correlation of the two
# maps. Rows: the three-layer convnet ($k$ = {glue:text}`kernel_size`) with growing $N$ under
# GBP, and under the plain gradient; the fully connected net; an untrained VGG-16; the trained
# {glue:text}`trained_model` under GBP and the plain gradient.
# ```

# %% [markdown]
# The leading-order prediction of the correlation with the limit, for GBP of the random
# networks, is $1/\sqrt{1 + e^2}$ with $e$ the relative error of chapters 3 and 4:

# %%
fc_x = H.preprocess(results[f"FC N_h={fc_hidden}, guided"].image, "centered")
conv_x = H.preprocess(
    results[f"convnet N={n_values[-1]}, guided"].image, "centered"
)


def predicted_rho(label: str, s: H.ExploreSettings) -> float | None:
    """Leading-order Pearson with the limit, 1 / sqrt(1 + e^2), GBP only."""
    if s.rule != "guided" or s.network not in ("convnet", "fc"):
        return None
    x, k = (conv_x, s.kernel_size) if s.network == "convnet" else (fc_x, None)
    return float(1 / np.sqrt(1 + H.predicted_relative_error(x, s.n, k) ** 2))


predicted = {label: predicted_rho(label, s) for label, s in grid.items()}

# %% tags=["remove-cell"]
rec.update(
    grid={
        label: {
            "logits": r.logits,
            "rho_limit": r.rho_limit,
            "rho_input": r.rho_input,
            "rho_logits": r.rho_logits,
            "predicted_rho_limit": predicted[label],
            "seconds": r.seconds,
        }
        for label, r in results.items()
    }
)

# %% tags=["remove-input"]
rows = []
for label, r in results.items():
    pred = "-" if predicted[label] is None else predicted[label]
    lim = r.rho_limit[0] if r.rho_limit else "-"
    rows.append([label, r.labels[0], lim, pred, r.rho_input[0], r.labels[1]])
    rows[-1] += [r.rho_logits, f"{r.seconds:.2f}"]
header = ["setting", "logit A", "ρ with limit", "predicted", "ρ with input"]
header += ["logit B", "ρ(A, B)", "seconds"]
rec.table("grid_table", header, rows)

# %% tags=["remove-cell"]
conv = [results[f"convnet N={n}, guided"] for n in n_values]
plain = results[f"convnet N={n_values[-1]}, plain"]
fc_label = f"FC N_h={fc_hidden}, guided"
rec("n_first", n_values[0])
rec("n_mid", n_values[len(n_values) // 2])
rec("n_last", n_values[-1])
rec("conv_lim_first", conv[0].rho_limit[0])
rec("conv_lim_mid", conv[len(n_values) // 2].rho_limit[0])
rec("conv_lim_last", conv[-1].rho_limit[0])
rec("conv_plain_lim", plain.rho_limit[0])
rec("conv_ab_guided", conv[-1].rho_logits)
rec("conv_ab_plain", plain.rho_logits)

# %% tags=["remove-cell"]
rec("fc_lim", results[fc_label].rho_limit[0])
rec("fc_pred", predicted[fc_label])
rec("vgg_in", results["VGG-16 untrained, guided"].rho_input[0])
trained, trained_plain = results["trained, guided"], results["trained, plain"]
rec("trained_in", trained.rho_input[0])
rec("trained_ab_guided", trained.rho_logits)
rec("trained_ab_plain", trained_plain.rho_logits)
rec("trained_max", trained.labels[0])

# %% [markdown]
# ```{glue:md} grid_table
# :format: myst
# ```
#
# Pearson correlations for the grid above, for logit A and between the two logits; "predicted"
# is the leading-order value $1/\sqrt{1 + e^2}$ with $e = \pi\sqrt{P/(N\|L\|^2)}$ the relative
# error of chapters 3 and 4 (for GBP of the random networks); "seconds" is the callback's time
# on this page's build machine, including the one-time loading of each deep network.
#
# What the rows say:
#
# * **Convnet, growing $N$.** With $N$ = {glue:text}`n_first` filters the map is unrelated to
#   the limit ($\rho$ = {glue:text}`conv_lim_first:.2f`); $N$ = {glue:text}`n_mid` gives a
#   recognizable but noisy cat ($\rho$ = {glue:text}`conv_lim_mid:.2f`); $N$ =
#   {glue:text}`n_last` is close to the limit ($\rho$ = {glue:text}`conv_lim_last:.3f`), the
#   photo reweighted by local contrast. Eq. (5) is a large-$N$ statement, and the leading-order
#   prediction tracks the measured value except for a single filter, whose map is that filter's
#   pattern rather than a noisy limit.
# * **Plain gradient.** With the same $N$ = {glue:text}`n_last` filters the true gradient correlates with the
#   limit at $\rho$ = {glue:text}`conv_plain_lim:.3f`: $\mathbb{E}[h(V)] = 0$ for $h(v) = v$,
#   so nothing accumulates.
# * **Fully connected.** With $N_h$ = {glue:text}`fc_hidden` hidden units and
#   $d$ = {glue:text}`fc_d` inputs, $\rho$ = {glue:text}`fc_lim:.2f` (predicted
#   {glue:text}`fc_pred:.2f`). The paper's Eq. (7) limit holds, but its error falls like
#   $\sqrt{d/N_h}$, not $\sqrt{p/N}$ per patch: try $N_h$ = 100000 in the explorer (slow).
# * **Untrained VGG-16.** No closed form, yet its GBP map correlates with its input at
#   $\rho$ = {glue:text}`vgg_in:.2f`, claim (a); the trained {glue:text}`trained_model` at
#   {glue:text}`trained_in:.2f`.
# * **Two logits.** GBP maps of the max logit ({glue:text}`trained_max`) and logit 482 of the
#   trained network correlate at {glue:text}`trained_ab_guided:.3f`, plain gradients at
#   {glue:text}`trained_ab_plain:.3f`: claim (c) holds for GBP and not for the plain saliency
#   map, as chapter 1 measured over many logits.
#
# ## Bad input is a message, not a crash
#
# The callback turns bad input into an `error` string, and the widget shows it in red where the
# maps would be. Four examples, computed here:

# %% tags=["remove-output"]
S = H.ExploreSettings
bad = {
    "N = 0": S(photo, n=0, size=live_size),
    "an upload that is not an image": S(
        b"not an image", upload_name="cat.png", size=live_size
    ),
    "an unknown class name": S(photo, logit="tabbycat", size=live_size),
    "a kernel larger than the image": S(photo, kernel_size=15, size=12),
}
errors = {label: explorer.explore(s).error for label, s in bad.items()}
assert all(errors.values()), errors

# %% tags=["remove-input"]
rec.update(errors=errors)
rec.table("error_table", ["input", "message shown"], errors.items())

# %% [markdown]
# ```{glue:md} error_table
# :format: myst
# ```
#
# ## Fast enough to feel live
#
# Below, the widget is built and driven as a reader would drive it: one control at a time, each
# change followed by the update a live kernel runs (the cached computation and the rendering of
# the images). The first display computes everything; later changes reuse what did not change.

# %% tags=["remove-output"]
ui = explorer.widget()  # builds the widget and shows the defaults
changes = [
    ("rule", "plain"),
    ("rule", "guided"),
    ("n", live_n // 4),
    ("n", live_n),
    ("logit2", "tabby"),
    ("logit2", "random"),
    ("photo", "astronaut" if photo != "astronaut" else "coffee"),
    ("kernel_size", 5),
    ("padding", "same"),
]


# %% tags=["remove-output"]
update_s = []  # (change, seconds, whether the setting is a slower one)
for key, value in changes:
    start = time.perf_counter()
    explorer.set(**{key: value})
    seconds = time.perf_counter() - start
    update_s.append((f"{key} = {value}", seconds, explorer.last.slow))

# %% tags=["remove-input"]
rec.table("speed_table", ["change", "seconds"], [u[:2] for u in update_s])
rec.update(update_s={name: t for name, t, _ in update_s})

# %% tags=["remove-cell"]
judged = [t for _, t, slow in update_s if not slow]
revisits = ("rule = guided", f"n = {live_n}", "logit2 = random")  # seen before
cached = [t for (name, t, _) in update_s if name in revisits]
load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
rec("update_max_s", max(judged))
rec("speed_verdict", H.update_speed_word(max(judged)))
rec("update_target_s", H.UPDATE_TARGET_S)
rec("update_cached_max_s", max(cached) if cached else None)
rec("load_avg", load)

# %% [markdown]
# ```{glue:md} speed_table
# :format: myst
# ```
#
# Every update at the default settings took at most {glue:text}`update_max_s:.2f` s, which
# {glue:text}`speed_verdict` the {glue:text}`update_target_s:g` s target; a revisit {glue:text}`update_cached_max_s:.3f` s or
# less. These times are pessimistic: the page was built while other jobs shared the two CPU
# cores (load average
# {glue:text}`load_avg:.1f`). `benchmarks/bench_explorer.py` repeats the measurement with more
# changes. Heavier settings (the VGG-16 above 128 pixels, $N_h$ x $d$ above $2\cdot 10^7$,
# thousands of filters, the max logit of the random convnet, which needs all 1000 logits) say
# "slower setting" and show a progress line while they compute.
#
# ## The explorer
#
# Run this page in Jupyter or Colab (badge at the top) to use it: the widget needs a live
# Python kernel and is blank on the static HTML page. Sliders update when released; the
# network's menu says which settings are slower; "your photo" takes any image file.

# %% tags=["remove-output"]
display(ui)

# %% tags=["remove-input"]
default_rho = explorer.explore(explorer.defaults).rho_limit
rec.update(default_rho_limit=default_rho)
rec("live_rho", default_rho[0])
rec.save()
