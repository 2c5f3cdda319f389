"""Krippendorff's alpha: the package's reference value and the project's coincidence-matrix version.

Shared by the stages that measure agreement (intercoder agreement on codes, raters' CFIR ratings):
a stage module must not import another stage's, so the statistics live here, not in ``agreement``.

* :func:`alpha_nominal` calls the ``krippendorff`` package: the reference the tables report;
* :func:`alpha_coincidence` is our own coincidence-matrix implementation (nominal, ordinal,
  interval, ratio). It lets the bootstrap recompute thousands of replicates with one matrix product
  (:func:`bootstrap_alpha`), which a per-replicate ``krippendorff.alpha`` loop cannot do fast.
  The tests hold both to 1e-12 and to Krippendorff's (2011) and Hayes & Krippendorff's (2007)
  published values.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal, Sequence

import krippendorff
import numpy as np
import pandas as pd

from qualflow.errors import InputError

__all__ = [
    "Level", "Bootstrap", "alpha_nominal", "alpha_coincidence", "undefined_reason", "bootstrap_alpha",
    "RELIABLE", "TENTATIVE", "DEFAULT_SEED", "REASON_UNUSED", "REASON_ALL_PRESENT", "REASON_NO_VARIATION", "REASON_FEW_UNITS",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
RELIABLE = 0.800   #: Krippendorff (2004): rely on variables with alpha >= .800
TENTATIVE = 0.667  #: ... and draw only tentative conclusions for .667 <= alpha < .800
DEFAULT_SEED = 20181017
REASON_UNUSED = "no coder used this code in the double-coded units"
REASON_ALL_PRESENT = "every pairable value is 'present': no variation"
REASON_NO_VARIATION = "every pairable value is the same: no variation"
REASON_FEW_UNITS = "fewer than two units coded by two coders"
_CHUNK = 256  # bootstrap replicates per matrix product: bounds memory at _CHUNK x units floats

# --------------------------------------------------------------------------------------------
# alpha: package and coincidence-matrix implementations
# --------------------------------------------------------------------------------------------

def _domain(matrix: np.ndarray, value_domain: Sequence[float] | None) -> np.ndarray:
    """Ordered value domain: given, or the values that occur (as the krippendorff package does)."""
    if value_domain is not None:
        return np.asarray(value_domain, dtype=float)
    return np.unique(matrix[~np.isnan(matrix)])


def _value_counts(matrix: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """n_uv: how many coders gave value v to unit u. matrix (..., coders, units) -> (..., units, V)."""
    # one pass per value (V is tiny) instead of a (..., coders, units, V) boolean temporary
    return np.stack([(matrix == v).sum(axis=-2) for v in domain], axis=-1)


def _unit_coincidences(counts: np.ndarray) -> np.ndarray:
    """Each unit's contribution to the coincidence matrix: (n_u n_u' - diag n_u) / (m_u - 1).

    Units with fewer than two values (m_u < 2) contribute nothing: they are not pairable.
    counts (..., V) -> (..., V, V). Summing over units gives Krippendorff's o_ck.
    """
    counts = counts.astype(float)
    m = counts.sum(axis=-1)
    with np.errstate(divide="ignore"):
        scale = np.where(m >= 2, 1.0 / (m - 1.0), 0.0)
    out = counts[..., :, None] * counts[..., None, :]
    diag = np.arange(counts.shape[-1])
    out[..., diag, diag] -= counts
    out *= scale[..., None, None]
    return out


def _delta2(domain: np.ndarray, level: Level, n_c: np.ndarray) -> np.ndarray:
    """Squared difference function delta^2_ck (Krippendorff 2011); ordinal uses the marginals."""
    v = domain
    if level == "nominal":
        return 1.0 - np.eye(len(v))
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ratio":
        s = v[:, None] + v[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(s != 0, ((v[:, None] - v[None, :]) / s) ** 2, 0.0)
    if level == "ordinal":
        cum = np.cumsum(n_c, axis=-1)
        before = cum - n_c                                   # sum of n_g for g < c
        i = np.arange(len(v))
        lo, hi = np.minimum.outer(i, i), np.maximum.outer(i, i)
        between = cum[..., hi] - before[..., lo]             # sum of n_g for lo <= g <= hi
        return (between - (n_c[..., :, None] + n_c[..., None, :]) / 2.0) ** 2
    raise ValueError(f"unknown level of measurement {level!r}")


def _alpha_from_coincidences(o: np.ndarray, domain: np.ndarray, level: Level) -> np.ndarray:
    """alpha = 1 - (n - 1) sum(o d) / sum(n_c n_k d), batched over leading axes; NaN when D_e = 0."""
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    d2 = _delta2(domain, level, n_c)
    d_o = (o * d2).sum(axis=(-2, -1))
    d_e = (n_c[..., :, None] * n_c[..., None, :] * d2).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1.0 - (n - 1.0) * d_o / d_e
    return np.where((d_e > 0) & (n > 1), a, np.nan)


def alpha_coincidence(matrix: np.ndarray | Sequence[Sequence[float]], level: Level = "nominal",
                      value_domain: Sequence[float] | None = None) -> float:
    """Krippendorff's alpha from the coincidence matrix (Krippendorff 2011), any level.

    Our own implementation, so the bootstrap can reuse the per-unit coincidences. ``matrix`` is
    coders x units with NaN for missing values. NaN when alpha is undefined (no pairable values or
    no variation: D_e = 0).
    """
    mat = np.asarray(matrix, dtype=float)
    domain = _domain(mat, value_domain)
    if len(domain) == 0:
        return float("nan")
    o = _unit_coincidences(_value_counts(mat, domain)).sum(axis=-3)
    return float(_alpha_from_coincidences(o, domain, level))


def undefined_reason(matrix: np.ndarray) -> str:
    """Why alpha of a coders x units presence matrix is undefined ("" when it is defined).

    Checked before computing so a table says *why* instead of crashing or printing a misleading
    1.0: fewer than two pairable units, nobody used the code, or everyone always did (D_e = 0).
    """
    mat = np.asarray(matrix, dtype=float)
    observed = ~np.isnan(mat)
    pairable = observed.sum(axis=0) >= 2
    if pairable.sum() < 2:
        return REASON_FEW_UNITS
    values = np.unique(mat[:, pairable][observed[:, pairable]])
    if len(values) > 1:
        return ""
    if values[0] == 0:
        return REASON_UNUSED
    if values[0] == 1:
        return REASON_ALL_PRESENT
    return REASON_NO_VARIATION


def alpha_nominal(matrix: np.ndarray | Sequence[Sequence[float]]) -> float:
    """Nominal alpha by the ``krippendorff`` package (the reference); NaN when undefined.

    The package raises on degenerate data; :func:`undefined_reason` names those cases instead.
    """
    mat = np.asarray(matrix, dtype=float)
    if undefined_reason(mat):
        return float("nan")
    return float(krippendorff.alpha(reliability_data=mat, level_of_measurement="nominal"))


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bootstrap:
    """Point estimate, replicate alphas and what a paper reports from them.

    For a stacked (keys x coders x units) input every field is an array over keys.
    ``q_below_800`` is the share of replicates with alpha < .800 (Hayes & Krippendorff's
    q(alpha < alpha_min)). Replicates whose resample has no variation (alpha undefined) are left
    out of the CI and the q's.
    """

    alpha: float | np.ndarray
    replicates: np.ndarray
    ci_low: float | np.ndarray
    ci_high: float | np.ndarray
    q_below_800: float | np.ndarray
    q_below_667: float | np.ndarray
    method: str


def _resample_counts(rng: np.random.Generator, n: int, reps: int) -> np.ndarray:
    """reps x n multinomial counts: how often each of n items is drawn in n draws with replacement."""
    idx = rng.integers(0, n, size=(reps, n)) + (np.arange(reps) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=reps * n).reshape(reps, n).astype(float)


def _method(n_boot: int, seed: int, n_clusters: int | None, cluster_label: str) -> str:
    """The bootstrap named as a methods section would name it."""
    if n_boot == 0:
        return "no bootstrap"
    if n_clusters is None:
        return f"unit bootstrap, {n_boot} replicates, percentile CI, seed {seed}"
    return (f"{cluster_label}-cluster bootstrap ({n_clusters} {cluster_label}s), {n_boot} replicates, "
            f"percentile CI, seed {seed}")


def _replicate_coincidences(contrib: np.ndarray, n_boot: int, seed: int,
                            clusters: np.ndarray | None) -> np.ndarray:
    """All replicates' coincidence matrices at once: resampling weights @ per-unit contributions.

    ``contrib`` is (units, J, V, V). Only the upper triangle (V(V+1)/2 numbers, the matrix is
    symmetric) goes through the matrix product. With clusters, contributions are first summed per
    cluster and the clusters are resampled. Returns (n_boot, J, V, V).
    """
    n_units, n_keys, n_v, _ = contrib.shape
    iu = np.triu_indices(n_v)
    flat = contrib[:, :, iu[0], iu[1]].reshape(n_units, -1)
    if clusters is not None:
        codes, uniq = pd.factorize(pd.Series(clusters).astype(str), sort=True)
        onehot = np.zeros((len(uniq), n_units))
        onehot[codes, np.arange(n_units)] = 1.0
        flat, n_items = onehot @ flat, len(uniq)
    else:
        n_items = n_units
    rng = np.random.Generator(np.random.PCG64(seed))
    tri = np.empty((n_boot, flat.shape[1]))
    for start in range(0, n_boot, _CHUNK):
        reps = min(_CHUNK, n_boot - start)
        tri[start:start + reps] = _resample_counts(rng, n_items, reps) @ flat
    tri = tri.reshape(n_boot, n_keys, -1)
    o = np.zeros((n_boot, n_keys, n_v, n_v))
    o[..., iu[0], iu[1]] = tri
    o[..., iu[1], iu[0]] = tri
    return o


def _summarise(reps: np.ndarray) -> tuple[np.ndarray, ...]:
    """Percentile 95% CI and q(alpha < .800), q(alpha < .667) over the defined replicates."""
    if reps.shape[-1] == 0:
        nan = np.full(reps.shape[:-1], np.nan)
        return nan, nan.copy(), nan.copy(), nan.copy()
    finite = np.isfinite(reps)
    n = finite.sum(axis=-1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(reps, [0.025, 0.975], axis=-1)
        q800 = np.where(n > 0, (finite & (reps < RELIABLE)).sum(axis=-1) / n, np.nan)
        q667 = np.where(n > 0, (finite & (reps < TENTATIVE)).sum(axis=-1) / n, np.nan)
    return lo, hi, q800, q667


def bootstrap_alpha(matrix: np.ndarray, n_boot: int = 2000, seed: int = DEFAULT_SEED,
                    clusters: Sequence[str] | np.ndarray | None = None, level: Level = "nominal",
                    value_domain: Sequence[float] | None = None,
                    cluster_label: str = "transcript") -> Bootstrap:
    """Bootstrap alpha by resampling units (or clusters of units, e.g. transcripts) with replacement.

    Fast by construction: each unit's coincidence contribution is computed once; a replicate is an
    integer weight vector (multinomial counts), so all replicates' coincidence matrices are one
    matrix product. ``matrix`` is coders x units, or keys x coders x units (all keys share the same
    resamples). Units with fewer than two values are not pairable and are not resampled. The same
    seed (numpy ``Generator(PCG64(seed))``) gives identical replicates.
    """
    if n_boot < 0:
        raise InputError("config/config.yaml", None, f"agreement: n_boot must be >= 0, not {n_boot}")
    mat = np.asarray(matrix, dtype=float)
    single = mat.ndim == 2
    stack = mat[None] if single else mat
    domain = _domain(stack, value_domain)
    if len(domain) == 0:
        domain = np.array([0.0, 1.0])
    pairable = (~np.isnan(stack)).sum(axis=1).max(axis=0) >= 2
    stack = stack[:, :, pairable]
    contrib = _unit_coincidences(_value_counts(stack, domain))          # keys x units x V x V
    point = _alpha_from_coincidences(contrib.sum(axis=1), domain, level)
    cl = None if clusters is None else np.asarray(clusters)[pairable]
    n_clusters = None if cl is None else len(pd.unique(pd.Series(cl)))
    if n_boot:
        o = _replicate_coincidences(contrib.transpose(1, 0, 2, 3), n_boot, seed, cl)
        reps = _alpha_from_coincidences(o, domain, level).T                # keys x n_boot
    else:
        reps = np.empty((stack.shape[0], 0))
    lo, hi, q800, q667 = _summarise(reps)
    method = _method(n_boot, seed, n_clusters, cluster_label)
    if single:
        return Bootstrap(float(point[0]), reps[0], float(lo[0]), float(hi[0]), float(q800[0]),
                         float(q667[0]), method)
    return Bootstrap(point, reps, lo, hi, q800, q667, method)
