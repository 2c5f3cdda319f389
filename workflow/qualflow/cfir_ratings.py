"""CFIR ratings per site × wave × construct (Damschroder & Lowery 2013), from valenced codings.

Damschroder and Lowery rate each CFIR construct per case from −2 to +2: the sign is the
construct's valence (a barrier or a facilitator), the magnitude its strength (+1/−1 a weak or
passing influence, +2/−2 a strong one with concrete examples from several people), 0 neutral, **X**
mixed (positive and negative influence balanced) and **M** missing (not talked about). Raters
assign these by reading the coded passages; this stage *proposes* a rating from the coded evidence
by a stated rule (config ``cfir.rating``, docs/cfir.md), and the team's reviewed consensus
(``cfir.consensus``, one row per decision with its rationale) wins over the proposal.

Evidence per cell (a site at a wave, a construct or one of its subcodes):

* a **unit** is a speaker turn of an informant (the unit of agreement) coded with the construct or
  any of its subcodes by any coder counted (``cfir.coders``; all by default);
* the unit's **valence** is facilitator when every valence given to it there (by every coder and
  subcode) is facilitator, barrier likewise, else mixed (also when no valence was given);
* **informants** are distinct speakers (``P03``) of the units of a valence.

Proposal rule, with ``f``/``b``/``m`` the facilitator, barrier and mixed units: no unit → ``M``;
only mixed units → ``0``; both facilitator and barrier units and ``|f − b| / (f + b)`` below
``mixed_margin`` → ``X``; otherwise the sign of ``f − b``, and strength 2 when ``|f − b|`` is at
least ``strong_units`` and the dominant valence's informants at least ``strong_informants``, else 1.

Two raters' independent ratings (``cfir.raters_dir/<rater>.tsv``) are compared with Krippendorff's
alpha at the ordinal level (−2 < −1 < 0 < +1 < +2; X and M are not on the scale and count as
missing), computed by the agreement stage's coincidence-matrix implementation, and at the nominal
level over all seven values.
"""
from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .alpha import alpha_coincidence
from .errors import InputError, Problem, raise_if
from .tables import read_results_tsv, read_tsv, write_tsv

log = logging.getLogger("qualflow.cfir")

__all__ = [
    "RATINGS_COLUMNS", "AGREEMENT_COLUMNS", "RATINGS", "RatingRule", "Hierarchy", "hierarchy",
    "normalise_rating", "rating_value", "unit_valences", "evidence", "propose", "propose_table",
    "read_consensus", "read_rater", "apply_consensus", "rater_agreement", "check_findings", "check_cfir_inputs",
    "check_or_exit", "ratings_stage",
]

RATINGS = ("-2", "-1", "0", "+1", "+2", "X", "M")
RATINGS_COLUMNS = ["site", "wave", "domain", "construct", "subcode", "level", "rating", "proposed",
                   "source", "rationale", "n_units", "n_facilitator", "n_barrier", "n_mixed",
                   "n_informants", "informants_facilitator", "informants_barrier", "evidence"]
AGREEMENT_COLUMNS = ["scope", "raters", "n_cells", "n_pairable", "alpha_ordinal", "alpha_nominal",
                     "pct_agreement", "n_disagreements", "disagreements"]


# --------------------------------------------------------------------------------------------
# the rule and the framework
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RatingRule:
    """Thresholds of the proposal rule (config ``cfir.rating``)."""

    strong_units: int = 3
    strong_informants: int = 2
    mixed_margin: float = 0.34

    @classmethod
    def from_config(cls, cfg: Mapping | None) -> "RatingRule":
        cfg = cfg or {}
        return cls(int(cfg.get("strong_units", cls.strong_units)),
                   int(cfg.get("strong_informants", cls.strong_informants)),
                   float(cfg.get("mixed_margin", cls.mixed_margin)))


@dataclass(frozen=True)
class Hierarchy:
    """Domains (themes) in order; constructs (top-level codes) in codebook order; subcode -> construct."""

    domains: tuple[tuple[str, str], ...]            # (id, label)
    constructs: tuple[tuple[str, str, str], ...]    # (id, label, domain)
    subcodes: tuple[tuple[str, str, str], ...]      # (id, label, construct)

    def construct_of(self) -> dict[str, str]:
        """Every code id -> its construct (a construct is its own)."""
        out = {c: c for c, _l, _d in self.constructs}
        out.update({s: c for s, _l, c in self.subcodes})
        return out

    def domain_of(self) -> dict[str, str]:
        return {c: d for c, _l, d in self.constructs}

    def cells(self) -> list[tuple[str, str, str, str]]:
        """(domain, construct, subcode, level) in report order: a construct, then its subcodes."""
        by_c: dict[str, list[str]] = {}
        for s, _l, c in self.subcodes:
            by_c.setdefault(c, []).append(s)
        order = {d: i for i, (d, _l) in enumerate(self.domains)}
        out = []
        for c, _l, d in sorted(self.constructs, key=lambda x: order.get(x[2], len(order))):
            out.append((d, c, "", "construct"))
            out += [(d, c, s, "subcode") for s in by_c.get(c, [])]
        return out

    def ids(self) -> set[str]:
        return {c for c, _l, _d in self.constructs} | {s for s, _l, _c in self.subcodes}


def hierarchy(codes: Sequence[Mapping], themes: Sequence[Mapping]) -> Hierarchy:
    """From the codebook as rule params: codes (id, label, theme, parent), themes (id, label).

    A code without a parent is a construct; a code with one is a subcode of its top ancestor.
    """
    by_id = {c["id"]: c for c in codes}

    def top(cid: str) -> str:
        seen = set()
        while by_id.get(cid, {}).get("parent") and cid not in seen:
            seen.add(cid)
            cid = by_id[cid]["parent"]
        return cid

    constructs = tuple((c["id"], c["label"], c["theme"]) for c in codes if not c.get("parent"))
    subcodes = tuple((c["id"], c["label"], top(c["id"])) for c in codes if c.get("parent"))
    return Hierarchy(tuple((t["id"], t["label"]) for t in themes), constructs, subcodes)


def normalise_rating(value: str) -> str | None:
    """A rating as written in the outputs ("+2", "-1", "0", "X", "M"), or None if it is none.

    Accepts ``2``/``+2``, ``−1`` (minus sign) and lower-case ``x``/``m``.
    """
    v = str(value).strip().replace("−", "-").replace("–", "-").upper()
    if v in ("X", "M"):
        return v
    if re.fullmatch(r"[+-]?[0-2]", v):
        n = int(v)
        return "0" if n == 0 else f"{n:+d}"
    return None


def rating_value(rating: str) -> float:
    """The ordinal value of a rating (−2..+2); NaN for X and M, which are off the scale."""
    return float(int(rating)) if rating not in ("X", "M", "") else float("nan")


# --------------------------------------------------------------------------------------------
# evidence and the proposal
# --------------------------------------------------------------------------------------------

def unit_valences(codings: pd.DataFrame, construct_of: Mapping[str, str], waves: Mapping[str, str],
                  speakers: Mapping[tuple[str, int], str], coders: Sequence[str] = ()) -> pd.DataFrame:
    """One row per (unit, construct or subcode): site, wave, transcript, turn, speaker, code, valence.

    Each unit appears once for its construct (level construct) and once per subcode coded there.
    Codings of codes outside the framework (candidates) are left out.
    """
    c = codings
    if coders:
        c = c[c["coder"].isin(list(coders))]
    c = c[c["code"].isin(list(construct_of))]
    val = c["valence"].fillna("").astype(str) if "valence" in c.columns else pd.Series("", index=c.index)
    base = pd.DataFrame({"site": c["site"].astype(str), "transcript": c["transcript"].astype(str),
                         "turn": c["turn"].astype(int), "code": c["code"].astype(str), "valence": val})
    cons = base.assign(code=base["code"].map(construct_of), level="construct")
    subs = base[base["code"].map(construct_of) != base["code"]].assign(level="subcode")
    both = pd.concat([cons, subs], ignore_index=True)

    key = ["site", "transcript", "turn", "code", "level"]
    g = both.groupby(key, sort=False)["valence"]
    out = g.agg(_n="nunique", _first="first").reset_index()
    clear = (out["_n"] == 1) & out["_first"].isin(["facilitator", "barrier"])
    out["valence"] = out["_first"].where(clear, "mixed")
    out = out.drop(columns=["_n", "_first"])
    out["wave"] = out["transcript"].map(lambda t: waves.get(t, ""))
    out["speaker"] = [speakers.get((t, int(n)), "") for t, n in zip(out["transcript"], out["turn"])]
    return out


def evidence(units: pd.DataFrame) -> pd.DataFrame:
    """Counts per (site, wave, level, code): units by valence, informants, and the unit references.

    Vectorised (one groupby per column), so the cost is linear in the units.
    """
    cols = ["site", "wave", "level", "code", "n_units", "n_facilitator", "n_barrier", "n_mixed",
            "n_informants", "informants_facilitator", "informants_barrier", "evidence"]
    if units.empty:
        return pd.DataFrame(columns=cols)
    order = units["transcript"].map(_natural)
    u = units.assign(_o=order).sort_values(["_o", "turn"], kind="stable")
    key = ["site", "wave", "level", "code"]
    mark = u["valence"].map({"facilitator": "+", "barrier": "-"}).fillna("~")
    u = u.assign(_f=(u["valence"] == "facilitator").astype(int), _b=(u["valence"] == "barrier").astype(int),
                 _m=(u["valence"] == "mixed").astype(int),
                 _tok=u["transcript"] + ":" + u["turn"].astype(str) + mark,
                 _spk=u["speaker"].where(u["speaker"] != ""))
    g = u.groupby(key, sort=False)
    out = g.agg(n_units=("turn", "size"), n_facilitator=("_f", "sum"), n_barrier=("_b", "sum"),
                n_mixed=("_m", "sum"), n_informants=("_spk", "nunique"), evidence=("_tok", ";".join))
    for name, v in (("informants_facilitator", "facilitator"), ("informants_barrier", "barrier")):
        out[name] = u[u["valence"] == v].groupby(key, sort=False)["_spk"].nunique().reindex(out.index).fillna(0)
    out = out.reset_index()
    for c in cols[4:-1]:
        out[c] = out[c].astype("int64")
    return out[cols]


def _natural(s: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(s)))


def propose(f: int, b: int, m: int, inf_f: int, inf_b: int, rule: RatingRule) -> str:
    """The proposed rating of one cell from its evidence counts (module docstring)."""
    if f + b + m == 0:
        return "M"
    if f == 0 and b == 0:
        return "0"
    if f and b and abs(f - b) / (f + b) < rule.mixed_margin:
        return "X"
    sign = 1 if f > b else -1
    lead, informants = abs(f - b), (inf_f if sign > 0 else inf_b)
    strength = 2 if lead >= rule.strong_units and informants >= rule.strong_informants else 1
    return f"{sign * strength:+d}"


def propose_table(ev: pd.DataFrame, hier: Hierarchy, sites: Sequence[str], waves: Sequence[str],
                  rule: RatingRule) -> pd.DataFrame:
    """Every site × wave × (construct and subcode) cell with its evidence and proposed rating.

    Cells nobody coded are there too (rating M), so missing evidence is visible.
    """
    waves = list(waves) or [""]
    cells = hier.cells()
    idx = pd.MultiIndex.from_tuples(
        [(s, w, d, c, sc, lv) for s in sites for w in waves for d, c, sc, lv in cells],
        names=["site", "wave", "domain", "construct", "subcode", "level"])
    grid = idx.to_frame(index=False)
    grid["code"] = np.where(grid["subcode"] != "", grid["subcode"], grid["construct"])
    out = grid.merge(ev, on=["site", "wave", "level", "code"], how="left")
    for col in ("n_units", "n_facilitator", "n_barrier", "n_mixed", "n_informants",
                "informants_facilitator", "informants_barrier"):
        out[col] = out[col].fillna(0).astype("int64")
    out["evidence"] = out["evidence"].fillna("")
    out["proposed"] = [propose(f, b, m, a, z, rule) for f, b, m, a, z in zip(
        out["n_facilitator"], out["n_barrier"], out["n_mixed"], out["informants_facilitator"],
        out["informants_barrier"])]
    out["rating"] = out["proposed"]
    out["source"] = "proposed"
    out["rationale"] = ""
    return out[RATINGS_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# consensus and raters: reviewed input tables
# --------------------------------------------------------------------------------------------

def _check_cells(df: pd.DataFrame, path: str, sites: Sequence[str], waves: Sequence[str],
                 ids: set[str], what: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple, int] = {}
    for r in df.to_dict("records"):
        line = int(r["_line"])
        if r["site"] not in sites:
            problems.append(Problem(path, line, f"site {r['site']!r} is not in the study's sites ("
                                    f"{', '.join(sites)}): fix the site id"))
        wave = r.get("wave", "")
        if waves and wave not in waves:
            problems.append(Problem(path, line, f"wave {wave!r} is not a declared wave ({', '.join(waves)}): "
                                    "fix the wave"))
        elif not waves and wave:
            problems.append(Problem(path, line, f"wave {wave!r} given but the study declares no waves: "
                                    "leave the wave empty"))
        if r["construct"] not in ids:
            problems.append(Problem(path, line, f"construct {r['construct']!r} is not a construct or "
                                    "subcode of the codebook: use its id (snake_case, e.g. relative_advantage)"))
        if normalise_rating(r["rating"]) is None:
            problems.append(Problem(path, line, f"rating {r['rating']!r} is not one of -2, -1, 0, +1, +2, "
                                    "X (mixed) or M (missing)"))
        key = (r["site"], wave, r["construct"])
        if key in seen:
            problems.append(Problem(path, line, f"{what} for {'/'.join(k for k in key if k)} is given twice "
                                    f"(also line {seen[key]}): keep one row"))
        seen.setdefault(key, line)
    return problems


def read_consensus(path: str | Path, sites: Sequence[str], waves: Sequence[str],
                   ids: set[str]) -> pd.DataFrame:
    """The team's reviewed ratings: site, wave, construct, rating, rationale — every row checked.

    A missing file means no consensus yet (an empty table); a row without a rationale is an error,
    because the rationale is what the consensus meeting decided and why.
    """
    cols = ["site", "wave", "construct", "rating", "rationale", "_line"]
    if not path or not Path(path).exists():
        return pd.DataFrame(columns=cols)
    spath = str(path)
    df = read_tsv(path, "cfir_consensus.schema.yaml", allow_empty=True)
    if "wave" not in df.columns:
        df["wave"] = ""
    problems = _check_cells(df, spath, sites, waves, ids, "a consensus rating")
    for r in df.to_dict("records"):
        if not str(r.get("rationale", "")).strip():
            problems.append(Problem(spath, int(r["_line"]), "no rationale: say why the team decided "
                                    "this rating (no names or quotes)"))
    raise_if(problems)
    df["rating"] = df["rating"].map(normalise_rating)
    return df[cols]


def read_rater(path: str | Path, sites: Sequence[str], waves: Sequence[str], ids: set[str]) -> pd.DataFrame:
    """One rater's independent ratings: site, wave, construct, rating (optional note)."""
    df = read_tsv(path, "cfir_rater.schema.yaml", allow_empty=True)
    if "wave" not in df.columns:
        df["wave"] = ""
    raise_if(_check_cells(df, str(path), sites, waves, ids, "a rating"))
    df["rating"] = df["rating"].map(normalise_rating)
    df["rater"] = Path(path).name[: -len(".tsv")]
    return df[["rater", "site", "wave", "construct", "rating"]]


def apply_consensus(table: pd.DataFrame, consensus: pd.DataFrame) -> pd.DataFrame:
    """The consensus rating replaces the proposal of its cell; the proposal and rationale stay."""
    if consensus.empty:
        return table
    out = table.copy()
    code = np.where(out["subcode"] != "", out["subcode"], out["construct"])
    key = pd.Series(list(zip(out["site"], out["wave"], code)), index=out.index)
    decided = {(r.site, r.wave, r.construct): (r.rating, r.rationale) for r in consensus.itertuples()}
    hit = key.map(lambda k: k in decided)
    out.loc[hit, "rating"] = key[hit].map(lambda k: decided[k][0])
    out.loc[hit, "rationale"] = key[hit].map(lambda k: " ".join(str(decided[k][1]).split()))
    out.loc[hit, "source"] = "consensus"
    return out


def rater_agreement(raters: pd.DataFrame, domain_of: Mapping[str, str],
                    domain_order: Sequence[str] = ()) -> pd.DataFrame:
    """Ordinal (and nominal) alpha between raters, over all cells and per domain (in ``domain_order``)."""
    if raters.empty or raters["rater"].nunique() < 2:
        n = raters["rater"].nunique() if not raters.empty else 0
        return pd.DataFrame([{"scope": "all", "raters": ";".join(sorted(set(raters.get("rater", [])))),
                              "n_cells": 0, "n_pairable": 0, "alpha_ordinal": np.nan,
                              "alpha_nominal": np.nan, "pct_agreement": np.nan, "n_disagreements": 0,
                              "disagreements": f"{n} rater file(s): two or more are needed"}],
                            columns=AGREEMENT_COLUMNS)
    r = raters.assign(domain=raters["construct"].map(lambda c: domain_of.get(c, "")))
    wide = r.pivot_table(index=["domain", "site", "wave", "construct"], columns="rater", values="rating",
                         aggfunc="first").sort_index()
    names = list(wide.columns)
    nominal_codes = {v: i for i, v in enumerate(RATINGS)}
    rows = []
    present = list(dict.fromkeys(wide.index.get_level_values("domain")))
    ordered = [d for d in domain_order if d in present] + [d for d in present if d not in domain_order]
    scopes = [("all", wide)] + [(d, wide.xs(d, level="domain", drop_level=False)) for d in ordered]
    for scope, w in scopes:
        vals = w.to_numpy(dtype=object).T            # raters x cells
        ordinal = np.vectorize(lambda x: rating_value(x) if isinstance(x, str) else np.nan)(vals).astype(float)
        nominal = np.vectorize(lambda x: float(nominal_codes[x]) if isinstance(x, str) else np.nan)(vals).astype(float)
        pairable = int(((~np.isnan(ordinal)).sum(axis=0) >= 2).sum())
        both = (~np.isnan(nominal)).sum(axis=0) >= 2
        same = np.array([len({x for x in vals[:, j] if isinstance(x, str)}) == 1 for j in range(vals.shape[1])])
        dis = [f"{i[1]}/{i[2]}/{i[3]}" if i[2] else f"{i[1]}/{i[3]}"
               for i, b, s in zip(w.index, both, same) if b and not s]
        rows.append({"scope": scope, "raters": ";".join(names), "n_cells": int(both.sum()),
                     "n_pairable": pairable,
                     "alpha_ordinal": alpha_coincidence(ordinal, "ordinal", value_domain=[-2, -1, 0, 1, 2]),
                     "alpha_nominal": alpha_coincidence(nominal, "nominal"),
                     "pct_agreement": round(100.0 * float((same & both).sum()) / both.sum(), 1) if both.sum() else np.nan,
                     "n_disagreements": len(dis), "disagreements": ";".join(dis)})
    out = pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
    for col in ("alpha_ordinal", "alpha_nominal"):
        out[col] = out[col].round(3)
    return out


# --------------------------------------------------------------------------------------------
# load-time check and the stage
# --------------------------------------------------------------------------------------------

def rater_files(raters_dir: str | Path | None) -> list[str]:
    """``<raters_dir>/<rater>.tsv`` files, sorted ([] without a folder)."""
    if not raters_dir or not Path(raters_dir).is_dir():
        return []
    return sorted(str(p) for p in Path(raters_dir).glob("*.tsv"))


def check_findings(findings: Sequence[Mapping], ids: set[str], waves: Sequence[str],
                   groups: Mapping[str, Sequence[str]], config_path: str | None) -> list[Problem]:
    """The config's ``cfir.findings``: known codes, declared waves, declared groups and values."""
    from .design import config_lines
    lines = config_lines(config_path)
    where = str(config_path or "config.yaml")

    def line(*at) -> int | None:
        at = ("cfir", "findings", *at)
        while at and at not in lines:
            at = at[:-1]
        return lines.get(at)

    problems: list[Problem] = []
    seen: set[str] = set()
    for i, f in enumerate(findings):
        if f["id"] in seen:
            problems.append(Problem(where, line(i, "id"), f"finding {f['id']!r} is listed twice: give each its own id"))
        seen.add(f["id"])
        for j, cl in enumerate(f["clauses"]):
            for k, code in enumerate(cl["codes"]):
                if code not in ids:
                    problems.append(Problem(where, line(i, "clauses", j, "codes", k), (
                        f"finding {f['id']!r}: code {code!r} is not a construct or subcode of the codebook: "
                        "use its id")))
            w = cl.get("waves", "all")
            for k, wave in enumerate([] if w in ("all", "any") else w):
                if wave not in waves:
                    problems.append(Problem(where, line(i, "clauses", j, "waves", k), (
                        f"finding {f['id']!r}: wave {wave!r} is not declared (waves: {', '.join(waves) or 'none'})")))
            sel = cl.get("sites", "all")
            if sel != "all":
                if sel["group"] not in groups:
                    problems.append(Problem(where, line(i, "clauses", j, "sites"), (
                        f"finding {f['id']!r}: group {sel['group']!r} is not declared in groups "
                        f"({', '.join(groups) or 'none'})")))
                elif sel["value"] not in groups[sel["group"]]:
                    problems.append(Problem(where, line(i, "clauses", j, "sites"), (
                        f"finding {f['id']!r}: {sel['value']!r} is not a value of group {sel['group']!r} "
                        f"({', '.join(groups[sel['group']])})")))
    return problems


def check_cfir_inputs(consensus: str | None, raters: Sequence[str], sites: Sequence[str],
                      waves: Sequence[str], ids: set[str], findings: Sequence[Mapping] = (),
                      groups: Mapping[str, Sequence[str]] | None = None, config_path: str | None = None) -> None:
    """Every reviewed CFIR input checked together (the workflow calls this when it loads)."""
    problems: list[Problem] = check_findings(findings, ids, waves, groups or {}, config_path)
    for fn, arg in [(read_consensus, consensus), *((read_rater, p) for p in raters)]:
        try:
            fn(arg, sites, waves, ids)
        except InputError as e:
            problems.extend(e.problems)
    raise_if(problems)


def check_or_exit(check: Callable[[], None]) -> None:
    """For the Snakefile: one line per problem and exit 1, before any job runs."""
    try:
        check()
    except InputError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"qualflow: {len(e.problems)} input problem(s); nothing was run or changed.", file=sys.stderr)
        sys.exit(1)


def read_speakers(paths: Iterable[str | Path]) -> dict[tuple[str, int], str]:
    """(transcript id, turn) -> speaker code, from the pseudonymised English turn tables."""
    out: dict[tuple[str, int], str] = {}
    for p in map(Path, paths):
        df = read_results_tsv(p)
        tid = f"{p.parent.name}.{p.name.split('.')[0]}"
        for t, s in zip(df["turn"], df["speaker"]):
            out[(tid, int(t))] = s
    return out


def ratings_stage(codings: str, turns: Sequence[str], sites: str, consensus: str | None,
                  raters: Sequence[str], codes: Sequence[Mapping], themes: Sequence[Mapping],
                  waves: Sequence[str], transcript_waves: Mapping[str, str], rule: Mapping | None,
                  coders: Sequence[str], out_ratings: str, out_agreement: str) -> None:
    """Rule ``cfir_ratings``: evidence, proposal, consensus, rater agreement; both tables written."""
    hier = hierarchy(codes, themes)
    site_ids = list(read_tsv(sites)["site"])
    cod = read_results_tsv(codings)
    speakers = read_speakers(turns)
    units = unit_valences(cod, hier.construct_of(), transcript_waves, speakers, coders)
    table = propose_table(evidence(units), hier, site_ids, waves, RatingRule.from_config(rule))
    cons = read_consensus(consensus, site_ids, list(waves), hier.ids())
    table = apply_consensus(table, cons)
    unused = set(zip(cons["site"], cons["wave"], cons["construct"])) - set(
        zip(table["site"], table["wave"], np.where(table["subcode"] != "", table["subcode"], table["construct"])))
    for k in sorted(unused):
        log.warning("consensus rating for %s has no cell in the table", "/".join(k))
    rated = pd.concat([read_rater(p, site_ids, list(waves), hier.ids()) for p in raters],
                      ignore_index=True) if raters else pd.DataFrame(
        columns=["rater", "site", "wave", "construct", "rating"])
    agreement = rater_agreement(rated, {**hier.domain_of(), **{s: hier.domain_of()[c] for s, _l, c in hier.subcodes}},
                                [d for d, _l in hier.domains])
    write_tsv(table, out_ratings)
    write_tsv(agreement, out_agreement)
    n = table[table["level"] == "construct"]
    log.info("%d cells (%d construct cells: %d rated, %d missing), %d consensus decisions, %d raters",
             len(table), len(n), int((n["rating"] != "M").sum()), int((n["rating"] == "M").sum()),
             int((table["source"] == "consensus").sum()), rated["rater"].nunique() if len(rated) else 0)
