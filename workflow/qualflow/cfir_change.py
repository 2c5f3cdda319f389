"""Change between waves per site × construct, from the CFIR ratings (Saldaña 2003).

Saldaña's questions for longitudinal qualitative data ask, from one wave to the next, what
*emerges*, what *ceases*, what *increases* or *decreases*, and what *remains constant*. Applied to
Damschroder & Lowery ratings of a cell (a site's construct or subcode) at two consecutive waves:

* ``absent``      — M at both waves (never talked about);
* ``emerged``     — M, then rated;
* ``ceased``      — rated, then M;
* ``reversed``    — a facilitator became a barrier or the reverse (the sign flips);
* ``strengthened``— same direction (or from 0/X to a direction), larger magnitude;
* ``weakened``    — smaller magnitude (towards 0/X) in the same direction;
* ``constant``    — the same magnitude and direction (X and 0 count as magnitude 0 without direction).

Read from ``results/cfir/ratings.tsv`` only, so the change table always agrees with the ratings.
"""
from __future__ import annotations

import logging
from typing import Sequence

import pandas as pd

from .tables import read_results_tsv, write_tsv

log = logging.getLogger("qualflow.cfir")

__all__ = ["CHANGE_COLUMNS", "CHANGES", "classify", "change_table", "change_stage"]

CHANGES = ("absent", "emerged", "ceased", "reversed", "strengthened", "weakened", "constant")
CHANGE_COLUMNS = ["site", "domain", "construct", "subcode", "level", "from_wave", "to_wave",
                  "rating_from", "rating_to", "change", "delta"]


def _num(r: str) -> int:
    return 0 if r in ("X", "0") else int(r)


def classify(a: str, b: str) -> str:
    """The change from rating ``a`` (earlier wave) to ``b`` (later wave)."""
    if a == "M" and b == "M":
        return "absent"
    if a == "M":
        return "emerged"
    if b == "M":
        return "ceased"
    x, y = _num(a), _num(b)
    if x * y < 0:
        return "reversed"
    if abs(y) > abs(x):
        return "strengthened"
    if abs(y) < abs(x):
        return "weakened"
    return "constant"


def change_table(ratings: pd.DataFrame, waves: Sequence[str]) -> pd.DataFrame:
    """One row per site × cell × pair of consecutive waves, in the ratings' order."""
    waves = list(waves)
    if len(waves) < 2:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    key = ["site", "domain", "construct", "subcode", "level"]
    r = ratings.copy()
    r["_o"] = range(len(r))
    first = r[r["wave"] == waves[0]][key + ["_o"]]
    frames = []
    for a, b in zip(waves, waves[1:]):
        ra = r[r["wave"] == a][key + ["rating"]].rename(columns={"rating": "rating_from"})
        rb = r[r["wave"] == b][key + ["rating"]].rename(columns={"rating": "rating_to"})
        m = first.merge(ra, on=key, how="left").merge(rb, on=key, how="left")
        m[["rating_from", "rating_to"]] = m[["rating_from", "rating_to"]].fillna("M")
        m["from_wave"], m["to_wave"] = a, b
        m["_p"] = waves.index(a)
        frames.append(m)
    out = pd.concat(frames, ignore_index=True).sort_values(["_o", "_p"], kind="stable")
    out["change"] = [classify(a, b) for a, b in zip(out["rating_from"], out["rating_to"])]
    out["delta"] = [("" if "M" in (a, b) or "X" in (a, b) else f"{int(b) - int(a):+d}".replace("+0", "0"))
                    for a, b in zip(out["rating_from"], out["rating_to"])]
    return out[CHANGE_COLUMNS].reset_index(drop=True)


def change_stage(ratings: str, waves: Sequence[str], out: str) -> None:
    """Rule ``cfir_change``: the change table from the ratings table."""
    table = change_table(read_results_tsv(ratings), waves)
    write_tsv(table, out)
    counts = table[table["level"] == "construct"]["change"].value_counts()
    log.info("change between waves (construct cells): %s",
             ", ".join(f"{c} {int(counts.get(c, 0))}" for c in CHANGES))
