"""What a chapter's regression baseline asserts, and how each asserted number is compared.

A baseline asserts what the book tells its reader and nothing else:

- every claim's verdict (exactly) and its measured text;
- every name the prose glues (``metrics["page"]["glued"]``) and every cell of every glued table
  (``metrics["page"]["tables"]``);
- a short, declared list of core numbers per chapter (``CHAPTERS[stem]["core"]`` in the tests'
  conftest): the numbers a bug in the science would move.

Every other number (curves, per-step spreads, numbers that only feed a figure) is *reported*:
stored in the baseline, its drift printed at the end of the test run, never failed on.

Kinds, first match wins (tests/book/baselines/README.md gives the reasons):

- ``timing``: seconds and load averages. Not asserted.
- ``small spread``: a standard deviation (a name or table column ending in ``std``) over fewer
  than ``MIN_SPREAD_N`` photos or seeds (``metrics["page"]["spreads"]`` says how many). Not
  asserted; a spread over more is compared by the kind of what it spreads, below.
- ``exact``: booleans, integers, ``None`` and strings without a decimal number (verdicts,
  names, counts).
- ``text``: a string with decimal numbers in it (a claim's measured text, a glued sentence):
  its words exactly, each decimal number within one unit of its last printed digit.
- ``attack``: statistics of adversarially attacked images (chapter 6): a mean within its
  standard error over photos, a spread within the standard error of a standard deviation, the
  size of the perturbation relatively, the flipped fraction within one photo.
- ``residual``: float64 identities that are zero up to rounding: absolute ``RESIDUAL_ATOL``.
- ``similarity``: correlations, SSIM, cosines, fractions (in [-1, 1]): absolute ``SIMILARITY``.
- ``magnitude``: every other number: relative ``MAGNITUDE_RTOL``.

**Drift measured, not guessed.** ``make baselines`` runs each chapter's smoke parameters on this
machine's own CPU kernels and again on other kernel paths (``VARIANTS``), and stores beside each
asserted number the largest difference it saw (its drift). The tolerance is the larger of the
kind's rule and ``DRIFT_FACTOR`` times that drift. A number whose drift exceeds what its
meaning allows (``MEANING``: 0.05 for a correlation) may not be asserted: ``make baselines``
fails, naming it, and the claim built on it must rest on something steadier.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

# The kinds' rules (tests/book/baselines/README.md: the table).
SIMILARITY = 2e-3
MAGNITUDE_RTOL = 2e-3
RESIDUAL_ATOL = 1e-9
ATTACK_RTOL = 1e-2
DRIFT_FACTOR = 4
MIN_SPREAD_N = 5
# The largest drift an asserted number may show across kernel paths: beyond it a number does not
# mean what the book says it means (absolute for correlations, relative otherwise).
MEANING = {"similarity": 0.05, "magnitude": 0.05, "attack": 0.05, "text": 0.05, "residual": 1e-6,
           "training count": 0.25}  # fmt: skip
# Counts of a training run (chapter 8's epochs to fit): a rounding difference moves the
# trajectory, and the epoch at which it crosses an accuracy moves by an epoch or two.
TRAINING_COUNT = re.compile(r"epoch", re.IGNORECASE)
# The kernel paths `make baselines` measures drift on, besides the machine's own.
VARIANTS = (
    {"ATEN_CPU_CAPABILITY": "default"},
    {"ATEN_CPU_CAPABILITY": "avx2"},
    {"OMP_NUM_THREADS": "1"},
)

TIMING = re.compile(r"(^|_)(time|times|seconds|elapsed|runtime|ms|s|load|load_avg)(_|$)|_time")
SPREAD = re.compile(r"(^|[._ ])std$")
ATTACK_MAP = re.compile(r"^adversarial\.[^.]+\.(fgsm|pgd)\.")
ATTACK_SIZE = re.compile(r"^attacks\.[^.]+\.(l2|l2_relative|linf_255)$")
ATTACK_FLIPPED = re.compile(r"^attacks\.[^.]+\.flipped$")
ATTACK_CLASS = re.compile(r"^attacks\.[^.]+\.new_top\[\d+\]$")
# Texts that quote attacked-image statistics (chapter 6's adversarial claim and table): their
# decimals move with the attacked image itself (see "attack"), so each may move by
# MEANING["attack"], not by one printed digit.
ATTACK_CLAIMS = ("adversarial",)
ATTACK_TABLE = re.compile(r"^page\.tables\.adversarial_table\.")
DECIMAL = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")
RESIDUAL = re.compile(
    r"^(eq2_errors_\w+\.\w+|eq2_max_abs_error|limit_valid_same_inner_max_diff"
    r"|deconv_change_between_photos)$"
)
SIMILARITY_NAME = re.compile(
    r"corr|rho|ρ|spearman|ssim|pearson|_cos$|cosine|autocorr|alignment|cross_photo|invariance"
    r"|edges|degenerate|top5|hog|accuracy",
    re.IGNORECASE,
)

Path = str  # a dotted path into the metrics, list items as [i]: "a.b[2].c"


def dotted(keys: tuple) -> Path:
    """``("a", 2, "c")`` as ``"a[2].c"``."""
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys).lstrip(".")


def split(path: Path) -> list:
    """The keys of a dotted path: ``"a[2].c"`` -> ``["a", 2, "c"]``."""
    keys: list = []
    for part in path.split("."):
        name, *idx = re.split(r"\[", part)
        if name:
            keys.append(name)
        keys += [int(i.rstrip("]")) for i in idx]
    return keys


def get(tree: Any, path: Path) -> Any:
    for k in split(path):
        tree = tree[k]
    return tree


def leaves(tree: Any, path: Path = "") -> dict[Path, Any]:
    """Every leaf of a metrics tree under its dotted path."""
    if isinstance(tree, dict):
        return {
            p: v for k, t in tree.items() for p, v in leaves(t, f"{path}.{k}".lstrip(".")).items()
        }
    if isinstance(tree, list):
        return {p: v for i, t in enumerate(tree) for p, v in leaves(t, f"{path}[{i}]").items()}
    return {path: tree}


@dataclass(frozen=True)
class Entry:
    """One asserted value: where it is, what it is, and what its kind is judged by (the path,
    or for a table cell its column header)."""

    path: Path
    value: Any
    name: str


def what_the_page_reads(metrics: dict, core: list[tuple]) -> dict[Path, Entry]:
    """The asserted entries of one chapter run: claims, glued names, glued tables, core."""
    out: dict[Path, Entry] = {}

    def add(path: Path, value: Any, name: str) -> None:
        for p, v in leaves(value, path).items():
            out[p] = Entry(p, v, name if p == path else p)

    for key, claim in metrics.get("claims", {}).items():
        for part in ("verdict", "measured"):
            add(f"claims.{key}.{part}", claim[part], f"claims.{key}.{part}")
    page = metrics.get("page", {})
    for name in page.get("glued", []):
        add(name, get(metrics, name), name)
    for tname, table in page.get("tables", {}).items():
        for i, row in enumerate(table["rows"]):
            for j, cell in enumerate(row):
                path = f"page.tables.{tname}.rows[{i}][{j}]"
                out[path] = Entry(path, cell, table["header"][j])
    for keys in core:
        path = dotted(keys)
        add(path, get(metrics, path), path)
    return out


def spread_n(entry: Entry, metrics: dict) -> int | None:
    """Over how many photos or seeds a spread is taken, as the chapter stated it."""
    spreads = metrics.get("page", {}).get("spreads", {})
    if entry.path.startswith("page.tables."):
        return spreads.get("tables." + entry.path.split(".")[2])
    return spreads.get(entry.path)


def kind(entry: Entry, metrics: dict) -> str:
    """The kind of an asserted entry (module docstring). A table cell is judged by its column
    header, any other entry by its path."""
    value, name, path = entry.value, entry.name, entry.path
    last = name.rsplit(".", 1)[-1]
    if TIMING.search(last.replace(" ", "_")) or ATTACK_CLASS.match(path):
        return "timing"  # (which wrong class an attack reaches is not a result of the book)
    if isinstance(value, str):
        return "text" if DECIMAL.search(value) else "exact"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "exact"
    if SPREAD.search(last):
        n = spread_n(entry, metrics)
        if n is None or n < MIN_SPREAD_N:
            return "small spread"
    if isinstance(value, int) and TRAINING_COUNT.search(name):
        return "training count"
    if isinstance(value, int) and not ATTACK_FLIPPED.match(path):
        return "exact"
    if ATTACK_MAP.match(path) or ATTACK_SIZE.match(path) or ATTACK_FLIPPED.match(path):
        return "attack"
    if RESIDUAL.match(path):
        return "residual"
    if SIMILARITY_NAME.search(name):
        return "similarity"
    return "magnitude"


#: Kinds that are not asserted at all.
NOT_ASSERTED = ("timing", "small spread")


def text_numbers(text: str) -> list[float]:
    return [float(x) for x in DECIMAL.findall(text)]


def _unit(token: str) -> float:
    """One unit of the last printed digit of a decimal: ``"0.360"`` -> 0.001."""
    mantissa = token.split("e")[0]
    digits = len(mantissa.split(".")[1])
    exp = int(token.split("e")[1]) if "e" in token else 0
    return 10.0 ** (exp - digits)


def rule_tolerance(k: str, entry: Entry, want: float, metrics: dict) -> float:
    """The kind's own tolerance for a number (before the measured drift widens it)."""
    if k == "residual":
        return RESIDUAL_ATOL
    if k == "similarity":
        return SIMILARITY
    if k == "attack":
        n = max(len(metrics.get("photos", [])), 2)
        path = entry.path
        if ATTACK_FLIPPED.match(path):
            return 1 / n + 1e-12
        if ATTACK_SIZE.match(path):
            return ATTACK_RTOL * abs(want)
        last = path.rsplit(".", 1)[-1]
        if last.endswith("_std"):
            return max(SIMILARITY, abs(want) / math.sqrt(2 * (n - 1)))
        parent = get(metrics, path.rsplit(".", 1)[0])
        spread = parent.get(f"{last}_std") if isinstance(parent, dict) else None
        if not isinstance(spread, (int, float)):
            return SIMILARITY
        return max(SIMILARITY, abs(spread) / math.sqrt(n))
    return MAGNITUDE_RTOL * abs(want) + RESIDUAL_ATOL


def drift_between(want: Any, got: Any) -> Any:
    """How far ``got`` is from ``want``: a number, a list (one per decimal of a text), or
    ``math.inf`` where they differ in kind or in words."""
    if isinstance(want, str):
        if not isinstance(got, str) or DECIMAL.sub("#", got) != DECIMAL.sub("#", want):
            return math.inf
        if not DECIMAL.search(want):
            return 0.0
        return [abs(a - b) for a, b in zip(text_numbers(got), text_numbers(want), strict=True)]
    if isinstance(want, bool) or not isinstance(want, (int, float)):
        return 0.0 if got == want and type(got) is type(want) else math.inf
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return math.inf
    if isinstance(want, int) and not isinstance(got, int):
        return math.inf
    if math.isnan(want) or math.isnan(got):
        return 0.0 if math.isnan(want) and math.isnan(got) else math.inf
    return float(abs(got - want))


def largest(a: Any, b: Any) -> Any:
    """The larger of two drifts (numbers, or lists of the same length); ``None`` is none yet."""
    if a is None:
        return b
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [max(x, y) for x, y in zip(a, b, strict=True)]
    if isinstance(a, list) or isinstance(b, list):
        return math.inf
    return max(a, b)


def unassertable(entry: Entry, k: str, drift: Any) -> str | None:
    """Why an entry may not be asserted: it drifts across kernel paths more than its meaning
    allows (``MEANING``), or, for an exact value, at all."""
    if k in NOT_ASSERTED:
        return None
    drifts = drift if isinstance(drift, list) else [drift]
    if any(math.isinf(d) for d in drifts):
        return f"{entry.path}: differs between kernel paths ({entry.value!r})"
    if k == "exact":
        moved = any(d != 0 for d in drifts if d is not None)
        return f"{entry.path}: differs between kernel paths ({entry.value!r})" if moved else None
    values = text_numbers(entry.value) if k == "text" else [entry.value]
    for v, d in zip(values, drifts, strict=True):
        if k in ("magnitude", "training count"):
            limit = MEANING[k] * abs(v)
        elif k == "text":
            limit = MEANING[k] * max(1.0, abs(v))
        else:
            limit = MEANING[k]
        if d > limit:
            return f"{entry.path}: drifts {d:.3g} across kernel paths ({k}, value {v!r})"
    return None


def attack_text(path: str, metrics: dict) -> bool:
    """Whether the text at ``path`` quotes attacked-image statistics (:data:`ATTACK_CLAIMS`)."""
    if ATTACK_TABLE.match(path):
        return True
    claims = metrics.get("claims", {})
    rows = metrics.get("page", {}).get("tables", {}).get("claims_table", {}).get("rows", [])
    for key in ATTACK_CLAIMS:
        if key not in claims:
            continue
        if path.startswith(f"claims.{key}."):
            return True
        for i, row in enumerate(rows):
            if row[1:2] == [claims[key]["claim"]] and path.startswith(
                f"page.tables.claims_table.rows[{i}]"
            ):
                return True
    return False


def check(entry: Entry, got: Any, drift: Any, metrics: dict) -> str | None:
    """``None`` when the new value ``got`` of an asserted entry agrees with the baseline's
    ``entry.value`` within its tolerance; else the difference, named."""
    k = kind(entry, metrics)
    want = entry.value
    if k in NOT_ASSERTED:
        return None
    diff = drift_between(want, got)
    if k == "exact":
        return None if diff == 0 else f"{entry.path}: {got!r} != {want!r} (exact)"
    if k == "text":
        if not isinstance(diff, list):
            return f"{entry.path}: {got!r} != {want!r} (text: words differ)"
        tokens = DECIMAL.findall(want)
        drifts = drift if isinstance(drift, list) else [0.0] * len(tokens)
        for tok, d, measured in zip(tokens, diff, drifts, strict=True):
            v = float(tok)
            floor = SIMILARITY if abs(v) <= 1 else MAGNITUDE_RTOL * abs(v)
            if attack_text(entry.path, metrics):
                floor = max(floor, MEANING["attack"])
            tol = max(_unit(tok), floor, DRIFT_FACTOR * measured)
            if d > tol + 1e-12:
                return f"{entry.path}: {got!r} != {want!r} (text: {tok} moved {d:.3g} > {tol:.3g})"
        return None
    if math.isinf(diff):
        return f"{entry.path}: {got!r} != baseline {want!r} ({k})"
    tol = max(rule_tolerance(k, entry, want, metrics), DRIFT_FACTOR * float(drift))
    if diff <= tol:
        return None
    return f"{entry.path}: {got!r} != baseline {want!r} ({k}, |diff| {diff:.3g} > {tol:.3g})"


def compare(got: dict, baseline: dict, core: list[tuple]) -> list[str]:
    """Every asserted entry of ``baseline`` against the new metrics ``got``; also the set of
    asserted paths, which changes when the page reads something new."""
    entries = {p: Entry(p, e["value"], e["name"]) for p, e in baseline["asserted"].items()}
    now = {
        p: e for p, e in what_the_page_reads(got, core).items() if kind(e, got) not in NOT_ASSERTED
    }
    diffs = []
    added, gone = sorted(set(now) - set(entries)), sorted(set(entries) - set(now))
    if added or gone:
        diffs.append(f"the page reads other numbers: new {added[:5]}, gone {gone[:5]}")
    for path, entry in entries.items():
        if path in now:
            d = check(
                entry, now[path].value, baseline["asserted"][path]["drift"], baseline["reported"]
            )
            if d:
                diffs.append(d)
    return diffs


def reported_drift(got: dict, want: dict) -> list[tuple[float, str]]:
    """``(|difference|, path)`` of every reported number that moved, largest first; keys or
    lengths that changed count as infinite."""
    a, b = leaves(got), leaves(want)
    moved = []
    for path in set(a) | set(b):
        if path.startswith("page."):
            continue
        if path not in a or path not in b:
            moved.append((math.inf, path))
            continue
        if any(TIMING.search(part) for part in re.split(r"[.\[]", path)):
            continue
        d = drift_between(b[path], a[path])
        d = max(d) if isinstance(d, list) and d else (0.0 if isinstance(d, list) else d)
        if d > 0:
            moved.append((d, path))
    return sorted(moved, reverse=True)
