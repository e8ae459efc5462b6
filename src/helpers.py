"""Helpers for the book *Why gradient visualizations look interpretable in untrained networks*.

The one module the chapters import (``import helpers as H``): it re-exports, by name, the public
API of the package :mod:`backpropvis`, whose modules follow the concepts of Nie (2017). Notation
follows the paper: ``N`` filters, ``J`` patches, ``p`` patch size (``3 * k * k`` for
``k x k x 3`` filters), ``c`` the weight scale (``std`` here), ``D_j`` patch extraction and
``h`` the backward rule applied at each ReLU.

Every random construct takes a seed; the same seed gives bitwise identical tensors
(:mod:`backpropvis.streams`).
"""

from __future__ import annotations

from backpropvis._checks import InputWarning
from backpropvis.attacks import attack_summary, fgsm, pgd
from backpropvis.attribution import backprop_map, backprop_maps, class_targets
from backpropvis.book import glue, glue_figure, markdown_table, save_metrics
from backpropvis.concentration import (
    concentration_errors,
    concentration_fit,
    concentration_rms,
    loglog_fit,
    loglog_slopes,
    mc_expected_h,
    mc_w_tilde,
)
from backpropvis.explorer import (
    EXPLORER_NETWORKS,
    Explorer,
    ExploreResult,
    ExplorerModel,
    ExploreSettings,
)
from backpropvis.guards import TooLargeError, available_bytes
from backpropvis.images import (
    MIN_IMAGE_SIZE,
    SAMPLE_PHOTOS,
    decode_image,
    edge_map,
    load_image,
    preprocess,
)
from backpropvis.method_study import (
    RandomizationRun,
    attribution_settings,
    class_invariance_by_method,
    class_invariance_claim,
    implementation_rows,
    method_list,
    method_results,
    prediction_claim,
    prediction_rows,
    quiet_attribution_warnings,
    randomization_run,
    resemblance,
    sanity_checks_claim,
    sanity_references,
    sanity_rows,
    verdict_rows,
)
from backpropvis.methods import (
    METHOD_INGREDIENTS,
    METHODS,
    SANITY_CHECKS_INSENSITIVE,
    Ingredients,
    SanityReference,
    attribution_maps,
    average_ranks,
    captum_rules_apply,
    gradcam_layer,
    hog_features,
    map_class_invariance,
    method_implementations,
    randomization_study,
    rule_maps,
    weight_changes,
)
from backpropvis.metrics import (
    SCORES,
    better_by_one_sd,
    border_gain,
    border_mask,
    centered_pearson,
    compare_by_score,
    cosine,
    edge_score,
    lag1_autocorrelation,
    mean_offdiagonal,
    mean_pearson_with,
    mean_std,
    noise_to_signal,
    normalize_map,
    pearson,
    relative_error,
    sanity_similarity,
    similarity_matrices,
    spearman,
    ssim,
)
from backpropvis.models import (
    MODEL_NAMES,
    TRAINED_MODELS,
    LoadedModel,
    default_device,
    imagenet_categories,
    load_model,
    model_names,
    untrained_twin,
)
from backpropvis.networks import FullyConnectedNet, MaxPoolConvNet, PatchNet1D, ThreeLayerConvNet
from backpropvis.params import as_list
from backpropvis.patches import (
    PADDINGS,
    padding_pixels,
    patch_coverage,
    patch_matrices,
    patch_norms,
)
from backpropvis.plotting import (
    label_axes,
    plot_convergence,
    plot_grid,
    plot_grouped_bars,
    plot_heatmaps,
    plot_randomization,
    plot_sweep,
    plot_two_displays,
)
from backpropvis.randomization import (
    LayerReadouts,
    conv_relus,
    randomization_curves,
    randomization_groups,
    randomizations,
    randomized_copy,
)
from backpropvis.record import Record
from backpropvis.rules import (
    RULES,
    UNSUPPORTED_ACTIVATIONS,
    backward_rule,
    eval_mode,
    h,
    switchable_rules,
)
from backpropvis.sweeps import conv_map_sweep, fc_map_sweep
from backpropvis.theory import (
    eq2_map_conv,
    eq2_sum,
    eq5_fitted_scale,
    expected_h,
    expected_w_tilde_norm,
    filter_terms,
    gbp_limit,
    gbp_limit_fc,
    last_layer_alignment,
    limit_weight,
    predicted_relative_error,
)
from backpropvis.verdicts import (
    CLASS_DEPENDENT,
    CLASS_INVARIANT,
    CORRECTED,
    NOT_REPRODUCED,
    PARTLY,
    REPRODUCED,
    VERDICTS,
    at_least,
    at_most,
    judge,
    near,
    versus_paper,
)

__all__ = [
    # bad input: warnings and the size guard
    "InputWarning",
    "TooLargeError",
    "available_bytes",
    # images
    "MIN_IMAGE_SIZE",
    "SAMPLE_PHOTOS",
    "decode_image",
    "edge_map",
    "load_image",
    "preprocess",
    # patches D_j and the padding rule
    "PADDINGS",
    "padding_pixels",
    "patch_coverage",
    "patch_matrices",
    "patch_norms",
    # networks: Eq. (1), Eq. (7), max pool, 1-D
    "FullyConnectedNet",
    "MaxPoolConvNet",
    "PatchNet1D",
    "ThreeLayerConvNet",
    # trained and untrained classifiers; randomization
    "MODEL_NAMES",
    "TRAINED_MODELS",
    "LoadedModel",
    "default_device",
    "imagenet_categories",
    "load_model",
    "model_names",
    "untrained_twin",
    "LayerReadouts",
    "conv_relus",
    "randomization_curves",
    "randomization_groups",
    "randomizations",
    "randomized_copy",
    # the backward rule h and its maps
    "RULES",
    "UNSUPPORTED_ACTIVATIONS",
    "backprop_map",
    "backprop_maps",
    "backward_rule",
    "class_targets",
    "eval_mode",
    "h",
    "switchable_rules",
    # sweeps over N and N_h
    "conv_map_sweep",
    "fc_map_sweep",
    # theory: Eq. (2), limits, concentration
    "eq2_map_conv",
    "eq2_sum",
    "expected_h",
    "expected_w_tilde_norm",
    "filter_terms",
    "gbp_limit",
    "gbp_limit_fc",
    "last_layer_alignment",
    "limit_weight",
    "eq5_fitted_scale",
    "predicted_relative_error",
    "concentration_errors",
    "concentration_fit",
    "concentration_rms",
    "loglog_fit",
    "loglog_slopes",
    "mc_expected_h",
    "mc_w_tilde",
    # metrics
    "SCORES",
    "better_by_one_sd",
    "compare_by_score",
    "border_gain",
    "border_mask",
    "centered_pearson",
    "cosine",
    "edge_score",
    "lag1_autocorrelation",
    "mean_offdiagonal",
    "mean_pearson_with",
    "mean_std",
    "noise_to_signal",
    "normalize_map",
    "pearson",
    "relative_error",
    "sanity_similarity",
    "similarity_matrices",
    "spearman",
    "ssim",
    # adversarial examples
    "attack_summary",
    "fgsm",
    "pgd",
    # figures
    "label_axes",
    "plot_convergence",
    "plot_grid",
    "plot_grouped_bars",
    "plot_heatmaps",
    "plot_randomization",
    "plot_sweep",
    "plot_two_displays",
    # the explorer (chapter 5)
    "EXPLORER_NETWORKS",
    "ExploreResult",
    "ExploreSettings",
    "Explorer",
    "ExplorerModel",
    # the book layer
    "glue",
    "glue_figure",
    "markdown_table",
    "save_metrics",
    "Record",
    "as_list",
    # the verdict rule (one for every claim of the book)
    "REPRODUCED",
    "PARTLY",
    "NOT_REPRODUCED",
    "CORRECTED",
    "VERDICTS",
    "CLASS_INVARIANT",
    "CLASS_DEPENDENT",
    "judge",
    "at_least",
    "at_most",
    "near",
    "versus_paper",
    # attribution methods beyond the paper's three (chapter 7)
    "METHODS",
    "METHOD_INGREDIENTS",
    "SANITY_CHECKS_INSENSITIVE",
    "Ingredients",
    "SanityReference",
    "attribution_maps",
    "average_ranks",
    "captum_rules_apply",
    "gradcam_layer",
    "hog_features",
    "map_class_invariance",
    "method_implementations",
    "randomization_study",
    "rule_maps",
    "weight_changes",
    "RandomizationRun",
    "attribution_settings",
    "class_invariance_by_method",
    "class_invariance_claim",
    "implementation_rows",
    "method_list",
    "method_results",
    "prediction_claim",
    "prediction_rows",
    "quiet_attribution_warnings",
    "randomization_run",
    "resemblance",
    "sanity_checks_claim",
    "sanity_references",
    "sanity_rows",
    "verdict_rows",
]
