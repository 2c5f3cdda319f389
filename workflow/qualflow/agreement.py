"""Stage 6, intercoder agreement: Krippendorff's alpha per code, per theme and pooled.

The unit of agreement is a participant's speaker turn in the English pseudonymised transcript
(DESIGN.md, "Unit of agreement"). For each code, a coder's value for a unit is 1 (the code is
present: one or more of the coder's spans carry it), 0 (the coder coded the transcript and did not
use the code there), or missing (the coder did not code that transcript). Only transcripts coded by
two or more coders take part. Alpha is nominal, on presence/absence (Krippendorff 2011).

Everything here is a pure function of DataFrames/arrays: the Snakemake script reads the TSVs, calls
:func:`agreement_tables`, :func:`disagreements` and :func:`summary_markdown`, and writes the results.

The statistics themselves (the package's alpha as the reference, the coincidence-matrix alpha at
every level, the bootstrap) live in :mod:`qualflow.alpha`, shared with the CFIR raters' comparison.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from qualflow.alpha import (DEFAULT_SEED, RELIABLE, REASON_FEW_UNITS, REASON_UNUSED, TENTATIVE,
                            _alpha_from_coincidences, _method, _replicate_coincidences, _summarise,
                            _unit_coincidences, _value_counts, alpha_nominal, undefined_reason)
from qualflow.errors import InputError, Problem, raise_if

__all__ = [
    "Presence", "KappaResult",
    "presence_matrix", "nvivo_kappa", "agreement_tables", "disagreements",
    "summary_markdown", "software_versions",
    "RELIABLE", "TENTATIVE", "POOLED",
]


POOLED = "(pooled)"
NOT_CODED = "(not coded)"

REASON_THEME_UNUSED = "no coder used any of this theme's codes in the double-coded units"
REASON_KAPPA_USERS = "NVivo's kappa compares two users"
# Alpha for a code present in fewer units than this is "not estimable" (docs/outputs.md): with a
# handful of presences one disagreement moves alpha by tenths and the bootstrap CI degenerates to
# [0, 1] or [1, 1], so a point estimate would be read as "reliable" or "tentative" on no evidence.
# config: agreement.min_present.
MIN_PRESENT = 10


def reason_not_estimable(n_present: int, minimum: int) -> str:
    return (f"not estimable: present in {n_present} unit(s), fewer than {minimum} "
            "(agreement.min_present)")


def reason_kappa_never_used(coders: Sequence[str]) -> str:
    return (f"kappa_nvivo not shown: {', '.join(coders)} never used it here, so NVivo's average would "
            "count every transcript where neither coder used it as kappa 1")


_COLUMNS = {
    "codings": ["site", "transcript", "turn", "coder", "code", "theme", "origin"],
    "units": ["unit", "site", "transcript", "turn", "speaker", "text"],
    "coverage": ["transcript", "coder"],
    "codebook": ["code", "label", "theme", "origin"],
    "themes": ["theme", "label"],
}


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------

def _path(df: pd.DataFrame, name: str) -> str:
    """Where a table came from, so errors point at the file (the script sets ``df.attrs['path']``)."""
    return str(df.attrs.get("path", name))


def _line(df: pd.DataFrame, pos: int) -> int | None:
    """1-based file line of a row read straight from a TSV with a header (None if unknown)."""
    return pos + 2 if "path" in df.attrs else None


def _require(df: pd.DataFrame, name: str) -> None:
    """Stop early with the missing columns named, rather than a KeyError deep inside."""
    missing = [c for c in _COLUMNS[name] if c not in df.columns]
    if missing:
        raise InputError(_path(df, name), 1, f"missing column(s): {', '.join(missing)}")


def _int_turns(df: pd.DataFrame, name: str) -> pd.Series:
    """Turns as int64; a turn that is not a whole number is the user's mistake."""
    num = pd.to_numeric(df["turn"], errors="coerce")
    bad = num.isna() | (num != np.floor(num))
    if bad.any():
        raise_if([Problem(_path(df, name), _line(df, int(p)),
                          f"turn {df['turn'].iloc[p]!r} is not a whole number")
                  for p in np.flatnonzero(bad.to_numpy())[:20]])
    return num.astype("int64")


def _check_codebook(codebook: pd.DataFrame, themes: pd.DataFrame | None) -> None:
    """Codes unique, origins known, every code's theme listed: the tables are keyed on these."""
    _require(codebook, "codebook")
    problems: list[Problem] = []
    dup = codebook["code"].duplicated()
    for p in np.flatnonzero(dup.to_numpy()):
        problems.append(Problem(_path(codebook, "codebook"), _line(codebook, int(p)),
                                f"code {codebook['code'].iloc[p]!r} is listed twice"))
    bad = ~codebook["origin"].isin(["deductive", "inductive"])
    for p in np.flatnonzero(bad.to_numpy()):
        problems.append(Problem(_path(codebook, "codebook"), _line(codebook, int(p)),
                                f"origin {codebook['origin'].iloc[p]!r} is not deductive|inductive"))
    if themes is not None:
        _require(themes, "themes")
        unknown = ~codebook["theme"].isin(themes["theme"])
        for p in np.flatnonzero(unknown.to_numpy()):
            problems.append(Problem(_path(codebook, "codebook"), _line(codebook, int(p)),
                                    f"theme {codebook['theme'].iloc[p]!r} of code "
                                    f"{codebook['code'].iloc[p]!r} is not in the themes list"))
    raise_if(problems)


def _double_coded(coverage: pd.DataFrame) -> pd.DataFrame:
    """Coverage restricted to transcripts coded by two or more coders: the agreement data."""
    _require(coverage, "coverage")
    cov = coverage[["transcript", "coder"]].astype(str).drop_duplicates()
    n = cov.groupby("transcript")["coder"].transform("size")
    return cov[n >= 2].reset_index(drop=True)


def _natural_rank(values: pd.Series) -> pd.Series:
    """Rank strings so FG2 sorts before FG10; loops over distinct values only."""
    uniq = pd.unique(values.astype(str))

    def key(s: str) -> tuple:
        return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", s))

    order = {v: i for i, v in enumerate(sorted(uniq, key=key))}
    return values.astype(str).map(order)


def _units_frame(units: pd.DataFrame) -> pd.DataFrame:
    """Units with int turns, checked unique, in a stable (transcript, turn) order."""
    _require(units, "units")
    u = units.copy()
    u["turn"] = _int_turns(units, "units")
    for col in ("unit", "site", "transcript"):
        u[col] = u[col].astype(str)
    problems = []
    for cols, what in ((["unit"], "unit"), (["transcript", "turn"], "transcript and turn")):
        dup = u.duplicated(cols)
        for p in np.flatnonzero(dup.to_numpy())[:20]:
            problems.append(Problem(_path(units, "units"), _line(units, int(p)),
                                    f"{what} {tuple(u[cols].iloc[p])} is listed twice"))
    raise_if(problems)
    u["_t"] = _natural_rank(u["transcript"])
    return u.sort_values(["_t", "turn"], kind="stable").drop(columns="_t").reset_index(drop=True)


def _codings_frame(codings: pd.DataFrame, coverage: pd.DataFrame,
                   codebook: pd.DataFrame) -> pd.DataFrame:
    """Codings checked against the codebook and the coverage; one row per code/unit/coder span."""
    _require(codings, "codings")
    c = codings.copy()
    c["turn"] = _int_turns(codings, "codings")
    for col in ("transcript", "coder", "code"):
        c[col] = c[col].astype(str)
    problems = []
    unknown = ~c["code"].isin(codebook["code"].astype(str))
    for p in np.flatnonzero(unknown.to_numpy())[:20]:
        problems.append(Problem(_path(codings, "codings"), _line(codings, int(p)),
                                f"code {c['code'].iloc[p]!r} is not in the codebook"))
    cov = coverage[["transcript", "coder"]].astype(str).drop_duplicates()
    m = c.merge(cov.assign(_cov=True), on=["transcript", "coder"], how="left")
    uncovered = m["_cov"].isna().to_numpy()
    for p in np.flatnonzero(uncovered)[:20]:
        problems.append(Problem(_path(codings, "codings"), _line(codings, int(p)),
                                f"coder {c['coder'].iloc[p]!r} has codings in "
                                f"{c['transcript'].iloc[p]!r} but the coverage table does not "
                                f"list that transcript for that coder"))
    raise_if(problems)
    return c


# --------------------------------------------------------------------------------------------
# presence matrices
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Presence:
    """Reliability data for many variables at once: ``values[key, coder, unit]`` in {1, 0, NaN}.

    Kept as one array (not a dict of DataFrames) so every statistic is vectorised over keys.
    ``units`` holds the unit rows (unit, site, transcript, turn, group columns, ...) aligned with the last
    axis; only units of transcripts coded by two or more coders are included.
    """

    keys: list[str]
    coders: list[str]
    units: pd.DataFrame
    values: np.ndarray

    def matrix(self, key: str) -> np.ndarray:
        """The coders x units matrix of one code or theme, as ``krippendorff.alpha`` expects it."""
        return self.values[self.keys.index(key)]


def presence_matrix(codings: pd.DataFrame, units: pd.DataFrame, coverage: pd.DataFrame,
                    codebook: pd.DataFrame, themes: pd.DataFrame | None = None,
                    level: Literal["code", "theme"] = "code") -> Presence:
    """Coders x units presence (1/0/NaN) per code, or per theme (present if any of its codes is).

    Built by scattering the codings into a zero array and masking with coverage (NaN where the coder
    did not code the transcript) -- no loop over units. Several spans of the same code in the same
    turn by the same coder count once: presence is what is compared. A code's theme comes from the
    codebook. Codings on turns that are not units (facilitators) are dropped.
    """
    _check_codebook(codebook, themes if level == "theme" else None)
    cov = _double_coded(coverage)
    if cov.empty:
        raise InputError(_path(coverage, "coverage"), None,
                         "no transcript is coded by two or more coders, so agreement cannot be "
                         "computed: have at least two coders code the same transcripts")
    u = _units_frame(units)
    u = u[u["transcript"].isin(cov["transcript"])].reset_index(drop=True)
    c = _codings_frame(codings, coverage, codebook)

    coders = sorted(cov["coder"].unique())
    book = codebook.astype({"code": str, "theme": str})
    if level == "code":
        keys = book["code"].tolist()
        key_of_code = dict(zip(keys, range(len(keys))))
    else:
        keys = (themes["theme"].astype(str).tolist() if themes is not None
                else list(dict.fromkeys(book["theme"])))
        pos = {t: i for i, t in enumerate(keys)}
        key_of_code = {code: pos[t] for code, t in zip(book["code"], book["theme"])}

    transcripts = pd.Index(pd.unique(u["transcript"]))
    coder_ix = pd.Index(coders)
    covered_ct = np.zeros((len(coders), len(transcripts)), dtype=bool)
    covered_ct[coder_ix.get_indexer(cov["coder"]), transcripts.get_indexer(cov["transcript"])] = True
    covered = covered_ct[:, transcripts.get_indexer(u["transcript"])]      # coders x units

    unit_pos = pd.Series(np.arange(len(u)), index=pd.MultiIndex.from_frame(u[["transcript", "turn"]]))
    ui = unit_pos.reindex(pd.MultiIndex.from_frame(c[["transcript", "turn"]])).to_numpy()
    keep = ~np.isnan(ui)
    vals = np.zeros((len(keys), len(coders), len(u)))
    vals[c["code"][keep].map(key_of_code).to_numpy(int),
         coder_ix.get_indexer(c["coder"][keep]), ui[keep].astype(int)] = 1.0
    vals[:, ~covered] = np.nan
    return Presence(keys=keys, coders=coders, units=u, values=vals)


# --------------------------------------------------------------------------------------------
# NVivo-style kappa
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KappaResult:
    """Kappa per transcript (``per_transcript``: transcript, n_units, n_coders, kappa) and the
    unit-weighted average, with the reason when it is NaN."""

    per_transcript: pd.DataFrame
    kappa: float
    reason: str


def _kappa_batch(vals: np.ndarray, tcodes: np.ndarray, n_t: int) -> tuple[np.ndarray, np.ndarray,
                                                                          np.ndarray]:
    """NVivo's kappa per key and transcript, vectorised: returns (kappa K x T, units T, coders T).

    Per transcript with exactly two coders A and B on N turns: TA = turns both or neither coded,
    EF = (m_A m_B + (N - m_A)(N - m_B)) / N, kappa = (TA - EF) / (N - EF), and 1 when N = EF
    (neither coder, or both, coded every turn: NVivo's "complete agreement").
    """
    # Sums per transcript over its units (the last axis), by one reduceat over the units sorted by
    # transcript: a units x transcripts indicator matrix grew with the square of the study (issue 14:
    # 480 MB and 3 s of this stage at 1,000 transcripts). Sums of 0/1 values: exact either way.
    order = np.argsort(tcodes, kind="stable")
    sorted_t = np.asarray(tcodes)[order]
    starts = np.flatnonzero(np.r_[True, sorted_t[1:] != sorted_t[:-1]]) if len(order) else np.zeros(0, int)
    present = sorted_t[starts]

    def per_transcript(a: np.ndarray) -> np.ndarray:
        out = np.zeros(a.shape[:-1] + (n_t,))
        if len(order):
            out[..., present] = np.add.reduceat(a[..., order], starts, axis=-1)
        return out

    observed = ~np.isnan(vals[0])                                        # coverage: same for all keys
    n_coders = (per_transcript(observed.astype(float)) > 0).sum(axis=0)
    n_units = np.bincount(np.asarray(tcodes, dtype=np.int64), minlength=n_t).astype(float)
    x = np.nan_to_num(vals)
    marg = per_transcript(x)                                             # K x C x T: m_c per transcript
    s = x.sum(axis=1)                                                    # K x N: coders with the code
    agree = per_transcript(((s == 2) | ((s == 0) & (observed.sum(axis=0) == 2))).astype(float))
    sum_m, sum_m2 = marg.sum(axis=1), (marg ** 2).sum(axis=1)
    m_ab = (sum_m ** 2 - sum_m2) / 2.0                                    # m_A m_B when two coders
    num_den = n_units * sum_m - 2.0 * m_ab                               # N (N - EF), exact integers
    with np.errstate(divide="ignore", invalid="ignore"):
        ef = (m_ab + (n_units - sum_m) * n_units + m_ab) / n_units       # (mAmB + (N-mA)(N-mB)) / N
        kappa = np.where(num_den == 0, 1.0, (agree - ef) / (n_units - ef))
    kappa = np.where(n_coders == 2, kappa, np.nan)
    return kappa, n_units, n_coders


def _weighted_kappa(kappa: np.ndarray, n_units: np.ndarray, n_coders: np.ndarray) -> tuple[float, str]:
    """Unit-weighted mean over transcripts (and keys, for a pool); NaN if any transcript has >2."""
    if (n_coders > 2).any():
        return float("nan"), REASON_KAPPA_USERS
    w = np.broadcast_to(n_units, kappa.shape)
    if w.sum() == 0:
        return float("nan"), REASON_FEW_UNITS
    return float((kappa * w).sum() / w.sum()), ""


def nvivo_kappa(matrix: np.ndarray, transcripts: Sequence[str] | np.ndarray) -> KappaResult:
    """Cohen's kappa the way NVivo's coding comparison reports it, on turns instead of characters.

    NVivo computes kappa per node and per source from character-level agreement, reports kappa 1
    when neither user coded the node in a source (complete agreement), and its help suggests
    averaging over sources weighted by source size. Here the unit is the turn: kappa per code per
    transcript on that transcript's turns, averaged over transcripts weighted by their number of
    turns. So a long turn weighs as much as a short one, and transcripts weigh by turns, not
    characters: the numbers will differ from NVivo's on the same coding. Only two coders can be
    compared (NaN with a reason otherwise). Reported beside alpha because many qualitative teams
    know NVivo's figure; its 1 for "nobody coded it" is exactly the misleading value alpha avoids.
    """
    mat = np.asarray(matrix, dtype=float)
    tcodes, uniq = pd.factorize(pd.Series(np.asarray(transcripts)).astype(str), sort=True)
    kappa, n_units, n_coders = _kappa_batch(mat[None], tcodes, len(uniq))
    avg, reason = _weighted_kappa(kappa[0], n_units, n_coders)
    per = pd.DataFrame({"transcript": list(uniq), "n_units": n_units.astype(int),
                        "n_coders": n_coders.astype(int), "kappa": kappa[0]})
    return KappaResult(per, avg, reason)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------

def _key_stats(vals: np.ndarray, coders: list[str], min_present: int = 0) -> dict[str, np.ndarray | list]:
    """Per-key n_units, n_present, n_coders, alpha (package), reason, % agreement, coder prevalences.

    ``n_present``: pairable units where any coder used the key. Below ``min_present`` alpha is not
    estimable (NaN with the reason) even where it is defined."""
    observed = ~np.isnan(vals)
    m = observed.sum(axis=1)                                             # K x N
    pairable = m >= 2
    ones = np.nansum(vals, axis=1)
    n_units = pairable.sum(axis=1)
    agree = ((ones == 0) | (ones == m)) & pairable
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(n_units > 0, agree.sum(axis=1) / n_units, np.nan)
        obs_p = observed & pairable[:, None, :]
        prev = np.where(obs_p.sum(axis=2) > 0,
                        np.where(obs_p, np.nan_to_num(vals), 0).sum(axis=2) / obs_p.sum(axis=2),
                        np.nan)                                          # K x C
    n_coders = (obs_p.sum(axis=2) > 0).sum(axis=1)
    n_present = ((ones > 0) & pairable).sum(axis=1)
    reasons = [undefined_reason(v) for v in vals]
    reasons = [r or (reason_not_estimable(int(n), min_present) if n < min_present else "")
               for r, n in zip(reasons, n_present)]
    alphas = np.array([np.nan if r else alpha_nominal(v) for v, r in zip(vals, reasons)])
    out: dict[str, np.ndarray | list] = {"n_units": n_units, "n_present": n_present, "n_coders": n_coders,
                                         "alpha": alphas, "undefined": reasons, "pct_agreement": pct}
    for i, c in enumerate(coders):
        out[f"prevalence_{c}"] = prev[:, i]
    return out


def _stacked(vals: np.ndarray) -> np.ndarray:
    """keys x coders x units -> coders x (keys*units): every code x unit decision as one unit."""
    return vals.transpose(1, 0, 2).reshape(vals.shape[1], -1)




def _scope_tables(code_vals: np.ndarray, theme_vals: np.ndarray, units: pd.DataFrame,
                  coders: list[str], pools: list[tuple[str, str, np.ndarray]], n_boot: int,
                  seed: int, cluster: bool,
                  min_present: int = MIN_PRESENT) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Statistics of one unit scope for codes, themes and pools, sharing one set of resamples."""
    pairable = (~np.isnan(code_vals[0])).sum(axis=0) >= 2
    code_vals, theme_vals = code_vals[:, :, pairable], theme_vals[:, :, pairable]
    transcripts = units["transcript"].to_numpy()[pairable]
    codes_df = pd.DataFrame(_key_stats(code_vals, coders, min_present))
    themes_df = pd.DataFrame(_key_stats(theme_vals, coders, min_present))

    used = np.nansum(code_vals, axis=(1, 2)) > 0
    pool_rows = []
    for scope, label, member in pools:
        sel = member & used
        stack = _stacked(code_vals[sel])
        st = _key_stats(stack[None], coders, min_present)
        st = {k: v[0] for k, v in st.items()}
        st["n_units"] = int(pairable.sum())
        if not sel.any():
            st["undefined"] = REASON_UNUSED if pairable.sum() >= 2 else REASON_FEW_UNITS
        pool_rows.append({"scope": scope, "label": label, **st})
    pools_df = pd.DataFrame(pool_rows)

    # one bootstrap for every code, theme and pool of the scope
    domain = np.array([0.0, 1.0])
    c_code = _unit_coincidences(_value_counts(code_vals, domain))      # K x N x 2 x 2
    c_theme = _unit_coincidences(_value_counts(theme_vals, domain))
    c_pool = [c_code[m & used].sum(axis=0) for _, _, m in pools]
    contrib = np.concatenate([c_code, c_theme, np.stack(c_pool)] if pools else [c_code, c_theme])
    n_clusters = len(pd.unique(transcripts)) if cluster else None
    if n_boot and contrib.shape[1] > 0:
        o = _replicate_coincidences(contrib.transpose(1, 0, 2, 3), n_boot, seed,
                                    transcripts if cluster else None)
        reps = _alpha_from_coincidences(o, domain, "nominal").T
    else:
        reps = np.full((contrib.shape[0], 0), np.nan)
    lo, hi, q800, q667 = _summarise(reps)
    method = _method(n_boot, seed, n_clusters, "transcript")

    tcodes, tuniq = pd.factorize(pd.Series(transcripts), sort=True)
    k_code, n_t, n_ct = _kappa_batch(code_vals, tcodes, len(tuniq))
    k_theme, _, _ = _kappa_batch(theme_vals, tcodes, len(tuniq))

    offsets = np.cumsum([0, len(codes_df), len(themes_df), len(pools_df)])
    for df, (a, b), kap, members in (
            (codes_df, offsets[0:2], k_code, None), (themes_df, offsets[1:3], k_theme, None),
            (pools_df, offsets[2:4], None, [m & used for _, _, m in pools])):
        defined = np.array([not r for r in df["undefined"]], dtype=bool) if len(df) else np.zeros(0, bool)
        for col, arr in (("ci_low", lo), ("ci_high", hi), ("q_below_800", q800),
                         ("q_below_667", q667)):
            df[col] = np.where(defined, arr[a:b], np.nan)
        if kap is not None:
            res = [_weighted_kappa(kap[i], n_t, n_ct) for i in range(len(df))]
        else:
            res = [_weighted_kappa(k_code[m], n_t, n_ct) if m.any() else (float("nan"), REASON_UNUSED)
                   for m in members]
        # A coder who compared units but never used the key: NVivo's per-transcript kappa is 1 where
        # neither used it, and the weighted average reads high (0.75) on no agreement at all.
        prev = df[[f"prevalence_{c}" for c in coders]].to_numpy(dtype=float) if len(df) else np.zeros((0, 0))
        never = [[c for c, p in zip(coders, row) if p == 0] if n > 0 else []
                 for row, n in zip(prev, df["n_present"])]
        res = [(float("nan"), reason_kappa_never_used(nv)) if nv else r for r, nv in zip(res, never)]
        df["kappa_nvivo"] = [r[0] for r in res]
        df["undefined"] = [u if not kr or kr == u else (f"{u}; " if u else "") +
                           (kr if kr.startswith("kappa_nvivo") else f"kappa_nvivo: {kr}")
                           for u, (_, kr) in zip(df["undefined"], res)]
        df["method"] = method
    return codes_df, themes_df, pools_df


def agreement_tables(codings: pd.DataFrame, units: pd.DataFrame, coverage: pd.DataFrame,
                     codebook: pd.DataFrame, themes: pd.DataFrame, n_boot: int = 2000,
                     seed: int = DEFAULT_SEED, cluster_by_transcript: bool = False,
                     min_present: int = MIN_PRESENT, groups: Sequence[str] = (),
                     orders: Mapping[str, Sequence[str]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """by_code and by_theme agreement tables, for all units and broken down by site and each group.

    ``groups`` are unit columns to break down by after site, in order: the study's comparison groups
    (config ``groups``, e.g. ``setting``) and ``wave`` when the study has waves. A group's values are
    in alphabetical order unless ``orders`` gives them (waves: in time order); units with an empty
    value belong to no scope of that group.

    Each row: alpha (nominal, presence/absence; ``krippendorff`` package), bootstrap 95% CI and
    q(alpha < .800), q(alpha < .667), n_units (turns coded by >= 2 coders), n_coders, %
    agreement (share of units where all coders who coded it agree), each coder's prevalence (share
    of the coder's units with the code present), NVivo-style kappa, the reason when alpha is
    undefined, and the bootstrap method.

    by_code also has ``code = "(pooled)"`` rows: alpha over all code x unit presence decisions
    stacked as if each were a unit, for scope ``all`` and per site/group value, and pooled over the
    deductive codes and over the inductive codes (scope ``origin:<origin>``, all units). Codes
    nobody used in the scope's double-coded units are left out of a pool: they would add only
    agreement on absence and inflate it. The pooled bootstrap resamples turns with all their
    decisions; its n_units counts turns, its % agreement and prevalences count decisions.

    All codes, themes and pools of a scope share the same resamples; every scope is seeded with
    ``seed``, so a site's rows do not change when another site is added. Rows: scope (all, sites,
    each group's values, origins), then pooled, then codebook/theme order; floats rounded to 6
    decimals.
    """
    _check_codebook(codebook, themes)
    missing = [g for g in groups if g not in units.columns]
    if missing:
        raise InputError(_path(units, "units"), 1, f"missing column(s): {', '.join(missing)}")
    pc = presence_matrix(codings, units, coverage, codebook, themes, level="code")
    pt = presence_matrix(codings, units, coverage, codebook, themes, level="theme")
    book = codebook.astype({"code": str, "label": str, "theme": str, "origin": str})
    origin = book["origin"].to_numpy()
    u = pc.units

    scopes: list[tuple[str, np.ndarray]] = [("all", np.ones(len(u), dtype=bool))]
    orders = dict(orders or {})
    for col in ("site", *groups):
        present = set(u[col].astype(str)) - {""}
        values = [v for v in orders[col] if v in present] if col in orders else sorted(present)
        for val in values:
            scopes.append((f"{col}:{val}", (u[col].astype(str) == val).to_numpy()))
    rank = {scope: i for i, (scope, _m) in enumerate(scopes)}

    code_frames, theme_frames, pool_frames = [], [], []
    for scope, mask in scopes:
        pools = [(scope, "all codes, pooled", np.ones(len(book), dtype=bool))]
        if scope == "all":
            pools += [(f"origin:{o}", f"{o} codes, pooled", origin == o)
                      for o in sorted(set(origin))]
        cdf, tdf, pdf = _scope_tables(pc.values[:, :, mask], pt.values[:, :, mask],
                                      u[mask].reset_index(drop=True), pc.coders, pools, n_boot,
                                      seed, cluster_by_transcript, min_present)
        cdf.insert(0, "scope", scope)
        tdf.insert(0, "scope", scope)
        tdf["undefined"] = tdf["undefined"].str.replace(REASON_UNUSED, REASON_THEME_UNUSED, regex=False)
        code_frames.append(pd.concat([book[["code", "label", "theme", "origin"]].reset_index(drop=True),
                                      cdf], axis=1).assign(_order=np.arange(len(book)) + 1))
        theme_meta = themes[["theme", "label"]].astype(str).reset_index(drop=True)
        theme_meta["origin"] = [
            "+".join(sorted(set(origin[(book["theme"] == t).to_numpy()]))) for t in theme_meta["theme"]]
        theme_frames.append(pd.concat([theme_meta, tdf], axis=1).assign(_order=np.arange(len(theme_meta))))
        pdf["code"] = POOLED
        pdf["theme"] = ""
        pdf["origin"] = [s.split(":", 1)[1] if s.startswith("origin:") else "" for s in pdf["scope"]]
        pool_frames.append(pdf.assign(_order=0))

    prev_cols = [f"prevalence_{c}" for c in pc.coders]
    tail = ["n_units", "n_present", "n_coders", "alpha", "ci_low", "ci_high", "q_below_800", "q_below_667",
            "pct_agreement", *prev_cols, "kappa_nvivo", "undefined", "method"]
    by_code = pd.concat(code_frames + pool_frames, ignore_index=True)
    by_code = _finish(by_code, ["code", "label", "theme", "origin", "scope", *tail], rank)
    by_theme = _finish(pd.concat(theme_frames, ignore_index=True),
                       ["theme", "label", "origin", "scope", *tail], rank)
    return by_code, by_theme


def _finish(df: pd.DataFrame, columns: list[str], rank: Mapping[str, int]) -> pd.DataFrame:
    """Deterministic order (scopes as built, then origins alphabetically), int counts, floats
    rounded to 6 decimals for byte-stable TSVs."""
    df = df.assign(_kind=[rank.get(s, len(rank)) for s in df["scope"]])
    df = df.sort_values(["_kind", "scope", "_order"], kind="stable")[columns].reset_index(drop=True)
    ints = [c for c in ("n_units", "n_present", "n_coders") if c in columns]
    df[ints] = df[ints].astype(int)
    floats = [c for c in columns if c not in ints and df[c].dtype.kind == "f"]
    df[floats] = df[floats].round(6)
    return df


# --------------------------------------------------------------------------------------------
# disagreements ledger
# --------------------------------------------------------------------------------------------

def disagreements(codings: pd.DataFrame, units: pd.DataFrame, coverage: pd.DataFrame) -> pd.DataFrame:
    """The consensus-meeting ledger: one row per double-coded unit where coders' code sets differ.

    Columns: unit, site, transcript, turn, speaker, text, ``codes_<coder>`` (sorted, ``;``-joined;
    "(not coded)" when that coder did not code the transcript), ``in_dispute`` (codes not used by
    every coder who coded the unit) and empty ``resolution``, ``resolved_code``, ``note`` for the
    meeting to fill in. Sorted by transcript (FG2 before FG10) and turn.
    """
    cov = _double_coded(coverage)
    u = _units_frame(units)
    u = u[u["transcript"].isin(cov["transcript"])].reset_index(drop=True)
    _require(codings, "codings")
    c = codings.copy()
    c["turn"] = _int_turns(codings, "codings")
    c = c.astype({"transcript": str, "coder": str, "code": str})
    c = c.merge(u[["unit", "transcript", "turn"]], on=["transcript", "turn"])
    c = c.merge(cov, on=["transcript", "coder"])[["unit", "coder", "code"]].drop_duplicates()

    coders = sorted(cov["coder"].unique())
    pairs = u[["unit", "transcript"]].merge(cov, on="transcript")[["unit", "coder"]]
    sets = (c.sort_values("code").groupby(["unit", "coder"])["code"].agg(";".join)
            .rename("codes").reset_index())
    pairs = pairs.merge(sets, on=["unit", "coder"], how="left").fillna({"codes": ""})
    differ = pairs.groupby("unit")["codes"].nunique() > 1
    n_coders = pairs.groupby("unit").size().rename("m")
    used_by = c.groupby(["unit", "code"]).size().rename("k").reset_index().merge(n_coders, on="unit")
    dispute = (used_by[used_by["k"] < used_by["m"]].sort_values("code")
               .groupby("unit")["code"].agg(";".join).rename("in_dispute"))

    wide = pairs.pivot(index="unit", columns="coder", values="codes").reindex(columns=coders)
    wide = wide.fillna(NOT_CODED)
    wide.columns = [f"codes_{x}" for x in wide.columns]
    out = u[u["unit"].isin(differ[differ].index)][["unit", "site", "transcript", "turn", "speaker", "text"]]
    out = out.merge(wide, left_on="unit", right_index=True, how="left")
    out = out.merge(dispute, left_on="unit", right_index=True, how="left").fillna({"in_dispute": ""})
    out = out.assign(resolution="", resolved_code="", note="")
    return out.reset_index(drop=True)   # _units_frame already sorted by transcript and turn


# --------------------------------------------------------------------------------------------
# methods paragraph
# --------------------------------------------------------------------------------------------

def software_versions() -> dict[str, str]:
    """Versions to cite in the methods paragraph (Python and the packages that compute alpha)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"Python": platform.python_version()}
    for pkg in ("krippendorff", "numpy", "pandas", "qualflow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def _fmt(x: float) -> str:
    """APA style for coefficients bounded by 1: .743, -.120 (no leading zero)."""
    if pd.isna(x):
        return "undefined"
    s = f"{x:.3f}"
    return s.replace("0.", ".", 1) if abs(x) < 1 else s


def _number(n: int) -> str:
    """Small counts in words, as journals prefer."""
    words = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    return words[n] if 0 <= n < len(words) else str(n)


def summary_markdown(by_code: pd.DataFrame, by_theme: pd.DataFrame, units: pd.DataFrame,
                     coverage: pd.DataFrame, corpus_transcripts: int,
                     versions: dict[str, str]) -> str:
    """A methods-and-results paragraph on intercoder agreement, ready to adapt for a paper."""
    cov = _double_coded(coverage)
    u = _units_frame(units)
    n_units = int(u["transcript"].isin(cov["transcript"]).sum())
    n_tr = cov["transcript"].nunique()
    coders = sorted(cov["coder"].unique())
    per_tr = cov.groupby("transcript").size()
    who = (f"by {_number(int(per_tr.iloc[0]))} coders each" if per_tr.nunique() == 1
           else f"by {_number(int(per_tr.min()))} to {_number(int(per_tr.max()))} coders each")
    share = n_tr / corpus_transcripts if corpus_transcripts else float("nan")
    all_codes = by_code[(by_code["scope"] == "all") & (by_code["code"] != POOLED)]
    pooled = by_code[(by_code["scope"] == "all") & (by_code["code"] == POOLED)].iloc[0]
    method = str(pooled["method"])
    soft = ", ".join(f"{k} {v}" for k, v in versions.items())

    def ci(row: pd.Series) -> str:
        if pd.isna(row["ci_low"]):
            return ""
        return (f" (95% CI {_fmt(row['ci_low'])} to {_fmt(row['ci_high'])}; "
                f"q(alpha < .800) = {row['q_below_800']:.2f})".replace("= 0.", "= .")
                .replace("= 1.00", "= 1"))

    lines = [
        "## Intercoder agreement", "",
        f"The unit of agreement was the participant's speaker turn in the English pseudonymised "
        f"transcripts. {n_tr} of the {corpus_transcripts} transcripts ({share:.0%} of the corpus) "
        f"were coded independently {who} ({_number(len(coders))} coders in all: "
        f"{', '.join(coders)}), giving {n_units} participant turns for the agreement analysis. "
        f"For each code we "
        f"computed Krippendorff's alpha at the nominal level on the presence or absence of the "
        f"code in each turn (Krippendorff, 2011); for each theme on the presence of any of its "
        f"codes; and pooled over all code-by-turn presence decisions. Missing values (a coder who "
        f"did not code a transcript) are allowed by alpha. Confidence intervals (95%, percentile) "
        f"and the probability q that alpha falls below a threshold were estimated by bootstrap "
        f"({method}); in the spirit of Hayes and Krippendorff (2007), whose KALPHA macro resamples "
        f"pairs of values, we resample whole turns. Following Krippendorff (2004), alpha >= .800 was "
        f"considered reliable and .667 <= alpha < .800 acceptable for tentative conclusions only. "
        f"Cohen's kappa as NVivo's coding comparison reports it is given for comparison, computed "
        f"on turns rather than characters. Software: {soft}.", "",
        f"Pooled over all codes, alpha was {_fmt(pooled['alpha'])}{ci(pooled)}.",
    ]
    th = by_theme[by_theme["scope"] == "all"]
    if len(th):
        parts = [f"{r['label']} {_fmt(r['alpha'])}" + (f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
                                                         if not pd.isna(r["ci_low"]) else "")
                 for _, r in th.iterrows()]
        lines[-1] += " Theme alphas: " + "; ".join(parts) + "."
    low = all_codes[all_codes["alpha"] < TENTATIVE]
    mid = all_codes[(all_codes["alpha"] >= TENTATIVE) & (all_codes["alpha"] < RELIABLE)]
    undef = all_codes[all_codes["alpha"].isna()]

    def listing(df: pd.DataFrame) -> str:
        return "; ".join(f"{r['label']} ({r['code']}, {_fmt(r['alpha'])})" for _, r in df.iterrows()) or "none"

    lines += ["", f"Codes below .667: {listing(low)}.",
              f"Codes between .667 and .800 (tentative): {listing(mid)}."]
    rare = undef[undef["undefined"].str.startswith("not estimable")]
    undef = undef[~undef["undefined"].str.startswith("not estimable")]
    if len(rare):
        minimum = rare["undefined"].str.extract(r"fewer than (\d+)")[0].iloc[0]
        lines.append(f"Alpha not estimable (the code present in fewer than {minimum} double-coded turns): "
                     + "; ".join(f"{r['code']} (present in {int(r['n_present'])})" for _, r in rare.iterrows())
                     + ".")
    if len(undef):
        lines.append("Alpha undefined: " + "; ".join(f"{r['code']} ({r['undefined']})"
                                                    for _, r in undef.iterrows()) + ".")
    lines += ["", "### References", "",
              "- Hayes, A. F., & Krippendorff, K. (2007). Answering the call for a standard "
              "reliability measure for coding data. *Communication Methods and Measures, 1*(1), "
              "77-89. https://doi.org/10.1080/19312450709336664",
              "- Krippendorff, K. (2004). *Content analysis: An introduction to its methodology* "
              "(2nd ed.). Sage.",
              "- Krippendorff, K. (2011). *Computing Krippendorff's alpha-reliability*. Annenberg "
              "School for Communication, University of Pennsylvania. "
              "https://repository.upenn.edu/asc_papers/43", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the workflow step
# --------------------------------------------------------------------------------------------

def agreement_stage(codings_path: str, codebook_path: str, themes_path: str, coverage_path: str,
                    sites_path: str, turn_paths: Sequence[str], n_boot: int, seed: int,
                    cluster_by_transcript: bool, out_by_code: str | None, out_by_theme: str | None,
                    out_disagreements: str | None, out_summary: str | None, min_present: int = MIN_PRESENT,
                    design: dict | None = None) -> None:
    """Read the codes stage's outputs and the English pseudonymised turns; write the four outputs, or
    some: the alpha tables and the summary (``out_disagreements`` None) need no text, the ledger
    (the others None) quotes it, so the workflow runs them as two jobs (docs/DESIGN.md, "What re-runs").

    ``design`` (the study's design as rule params, ``design.design_params``) names the comparison
    groups and waves the tables break down by; each unit takes its transcript's wave and group values.

    Units are participant turns (speech, not facilitator) of the English transcripts. Candidate
    codes (unmapped labels kept with ``codes.unmapped: candidate``) have no theme yet, so they are
    left out of agreement until the codebook adopts them.
    """
    import logging
    from pathlib import Path

    from .tables import read_results_tsv, write_text, write_tsv

    log = logging.getLogger("qualflow.agreement")
    codings = read_results_tsv(codings_path)
    book = read_results_tsv(codebook_path)
    themes = read_results_tsv(themes_path)
    coverage = read_results_tsv(coverage_path)
    from .design import design_from_params, transcript_groups

    d = design_from_params(design)
    candidates = set(book.loc[book["origin"] == "candidate", "code"])
    if candidates:
        log.warning("left out of agreement until adopted into the codebook: %s", ", ".join(sorted(candidates)))
        book = book[book["origin"] != "candidate"]
        codings = codings[~codings["code"].isin(candidates)]
    frames = []
    for path in turn_paths:
        site = Path(path).parent.name
        transcript = f"{site}.{Path(path).name.split('.')[0]}"
        t = read_results_tsv(path)
        t = t[(t["kind"] == "speech") & (t["role"] != "facilitator")]
        frames.append(pd.DataFrame({"unit": transcript + ":" + t["turn"], "site": site, "transcript": transcript,
                                    "turn": t["turn"].astype(int), "speaker": t["speaker"], "text": t["text"]}))
    units = pd.concat(frames, ignore_index=True)
    tg = transcript_groups(design, units["transcript"]).drop(columns="site")
    units = units.merge(tg, on="transcript", how="left")
    groups = [g.id for g in d.groups] + (["wave"] if d.waves else [])
    codings = codings.assign(turn=codings["turn"].astype(int))
    if out_disagreements:
        ledger = disagreements(codings, units, coverage)
        write_tsv(ledger, out_disagreements)
        log.info("agreement: %d disagreements for the meeting", len(ledger))
    if not (out_by_code or out_by_theme or out_summary):
        return
    by_code, by_theme = agreement_tables(codings, units, coverage, book[["code", "label", "theme", "origin"]],
                                         themes[["theme", "label"]], n_boot=n_boot, seed=seed,
                                         cluster_by_transcript=cluster_by_transcript,
                                         min_present=min_present, groups=groups,
                                         orders={"wave": d.wave_ids})
    summary = summary_markdown(by_code, by_theme, units, coverage,
                               corpus_transcripts=units["transcript"].nunique(), versions=software_versions())
    for table, out in ((by_code, out_by_code), (by_theme, out_by_theme)):
        if out:
            write_tsv(table, out)
    if out_summary:
        write_text(summary, out_summary)
    pooled = by_code[(by_code["code"] == POOLED) & (by_code["scope"] == "all")]
    log.info("agreement: %d units double-coded, pooled alpha %s",
             int(pooled["n_units"].iloc[0]) if len(pooled) else 0,
             pooled["alpha"].iloc[0] if len(pooled) else "n/a")
