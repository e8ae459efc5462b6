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
# # What training changes: step (b) breaks, and the data randomization test
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/backpropvis/backpropvis-book/blob/main/notebooks/08_training.ipynb)
#
# Every network of the earlier chapters is random or trained by someone else. The
# paper's argument {cite:p}`nie2017towards` rests on one assumption that training must
# break: step (b) of Eq. (3), that the upper weights $V$ are independent of the active
# filters $\tilde w$. Chapter 6 answers the draft's TODO (1), "why plain saliency good
# for trained vgg", with a correlation. This chapter trains the paper's networks
# itself, on the handwritten digits that ship with scikit-learn
# {cite:p}`alpaydin1998digits`, and watches step (b) break. It then runs the second
# test of {cite:t}`adebayo2018sanity`, **data randomization**: the same network
# trained on true and on permuted labels, every method of chapter 7 compared between
# the two.
#
# In short:
#
# * **Step (b) holds at initialization and training breaks it**
#   ({glue:text}`claims.step_b_init.verdict`, {glue:text}`claims.step_b_breaks.verdict`).
#   The correlation between $V$ of a digit's label and the units it weighs is
#   {glue:text}`departure.conv.init` at initialization and
#   {glue:text}`departure.conv.trained` after training for the convnet of Eq. (1).
# * **TODO (1): {glue:text}`claims.structure_onset.verdict`.**
#   {glue:text}`todo1_sentence`
# * **Data randomization**: the argument's prediction holds for
#   {glue:text}`n_agree` of {glue:text}`n_methods` methods, and the book's finding is
#   the sanity-checks paper's for {glue:text}`n_same_mnist` of the
#   {glue:text}`n_mnist` they tested.

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
size = 16  # digit side in pixels (the digits are 8 x 8, upsampled)
n_test = 500  # test digits (stratified); the other 1,297 train
n_train = 0  # training digits used; 0: all of them
n_filters = 64  # N, the convnet's filters (Eq. 1)
kernel_size = 7  # its k x k filters
hidden = 1024  # N_h, the fully connected net's hidden units (Eq. 7)
epochs = 16  # epochs on the true labels (the curves follow them)
max_epochs = 150  # at most, on the permuted labels
fit_at = 0.99  # training accuracy that counts as fitting the labels
lr = 1e-3  # Adam's learning rate
batch_size = 64  # digits per optimizer step
checkpoints = [0, 1, 2, 3, 5, 8, 13, 20, 40, 80, 160, 320]  # steps measured
n_measure = 100  # test digits of the curves and of step (b)
n_randomization = 100  # test digits of the data randomization test
smoothgrad_samples = 0  # noisy copies per SmoothGrad map; 0: 50 on a GPU, else 16
smoothgrad_noise = 0.15  # SmoothGrad's noise std as a fraction of the input range
ig_steps = 16  # Integrated Gradients' points (right Riemann sum)
insensitive_at = 0.5  # rank correlation above which a map counts as insensitive
seed = 0  # split, initial weights, batch order, permutation, SmoothGrad's noise
out_dir = "metrics"  # where the chapter's metrics JSON goes

# %%
import time

import torch

import helpers as H

start = time.perf_counter()
torch.manual_seed(seed)
H.quiet_attribution_warnings()  # constant maps, Captum's and PyTorch's notes
rec = H.Record("08_training", out_dir)
checkpoints = H.as_list(checkpoints, "checkpoints", int)
METHODS = rec("methods", H.method_keys("gradient", "modified", "cam"), glued=False)
NAME = {m: H.METHODS[m].label for m in METHODS}

# %% [markdown]
# ## The digits
#
# scikit-learn's `load_digits`: 1,797 gray digits of $8 \times 8$ pixels, ten classes,
# split from the seed into training and test digits (every class in both in
# proportion), upsampled bilinearly to {glue:text}`size` pixels and repeated into three
# channels, so every network and map of the book takes them as it takes a photo. A
# network sees them centred, $(x - \mu)/s$ with the training pixels' mean and standard
# deviation.

# %%
digits = H.load_digits_split(size, n_test, seed)
train_x, train_y = digits.train_x, digits.train_y
if n_train:
    train_x, train_y = train_x[:n_train], train_y[:n_train]
permuted_y = H.permuted_labels(train_y, seed)  # the same count of every class
x_train, x_test = digits.prepare(train_x), digits.prepare(digits.test_x)
y_test = digits.test_y

# %% tags=["remove-output"]
first = [
    int((y_test == k).nonzero()[0]) for k in range(10)
]  # one test digit per class
fig = H.plot_grid(
    [[digits.test_x[i] for i in first]],
    col_labels=[str(k) for k in range(10)],
    cell=0.69,
)
rec.figure("fig_digits", fig)

# %% tags=["remove-cell"]
rec("size", size)
rec("n_train", len(train_x))
rec("n_test", len(x_test))

# %% [markdown]
# ```{glue:figure} fig_digits
# :name: fig-digits
#
# One test digit of each class, at {glue:text}`size` × {glue:text}`size` pixels.
# ```
#
# {glue:text}`n_train` digits train and {glue:text}`n_test` test.
#
# ## Three networks, trained twice
#
# * the paper's convnet, Eq. (1): a $k \times k \times 3 \times N$ convolution
#   ($k$ = {glue:text}`kernel_size`, $N$ = {glue:text}`n_filters`, no bias), ReLU, and a
#   fully connected layer $V$ to the ten logits;
# * the paper's fully connected net, Eq. (7), with $N_h$ = {glue:text}`hidden`
#   hidden units;
# * the sanity-checks paper's MNIST CNN: conv $5 \times 5 \times 32$, max pool, conv
#   $5 \times 5 \times 64$, max pool, fully connected 1024, fully connected 10.
#
# Every weight starts i.i.d. $\mathcal N(0, 1/\text{fan-in})$, the paper's $c$ chosen
# per layer so that the untrained logits are of order one. Adam (learning rate
# {glue:text}`lr`, {glue:text}`batch_size` digits per step, the order drawn from the
# seed each epoch) trains each network for {glue:text}`epochs` epochs on the true
# labels and, on labels permuted once from the seed, until it fits them
# ({glue:text}`fit_at` training accuracy) or for {glue:text}`max_epochs` epochs.

# %% tags=["remove-cell"]
rec("kernel_size", kernel_size)
rec("n_filters", n_filters)
rec("hidden", hidden)
rec("lr", lr)
rec("batch_size", batch_size)
rec("epochs", epochs)
rec("max_epochs", max_epochs)
rec("fit_at", fit_at)

# %% tags=["hide-output"]
NETS = {
    "conv": lambda: H.trainable_convnet(n_filters, kernel_size, size, seed=seed),
    "fc": lambda: H.trainable_fc_net(hidden, size, seed=seed),
    "cnn": lambda: H.sanity_cnn(size, seed=seed),
}
runs = {}
for net, make in NETS.items():
    runs[net, "true"] = H.train(
        make(), x_train, train_y, epochs, lr, batch_size, seed, fit_at,
        checkpoints, stop_when_fit=False, desc=f"{net}, true labels",
    )  # fmt: skip
    runs[net, "permuted"] = H.train(
        make(), x_train, permuted_y, max_epochs, lr, batch_size, seed, fit_at,
        desc=f"{net}, permuted labels",
    )  # fmt: skip

# %% tags=["remove-cell"]
LABEL = {"conv": "convnet, Eq. (1)", "fc": "fully connected, Eq. (7)"}
LABEL["cnn"] = "MNIST CNN (2018)"
accuracy = {
    net: {
        labels: {
            "train": run.history[-1]["train_accuracy"],
            "test": H.accuracy(run.model, x_test, y_test),
            "epochs": run.epochs,
            "fitted_at": run.fitted_at,
        }
        for (n, labels), run in runs.items()
        if n == net
    }
    for net in NETS
}
rec.update(accuracy=accuracy)
rows = [
    [
        LABEL[net],
        labels,
        a["train"],
        a["test"],
        a["fitted_at"] or "never",
        a["epochs"],
    ]
    for net, by in accuracy.items()
    for labels, a in by.items()
]
header = ["network", "labels", "train accuracy", "test accuracy"]
rec.table("accuracy_table", header + ["fitted at epoch", "epochs"], rows)
rec("cnn_test", accuracy["cnn"]["true"]["test"])
rec("chance", 1 / digits.n_classes)
rec("cnn_permuted_epochs", accuracy["cnn"]["permuted"]["fitted_at"] or max_epochs)
permuted = {LABEL[n]: a["permuted"] for n, a in accuracy.items()}
claim = (
    "A network fits permuted labels and tests at chance: the premise of the data "
    "randomization test"
)
verdict = H.permuted_fit_claim(permuted, fit_at, 1 / digits.n_classes)
rec.claim("permuted_fit", "Adebayo", claim, *verdict)

# %% [markdown]
# ```{glue:md} accuracy_table
# :format: myst
# ```
#
# Train and test accuracy after the last epoch, and the first epoch at which the
# training accuracy reached {glue:text}`fit_at`. The MNIST CNN tests at
# {glue:text}`cnn_test:.3f` on the true labels. On permuted labels every network
# learns its training set by heart and tests near chance ({glue:text}`chance:.1f`):
# {glue:text}`claims.permuted_fit.verdict` ({glue:text}`claims.permuted_fit.measured`),
# as {cite:t}`zhang2017understanding` found for larger networks. The CNN took
# {glue:text}`cnn_permuted_epochs` epochs; the sanity-checks paper trained theirs for
# 100 epochs on MNIST's 60,000 digits.
#
# ## Step (b), measured
#
# Eq. (2) writes the map of logit $k$ as $\sum_j D_j^T \sum_i h(V_{q_{ij},k})\,
# \tilde w^{(i,j)}$, and step (b) of Eq. (3) replaces the expectation of the product
# $h(V)\,\tilde w$ by the product of expectations. What it drops,
# $\sum_{ij} D_j^T \big(h(V_{q_{ij},k}) - \overline{h(V)}\big)\,\tilde w^{(i,j)}$, has a
# component along the input that is a sum over units: since $\langle D_j^T
# \tilde w^{(i,j)}, x\rangle = \tilde w^{(i,j)} \cdot y_j = z_{ij}$, the ReLU output,
# it is $\sum_{ij} (h(V_{q_{ij},k}) - \overline{h(V)})\, z_{ij}$. The book's statistic
# is its normalized form, the Pearson correlation over the units $(i, j)$ between
# $h(V_{q_{ij},k})$ and $z_{ij}$ for $k$ the digit's label, averaged over
# {glue:text}`n_measure` test digits (`H.step_b_departure`). Step (b) says it is 0.
# Its error is its spread when $V$ is shuffled over the units, independent of
# $\tilde w$ by construction. The label, not the network's top class, picks $k$: the
# top class is the column of $V$ that best matches $z$, even at initialization.
#
# The curves below follow the convnet and the fully connected net through training,
# at every checkpoint: step (b) for the plain rule $h(V) = V$; class invariance of
# the saliency map, DeconvNet and GBP over the ten logits (chapter 1's score); the
# plain map's centred correlation with the input and its lag-1 autocorrelation
# (chapter 6's structure); and GBP's correlation with its large-$N$ limit, Eq. (5).

# %%
LIMIT = {"conv": lambda x: H.gbp_limit(x, kernel_size), "fc": H.gbp_limit_fc}
xs, ys = x_test[:n_measure], y_test[:n_measure]
curves = {}
for net in LIMIT:
    run = runs[net, "true"]
    steps = sorted(run.checkpoints)  # the checkpoints reached, and the last step
    curves[net] = {
        s: H.checkpoint_measures(run.at(s), xs, ys, LIMIT[net], seed=seed)
        for s in steps
    }

# %% tags=["remove-input"]
steps = {net: sorted(c) for net, c in curves.items()}


def curve(net, *keys):
    """One measure of one network at every checkpoint."""
    out = []
    for s in steps[net]:
        node = curves[net][s]
        for k in keys:
            node = node[k]
        out.append(node)
    return out


def step_b_band(net):
    return curve(net, "step_b", "plain", "value"), curve(
        net, "step_b", "plain", "error"
    )


NET = {"conv": "convnet", "fc": "FC net"}
SHORT = {"saliency": "plain", "deconvnet": "DeconvNet", "guided_backprop": "GBP"}

# %% tags=["remove-output"]
panels = [
    ("step (b): corr(V, z)", {NET[n]: step_b_band(n) for n in curves}),
    ("plain map: lag-1 autocorr.", {NET[n]: curve(n, "autocorr", "saliency")
                                    for n in curves}),
    ("ρ across logits", {f"{SHORT[m]}, {NET[n]}": curve(n, "class_invariance", m)
                         for n in curves for m in ("saliency", "guided_backprop")}),
    ("GBP: ρ with its limit", {NET[n]: curve(n, "corr_limit") for n in curves}),
]  # fmt: skip
epoch_steps = -(-len(x_train) // batch_size)
fig = H.plot_training_curves(panels, steps["conv"], epoch=epoch_steps)
rec.figure("fig_curves", fig)

# %% tags=["remove-cell"]
rec("n_measure", len(xs))
rec("epoch_steps", epoch_steps)
rec.update(training_curves={
    net: [{"step": s} | {k: v for k, v in c.items() if k != "step_b"}
          for s, c in by.items()]
    for net, by in curves.items()
})  # fmt: skip
rec.update(step_b={net: [{"step": s} | c["step_b"] for s, c in by.items()]
                   for net, by in curves.items()})  # fmt: skip
init = {net: curves[net][0]["step_b"]["plain"] for net in curves}
trained = {net: curves[net][steps[net][-1]]["step_b"]["plain"] for net in curves}
rec.update(departure={net: {
    "init": H.plus_minus(init[net]["value"], init[net]["error"], 4),
    "trained": H.plus_minus(trained[net]["value"], trained[net]["error"]),
    "in_errors": trained[net]["in_errors"],
} for net in curves})  # fmt: skip
rec.quote("departure.conv.init", "departure.fc.init", "departure.conv.trained")
rec.quote(
    "departure.fc.trained", "departure.conv.in_errors", "departure.fc.in_errors"
)
claim = "Step (b): the upper weights V are independent of the active filters w~"
verdict = H.step_b_init_claim({NET[n]: b for n, b in init.items()})
rec.claim("step_b_init", "3, Eq. (3) (b)", claim, *verdict)
claim = "Training breaks step (b) (chapter 6's answer to TODO 1)"
verdict = H.step_b_breaks_claim({NET[n]: b for n, b in trained.items()})
rec.claim("step_b_breaks", "TODO 1", claim, *verdict)

# %% [markdown]
# ```{glue:figure} fig_curves
# :name: fig-curves
#
# Over training on the true labels ({glue:text}`epoch_steps` optimizer steps make an
# epoch, dotted), mean over {glue:text}`n_measure` test digits. Step (b)'s statistic
# with a band of ± one error; the plain map's lag-1 autocorrelation; class
# invariance of the plain and GBP maps; GBP's correlation with its limit (Eq. 5).
# ```
#
# At initialization the statistic is {glue:text}`departure.conv.init` for the convnet
# and {glue:text}`departure.fc.init` for the fully connected net: zero within its
# error, so step (b) holds ({glue:text}`claims.step_b_init.verdict`). After
# {glue:text}`epochs` epochs it is {glue:text}`departure.conv.trained` and
# {glue:text}`departure.fc.trained`, {glue:text}`departure.conv.in_errors:.0f` and
# {glue:text}`departure.fc.in_errors:.0f` errors from zero: training breaks step (b)
# ({glue:text}`claims.step_b_breaks.verdict`). It has to: the logit of a digit's
# class is $\sum_{ij} V_{q_{ij},k}\, z_{ij}$, and a network that tells the classes
# apart puts large $V$ where that class's units are active.
#
# ## TODO (1): why is the trained saliency map good?
#
# The draft asks why the plain saliency map of a trained VGG looks good although
# Eq. (3) gives it $\mathbb E[h(V)] = 0$ and no image. The curves answer it for the
# networks trained here. Once step (b) is broken, the dropped term is the map: the
# plain map of logit $k$ becomes $\sum_{ij} D_j^T (V_{q_{ij},k} - \bar V)\,
# \tilde w^{(i,j)}$, a sum of active filters weighted by how much class $k$ relies on
# them, and it takes on structure. Onset is read as the first checkpoint at which a
# curve has made half of its change.

# %% tags=["remove-cell"]
gbp_ci, corr_input, plain = {}, {}, {}
for net in curves:
    first_, last = curves[net][0], curves[net][steps[net][-1]]
    gbp_ci[NET[net]] = {
        "init": first_["class_invariance"]["guided_backprop"],
        "trained": last["class_invariance"]["guided_backprop"],
    }
    corr_input[net] = {
        "init": first_["corr_input"]["guided_backprop"],
        "trained": last["corr_input"]["guided_backprop"],
    }
    plain[net] = {
        "autocorr": {"init": first_["autocorr"]["saliency"],
                     "trained": last["autocorr"]["saliency"]},
        "corr_input": {"trained": last["corr_input"]["saliency"]},
    }  # fmt: skip
rec.update(plain=plain, gbp={
    net: {"class_invariance": gbp_ci[NET[net]], "corr_input": corr_input[net]}
    for net in curves
})  # fmt: skip
rec.quote("plain.conv.autocorr.init", "plain.conv.autocorr.trained")
rec.quote("plain.fc.autocorr.init", "plain.fc.autocorr.trained")
rec.quote("plain.conv.corr_input.trained")
rec.quote("gbp.conv.class_invariance.init", "gbp.conv.class_invariance.trained")
rec.quote("gbp.fc.class_invariance.init", "gbp.fc.class_invariance.trained")
rec.quote("gbp.conv.corr_input.init", "gbp.conv.corr_input.trained")
rec.quote("gbp.fc.corr_input.init", "gbp.fc.corr_input.trained")
claim = "The trained plain map is structured because step (b) breaks, not before"
verdict = H.structure_onset_claim(
    steps["conv"], curve("conv", "step_b", "plain", "value"),
    curve("conv", "autocorr", "saliency"),
)  # fmt: skip
rec.claim("structure_onset", "TODO 1", claim, *verdict)
b_at = H.onset(steps["conv"], curve("conv", "step_b", "plain", "value"))
s_at = H.onset(steps["conv"], curve("conv", "autocorr", "saliency"))
when = "at the same checkpoint as" if s_at == b_at else (
    "after" if s_at > b_at else "before"
)  # fmt: skip
rec(
    "todo1_sentence",
    f"In the convnet the plain map gains structure {when} step (b) breaks (half-way at "
    f"step {s_at}, step (b) at step {b_at}, of {epoch_steps} steps per epoch).",
)
claim = "GBP's class invariance survives training"
verdict = H.gbp_invariance_trained_claim(gbp_ci)
rec.claim("gbp_invariance_trained", "2 (c), trained", claim, *verdict)

# %% [markdown]
# {glue:text}`todo1_sentence` The plain map's lag-1 autocorrelation goes from
# {glue:text}`plain.conv.autocorr.init:.2f` to
# {glue:text}`plain.conv.autocorr.trained:.2f` (fully connected net:
# {glue:text}`plain.fc.autocorr.init:.2f` to
# {glue:text}`plain.fc.autocorr.trained:.2f`), and its correlation with the input
# reaches {glue:text}`plain.conv.corr_input.trained:.2f`. Verdict on "structured
# because step (b) breaks": **{glue:text}`claims.structure_onset.verdict`**
# ({glue:text}`claims.structure_onset.measured`).
#
# GBP's class invariance does not come through training intact: its mean
# correlation across the ten logits goes from
# {glue:text}`gbp.conv.class_invariance.init:.2f` to
# {glue:text}`gbp.conv.class_invariance.trained:.2f` for the convnet and from
# {glue:text}`gbp.fc.class_invariance.init:.2f` to
# {glue:text}`gbp.fc.class_invariance.trained:.2f` for the fully connected net
# ({glue:text}`claims.gbp_invariance_trained.verdict`). The $\sigma(V)$ of GBP is a
# positive factor, but once $V$ depends on $\tilde w$ it is no longer the same
# positive factor for every class.
#
# ## Convnet against fully connected, trained
#
# Chapter 3 finds that GBP shows the input for the random convnet and not for the
# random fully connected net: "it is the local connections". Does that hold once
# both are trained?

# %% tags=["remove-cell"]
rows = [
    [LABEL[net], accuracy[net]["true"]["test"], corr_input[net]["init"],
     corr_input[net]["trained"], curves[net][0]["corr_limit"],
     curves[net][steps[net][-1]]["corr_limit"]]
    for net in curves
]  # fmt: skip
header = ["network", "test accuracy", "GBP ρ(input), init", "GBP ρ(input), trained"]
rec.table("conv_fc_table", header + ["ρ(limit), init", "ρ(limit), trained"], rows)
trained_input = {net: c["trained"] for net, c in corr_input.items()}
claim = "GBP shows the input for the convnet, not the fully connected net (trained)"
verdict = H.local_connections_trained_claim(trained_input)
rec.claim("local_connections_trained", "4, trained", claim, *verdict)

# %% [markdown]
# ```{glue:md} conv_fc_table
# :format: myst
# ```
#
# GBP's centred correlation with the input and with its limit (Eq. 5 for the
# convnet, $x/\lVert x\rVert$ for the fully connected net), at initialization and after
# training, mean over {glue:text}`n_measure` test digits. Verdict:
# **{glue:text}`claims.local_connections_trained.verdict`**
# ({glue:text}`claims.local_connections_trained.measured`). Training raises the fully
# connected net's GBP correlation with the input from
# {glue:text}`gbp.fc.corr_input.init:.2f` to {glue:text}`gbp.fc.corr_input.trained:.2f`
# and lowers the convnet's from {glue:text}`gbp.conv.corr_input.init:.2f` to
# {glue:text}`gbp.conv.corr_input.trained:.2f`: on trained networks the local
# connections no longer make the difference. Chapter 3's reading holds for random
# weights, where Eq. (5)'s average over filters is what makes the picture.
#
# ## The data randomization test
#
# {cite:t}`adebayo2018sanity`: a method whose map does not care which labels the
# network learned cannot explain what it learned. The MNIST CNN trained on the true
# labels and the one trained on the permuted labels are compared on
# {glue:text}`n_randomization` test digits, each map for its own model's top class,
# by chapter 7's four metrics.
#
# **The prediction, before measuring.** Data randomization retrains every layer, so
# Eq. (2) gives no layer that stays. Its reading in chapter 7 still sorts the
# methods: with $h = \sigma$ the upper layers reach the map only through a positive
# factor, and the map is the image seen through the first layer's active filters,
# which both models learn from the same digits; a factor computed with the plain
# rule follows the weights, which differ. So GBP and DeconvNet should survive
# permuted labels and the plain-gradient methods should not: the same per-method
# prediction as chapter 7, from the registry's ingredients.

# %% tags=["remove-input"]
rec("n_randomization", n_randomization)
rec.table("prediction_table", *H.prediction_rows(METHODS))

# %% [markdown]
# ```{glue:md} prediction_table
# :format: myst
# ```

# %%
xr = x_test[:n_randomization]  # the CNN is small: every map on the CPU
if smoothgrad_samples == 0:  # the sanity-checks paper's 50 where a GPU allows
    smoothgrad_samples = H.smoothgrad_samples_on(xr.device)
settings = H.attribution_settings(
    digits, digits.test_x[0], smoothgrad_samples, smoothgrad_noise, ig_steps, seed
)
randomization = H.data_randomization(
    runs["cnn", "true"].model, runs["cnn", "permuted"].model, xr, METHODS,
    insensitive_at, **settings,
)  # fmt: skip

# %% tags=["remove-input"]
shown_digits = 4
maps = {
    labels: H.attribution_maps(runs["cnn", labels].model, xr[:shown_digits], "max",
                               METHODS, **settings)[0]
    for labels in ("true", "permuted")
}  # fmt: skip
rows = [[digits.test_x[b] for b in range(shown_digits) for _ in range(2)]]
rows += [
    [H.normalize_map(maps[lab][m][b], "abs99") for b in range(shown_digits)
     for lab in ("true", "permuted")]
    for m in METHODS
]  # fmt: skip
SHORT_M = NAME | {"input_x_gradient": "grad ×\ninput", "integrated_gradients": "IG"}
SHORT_M |= {"guided_backprop": "GBP", "guided_gradcam": "Guided\nGrad-\nCAM"}
SHORT_M |= {
    "smoothgrad": "Smooth-\nGrad",
    "deconvnet": "Deconv-\nNet",
    "gradcam": "Grad-\nCAM",
}

# %% tags=["remove-output"]
fig = H.plot_grid(
    rows, row_labels=["digit"] + [SHORT_M[m] for m in METHODS],
    col_labels=["true", "perm."] * shown_digits, mode="abs99", cell=0.8,
)  # fmt: skip
rec.figure("fig_randomization_maps", fig)

# %% tags=["remove-cell"]
rec.update(data_randomization=randomization)
rec("smoothgrad_samples", smoothgrad_samples)
rec("ig_steps", ig_steps)
rec("insensitive_at", insensitive_at)
paper = H.mnist_2018(METHODS, insensitive_at)
rec.table("randomization_table", *H.data_randomization_rows(randomization, paper),
          n=n_randomization)  # fmt: skip
agree = [m for m, r in randomization.items() if r["verdict"] == "agree"]
tested = [m for m in METHODS if paper[m] is not None]
same = [m for m in tested if paper[m] == randomization[m]["measured_insensitive"]]
rec("n_agree", len(agree))
rec("n_methods", len(METHODS))
rec("n_mnist", len(tested))
rec("n_same_mnist", len(same))
rec(
    "disagree_list", H.method_list([m for m in METHODS if m not in agree]) or "none"
)
rec("different_list", H.method_list([m for m in tested if m not in same]) or "none")
rec.quote("data_randomization.guided_backprop.spearman_abs")
rec.quote("data_randomization.deconvnet.spearman_abs")
rec.quote("data_randomization.saliency.spearman_abs")
rec.quote("data_randomization.input_x_gradient.spearman_abs")
claim = (
    "Maps whose upper layers enter only through $\\sigma$ (GBP, DeconvNet) survive "
    "permuted labels; the others do not (per-method verdicts)"
)
verdict = H.prediction_claim(randomization)
rec.claim("randomization_prediction", "Eq. (2), trained", claim, *verdict)
claim = "The book's finding per method is the sanity-checks paper's (MNIST CNN)"
verdict = H.sanity_checks_claim(randomization, paper)
rec.claim("randomization_mnist", "Adebayo", claim, *verdict)

# %% [markdown]
# ```{glue:figure} fig_randomization_maps
# :name: fig-randomization-maps
#
# Four test digits, each method's map of the CNN trained on the true labels
# ("true") and on permuted labels ("perm."), each for its own model's top class
# ($|m|$ clipped at its 99th percentile).
# ```
#
# ```{glue:md} randomization_table
# :format: myst
# ```
#
# True-label model against permuted-label model: rank correlation of $|m|$ and of
# the signed map, SSIM and HOG, mean ± std over {glue:text}`n_randomization` test
# digits (over the digits where neither map is degenerate). "MNIST (2018)": the rank
# correlation of $|m|$ read off the sanity-checks paper's MNIST figure (approximate);
# a finding is "insensitive" at a rank correlation of at least
# {glue:text}`insensitive_at`, on both sides.
#
# **Verdicts.** The argument's prediction holds for {glue:text}`n_agree` of
# {glue:text}`n_methods` methods ({glue:text}`claims.randomization_prediction.verdict`;
# not for: {glue:text}`disagree_list`). GBP keeps a rank correlation of
# {glue:text}`data_randomization.guided_backprop.spearman_abs:.2f` between the two
# models, the saliency map
# {glue:text}`data_randomization.saliency.spearman_abs:.2f`. DeconvNet, predicted to
# survive, keeps only {glue:text}`data_randomization.deconvnet.spearman_abs:.2f`: it
# drops the forward ReLU masks, so nothing of the image but the max pools' switches
# passes the layers that were retrained. Its prediction leaned on $\sigma(V)$ with $V$
# random; here every layer learned something else. Gradient × input has
# {glue:text}`data_randomization.input_x_gradient.spearman_abs:.2f`, the input's
# magnitude carrying it, as in chapter 7. Beside the sanity-checks paper, the finding
# is theirs for {glue:text}`n_same_mnist` of {glue:text}`n_mnist` methods
# ({glue:text}`claims.randomization_mnist.verdict`; different for:
# {glue:text}`different_list`).
#
# ## Cost
#
# The chapter ran in {glue:text}`elapsed_s:.0f` s on the CPU, training included: six
# trainings, {glue:text}`n_checkpoints` checkpoints measured and the data
# randomization test at SmoothGrad's {glue:text}`smoothgrad_samples` copies and
# Integrated Gradients' {glue:text}`ig_steps` steps. Digits of {glue:text}`size`
# pixels, not larger, keep it there.

# %% tags=["remove-cell"]
rec("elapsed_s", time.perf_counter() - start)
rec("n_checkpoints", sum(len(s) for s in steps.values()))

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
