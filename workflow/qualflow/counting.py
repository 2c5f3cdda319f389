"""Which transcripts count, and from whose codings: the one rule behind every theme count and cell.

A double-coded transcript has two coders' codings. The union of both would make a site with more
double coding look richer (more coded units, more participants mentioning a theme), so the theme
matrix, its figures, the quotes and the framework matrix count each transcript from ONE coder's
codings, its **counted coder** (docs/DESIGN.md, "Counted coder"):

1. the coder marked ``primary = yes`` for the transcript in the coding assignments table
   (data/coding_assignments.tsv); a row for ``<site>.<T>`` beats one for ``<site>.*``, which beats
   one for ``*``; a wildcard row applies only to the transcripts that coder coded;
2. else the study's **lead coder** (the coder who coded most transcripts; ties by coder id) when
   they coded the transcript;
3. else the first coder by id who coded it.

A transcript no coder coded (no row in results/codes/coverage.tsv) is **not coded**: it is left out
of every denominator, never counted as "theme not mentioned". Agreement is not affected: it compares
coders and uses every coder. Pure functions; the stages read the files and call them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import pandas as pd

from .errors import Problem
from .tables import read_results_tsv, read_tsv

__all__ = ["COUNTED_COLUMNS", "COUNT_MODES", "read_coverage", "read_assignments", "primary_problems",
           "lead_coder", "counted_coders", "counted_codings", "word_count"]

_WORD = re.compile(r"[^\W_]")


def word_count(text: str) -> int:
    """Whitespace-separated tokens that hold a letter or digit ("—" and "..." are not words): the
    themes stage's words per participant, and the codes stage's record of what that count reads."""
    return sum(1 for tok in str(text).split() if _WORD.search(tok))

#: counted_coders' columns: the transcript, every coder who coded it, the one counted and why.
COUNTED_COLUMNS = ["transcript", "coders", "counted_coder", "counted_by"]
#: config ``themes: count``: ``primary`` (one counted coder per transcript, the default) or ``union``
#: (every coder's codings, the behaviour before issue 12).
COUNT_MODES = ("primary", "union")
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}


def read_coverage(path: str | Path) -> pd.DataFrame:
    """results/codes/coverage.tsv as (site, transcript, coder) rows: the codes stage's record."""
    df = read_results_tsv(path)
    for col in ("site", "transcript", "coder"):
        if col not in df.columns:
            df[col] = pd.Series(dtype=str)
    return df[["site", "transcript", "coder"]].drop_duplicates().reset_index(drop=True)


def read_assignments(path: str | Path | None) -> pd.DataFrame | None:
    """data/coding_assignments.tsv checked against its schema (``primary`` optional), or None."""
    if not path or not Path(path).exists():
        return None
    df = read_tsv(path, "coding_assignments.schema.yaml", allow_empty=True)
    if "primary" not in df.columns:
        df["primary"] = ""
    return df


def _specificity(pattern: str) -> int:
    return 0 if pattern == "*" else 1 if pattern.endswith(".*") else 2


def matches(pattern: str, tid: str) -> bool:
    """An assignments ``transcript`` pattern (``*``, ``<site>.*`` or ``<site>.<T>``) covers ``tid``
    (also the load-time checks' reading, qualflow.coding_checks)."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return tid.split(".", 1)[0] == pattern[:-2]
    return pattern == tid


def _primary_rows(table: pd.DataFrame | None) -> list[tuple[str, str, int]]:
    """(coder, pattern, line) of every row marked primary."""
    if table is None or not len(table) or "primary" not in table.columns:
        return []
    return [(r["coder"], r["transcript"], int(r["_line"])) for r in table.to_dict("records")
            if str(r["primary"]).strip().lower() in _YES]


def _winning(rows: list[tuple[str, str, int]], tid: str) -> list[tuple[str, str, int]]:
    """The primary rows that decide ``tid``: those matching it at the highest specificity."""
    hits = [r for r in rows if matches(r[1], tid)]
    if not hits:
        return []
    top = max(_specificity(p) for _c, p, _l in hits)
    return [r for r in hits if _specificity(r[1]) == top]


def primary_problems(table: pd.DataFrame | None, path: str, transcripts: Iterable[str]) -> list[Problem]:
    """The assignments table's ``primary`` column checked without the codings (also at load).

    A value other than yes/no, and two coders marked primary for one transcript at the same
    specificity, are problems on the later row's line.
    """
    if table is None or not len(table) or "primary" not in table.columns:
        return []
    problems: list[Problem] = []
    for r in table.to_dict("records"):
        v = str(r["primary"]).strip().lower()
        if v not in _YES | _NO:
            problems.append(Problem(path, int(r["_line"]), f"primary {r['primary']!r} must be yes or no "
                                                           "(empty means no)"))
    rows = _primary_rows(table)
    seen: set[tuple[int, int]] = set()
    for tid in sorted(set(transcripts)):
        win = _winning(rows, tid)
        coders = {c for c, _p, _l in win}
        if len(coders) > 1:
            first, later = sorted(win, key=lambda r: r[2])[0], sorted(win, key=lambda r: r[2])[1:]
            for c, p, line in later:
                if c == first[0] or (first[2], line) in seen:
                    continue
                seen.add((first[2], line))
                problems.append(Problem(path, line, (
                    f"two primary coders for {tid}: {first[0]} (line {first[2]}, {first[1]}) and {c} "
                    f"({p}): mark one of them primary, the other 'no'")))
    return problems


def lead_coder(coverage: pd.DataFrame) -> str:
    """The coder who coded most transcripts (ties by coder id); "" without coverage."""
    if not len(coverage):
        return ""
    n = coverage.drop_duplicates(["transcript", "coder"]).groupby("coder")["transcript"].size()
    return sorted(n.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def counted_coders(coverage: pd.DataFrame, table: pd.DataFrame | None = None,
                   path: str = "data/coding_assignments.tsv") -> tuple[pd.DataFrame, list[Problem]]:
    """One row per coded transcript (``COUNTED_COLUMNS``), in coverage order, and the problems.

    ``counted_by`` says which rule chose the coder: ``primary (<path>:<line>)``, ``lead coder`` or
    ``first coder by id``. A coder marked primary on an exact transcript row who did not code it is
    a problem (the row's line): fix the row or deliver their codings.
    """
    rows = _primary_rows(table)
    problems = primary_problems(table, path, coverage["transcript"]) if table is not None else []
    lead = lead_coder(coverage)
    coders_of = coverage.groupby("transcript", sort=False)["coder"].agg(lambda s: sorted(set(s)))
    out = []
    for tid, coders in coders_of.items():
        win = [r for r in _winning([r for r in rows if _specificity(r[1]) == 2 or r[0] in coders], tid)]
        chosen, how = "", ""
        if win:
            c, p, line = sorted(win, key=lambda r: r[2])[0]
            if c in coders:
                chosen, how = c, f"primary ({path}:{line})"
            else:
                problems.append(Problem(path, line, (
                    f"coder {c} is marked primary for {tid} but did not code it (results/codes/coverage.tsv "
                    f"lists {', '.join(coders)}): mark a coder of it primary, or deliver {c}'s codings")))
        if not chosen:
            chosen, how = (lead, "lead coder") if lead in coders else (coders[0], "first coder by id")
        out.append({"transcript": tid, "coders": ";".join(coders), "counted_coder": chosen, "counted_by": how})
    return pd.DataFrame(out, columns=COUNTED_COLUMNS), problems


def counted_codings(codings: pd.DataFrame, counted: pd.DataFrame | None,
                    count: str = "primary") -> tuple[pd.DataFrame, set[str] | None]:
    """The codings (or coded units) that count and the set of coded transcripts (None: no
    ``counted``, all count). Filter after checking every coding, so a bad row is never hidden.

    ``count="primary"`` keeps each coded transcript's counted coder's codings only; ``"union"``
    keeps every coder's codings of the coded transcripts (the behaviour before issue 12).
    """
    if counted is None:
        return codings, None
    if count not in COUNT_MODES:
        raise ValueError(f"count must be one of {', '.join(COUNT_MODES)}, not {count!r}")
    coded = set(counted["transcript"])
    keep = codings["transcript"].isin(coded)
    if count == "primary":
        who = dict(zip(counted["transcript"], counted["counted_coder"]))
        keep &= codings["coder"].astype(str).to_numpy() == codings["transcript"].map(who).fillna("").to_numpy()
    out = codings[keep]
    out.attrs = codings.attrs
    return out, coded
