"""Findings stated as rules over the CFIR ratings, checked and listed with the cells behind each.

A study's headline findings ("benefits for service users are a facilitator at every site",
"mental health workers' engagement is a barrier where it is low and a facilitator where it is
high") are written in the config (``cfir.findings``) as clauses over the ratings table, so the
summary is computed, re-checked on every run, and never hard-coded per site:

* ``codes`` — construct or subcode ids; each is checked on its own rows of ``ratings.tsv``;
* ``sites`` — ``all`` (default) or ``{group: <id>, value: <value>}``: the sites whose comparison
  group has that value (per wave for a per-wave group);
* ``waves`` — ``all`` (default: at each wave), ``any`` (at one wave at least) or a list of wave ids
  (at each of them);
* ``expect`` — ``facilitator`` (rating +1 or +2) or ``barrier`` (−1 or −2) at every site in scope;
  or ``split``: every site in scope has one direction over the waves in scope (all its rated cells
  positive, or all negative), and both directions occur; the summary then *reports* which sites are
  which — the sites are an output, not an input.

A finding holds when all its clauses hold. Output: ``findings.md`` (statement, rule, verdict and the
table of cells behind each clause) and ``findings.tsv`` (one row per cell examined).
"""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

import pandas as pd

from .tables import read_results_tsv, write_text, write_tsv

log = logging.getLogger("qualflow.cfir")

__all__ = ["FINDINGS_COLUMNS", "evaluate", "findings_markdown", "findings_stage"]

FINDINGS_COLUMNS = ["finding", "clause", "code", "site", "wave", "rating", "supports", "direction",
                    "n_units", "n_facilitator", "n_barrier", "n_mixed", "evidence"]


def _sign(r: str) -> int:
    return 0 if r in ("M", "X", "0", "") else (1 if int(r) > 0 else -1)


def _scope(clause: Mapping, site_ids: Sequence[str], waves: Sequence[str],
           site_groups: Sequence[Mapping]) -> list[tuple[str, str]]:
    """(site, wave) pairs the clause covers, in site then wave order."""
    w = clause.get("waves", "all")
    wave_list = list(waves) if w in ("all", "any") else list(w)
    wave_list = wave_list or [""]
    sel = clause.get("sites", "all")
    pairs = [(s, x) for s in site_ids for x in wave_list]
    if sel == "all":
        return pairs
    value = {(r["site"], r.get("wave", "")): str(r.get(sel["group"], "")) for r in site_groups}
    by_site = {r["site"]: str(r.get(sel["group"], "")) for r in site_groups}
    return [(s, x) for s, x in pairs if value.get((s, x), by_site.get(s, "")) == sel["value"]]


def evaluate(ratings: pd.DataFrame, findings: Sequence[Mapping], site_ids: Sequence[str],
             waves: Sequence[str], site_groups: Sequence[Mapping]) -> tuple[list[dict], pd.DataFrame]:
    """Each finding's verdict (and each clause's) and the cells behind them."""
    key = ratings.assign(_code=ratings["subcode"].where(ratings["subcode"] != "", ratings["construct"]))
    cell = {(r["site"], r["wave"], r["_code"]): r for r in key.to_dict("records")}
    verdicts, rows = [], []
    for f in findings:
        clauses = []
        for i, cl in enumerate(f["clauses"], start=1):
            scope = _scope(cl, site_ids, waves, site_groups)
            expect, any_wave = cl["expect"], cl.get("waves", "all") == "any"
            ok_all, split = True, {}
            for code in cl["codes"]:
                for site in dict.fromkeys(s for s, _w in scope):
                    cells = [cell.get((site, w, code)) for s, w in scope if s == site]
                    signs = [_sign(c["rating"]) if c is not None else 0 for c in cells]
                    if expect == "split":
                        rated = [x for x in signs if x]
                        direction = ("facilitator" if rated and all(x > 0 for x in rated) else
                                     "barrier" if rated and all(x < 0 for x in rated) else "none")
                        split.setdefault(code, {}).setdefault(direction, []).append(site)
                        good = [direction != "none"] * len(cells)
                    else:
                        want = 1 if expect == "facilitator" else -1
                        good = [x == want for x in signs]
                        direction = expect if (any(good) if any_wave else all(good)) else "none"
                        ok_all &= direction != "none"
                    for c, g, (s, w) in zip(cells, good, [p for p in scope if p[0] == site]):
                        c = c or {}
                        rows.append({"finding": f["id"], "clause": i, "code": code, "site": s, "wave": w,
                                     "rating": c.get("rating", "M"), "supports": "yes" if g else "no",
                                     "direction": direction, "n_units": c.get("n_units", 0),
                                     "n_facilitator": c.get("n_facilitator", 0), "n_barrier": c.get("n_barrier", 0),
                                     "n_mixed": c.get("n_mixed", 0), "evidence": c.get("evidence", "")})
            if expect == "split":
                ok_all = all(set(d) >= {"facilitator", "barrier"} and "none" not in d for d in split.values())
            clauses.append({"clause": i, "codes": list(cl["codes"]), "expect": expect, "holds": ok_all,
                            "sites": cl.get("sites", "all"), "waves": cl.get("waves", "all"),
                            "split": {c: {k: v for k, v in d.items()} for c, d in split.items()},
                            "n_sites": len(dict.fromkeys(s for s, _w in scope))})
        verdicts.append({"id": f["id"], "statement": f["statement"], "holds": all(c["holds"] for c in clauses),
                         "clauses": clauses})
    return verdicts, pd.DataFrame(rows, columns=FINDINGS_COLUMNS)


def _rule_text(c: Mapping, labels: Mapping[str, str], group_labels: Mapping[tuple[str, str], str]) -> str:
    codes = " and ".join(labels.get(x, x) for x in c["codes"])
    sites = c["sites"]
    if sites == "all":
        where = "every site"
    else:
        lab = group_labels.get((sites["group"], sites["value"]), sites["value"])
        where = f"each of the {lab[:1].lower() + lab[1:]}" if lab.lower().endswith("sites") else \
            f"every site where {sites['group']} is {lab}"
    w = c["waves"]
    when = ("at every wave" if w == "all" else "at one wave at least" if w == "any" else
            "at the " + ", ".join(w) + " wave" + ("s" if len(w) > 1 else ""))
    if c["expect"] == "split":
        return (f"{codes}: at {where.replace('every site', 'each site', 1)}, one direction {when} (all its "
                "ratings positive, or all negative), and both directions occur")
    sign = "+1 or +2 (facilitator)" if c["expect"] == "facilitator" else "−1 or −2 (barrier)"
    return f"{codes} rated {sign} at {where} {when}"


def findings_markdown(verdicts: Sequence[Mapping], cells: pd.DataFrame, labels: Mapping[str, str],
                      site_names: Mapping[str, str], group_labels: Mapping[tuple[str, str], str],
                      title: str) -> str:
    """The generated summary: each finding, its rule, its verdict and the cells behind it."""
    out = [f"# {title}", "",
           "Each finding is a rule over `results/cfir/ratings.tsv` (config `cfir.findings`), re-checked on "
           "every run. Ratings: −2…+2, X mixed, M missing (docs/cfir.md). Evidence lists each coded unit "
           "as `transcript:turn` with `+` facilitator, `-` barrier, `~` mixed.", ""]
    n_hold = sum(v["holds"] for v in verdicts)
    out += [f"**{n_hold} of {len(verdicts)} findings hold.**", ""]
    for k, v in enumerate(verdicts, start=1):
        out += [f"## {k}. {v['statement']} — {'holds' if v['holds'] else 'DOES NOT HOLD'}", ""]
        for c in v["clauses"]:
            out.append(f"- Rule {c['clause']}: {_rule_text(c, labels, group_labels)} — "
                       f"{'holds' if c['holds'] else 'does not hold'} ({c['n_sites']} sites).")
            for code, d in c["split"].items():
                parts = [f"{direction} at {', '.join(site_names.get(s, s) for s in d[direction])}"
                         for direction in ("barrier", "facilitator", "none") if d.get(direction)]
                out.append(f"  - {labels.get(code, code)}: " + "; ".join(parts) + ".")
        out += ["", "| rule | code | site | wave | rating | supports | units (+/−/~) | evidence |",
                "|---|---|---|---|---|---|---|---|"]
        for r in cells[cells["finding"] == v["id"]].itertuples():
            out.append(f"| {r.clause} | {labels.get(r.code, r.code)} | {site_names.get(r.site, r.site)} | {r.wave} | "
                       f"{str(r.rating).replace('-', '−')} | {r.supports} | {r.n_units} ({r.n_facilitator}/"
                       f"{r.n_barrier}/{r.n_mixed}) | {str(r.evidence).replace(';', '; ')} |")
        out.append("")
    return "\n".join(out)


def findings_stage(ratings: str, sites: str, findings: Sequence[Mapping], waves: Sequence[str],
                   site_groups: Sequence[Mapping], groups: Sequence[Mapping], codes: Sequence[Mapping],
                   title: str, out_md: str, out_tsv: str) -> None:
    """Rule ``cfir_findings``: evaluate the config's findings on the ratings; summary and cells."""
    r = read_results_tsv(ratings)
    s = read_results_tsv(sites)
    verdicts, cells = evaluate(r, findings, list(s["site"]), waves, site_groups)
    labels = {c["id"]: c["label"] for c in codes}
    group_labels = {(g["id"], v): lab for g in groups for v, lab in zip(g["values"], g["value_labels"])}
    write_tsv(cells, out_tsv)
    write_text(findings_markdown(verdicts, cells, labels, dict(zip(s["site"], s["name"])), group_labels, title),
               out_md)
    for v in verdicts:
        log.info("finding %s: %s", v["id"], "holds" if v["holds"] else "does not hold")
