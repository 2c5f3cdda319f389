"""Valence of a coding (facilitator, barrier, mixed), read the ways coders' tools can record it.

A CFIR analysis reports every influence as a facilitator or a barrier. Coders record that in one of
three ways, and all three must give the same ``valence`` in ``results/codes/codings.tsv``:

* a **TSV** ``valence`` column (``facilitator`` | ``barrier`` | ``mixed``) — read by the codes stage's
  TSV reader as it is;
* in a **.qdpx** (NVivo, MAXQDA, ATLAS.ti, QualCoder), **co-coding** with valence codes: the passage
  is coded with the construct and also with a code named, e.g., "Facilitator" or "Barrier" (the
  names are the config's ``valence.codes``; they may sit under any parent node). A valence code
  gives its valence to every other coding of the same coder that overlaps it in the same turn; two
  different valences on one coding make it ``mixed``. Valence codes are not codes of the codebook
  and never reach codings.tsv themselves;
* in a .qdpx, **paired codes**: "Relative advantage (+)" / "Relative advantage (−)" — the label
  ends with a marker in parentheses (config ``valence.paired``), which is stripped before the label
  is mapped to the codebook, so the codebook keeps one code per construct.

This is a shared helper of the codes stage (like ``names`` for pseudonymisation), pure over the raw
codings frame the readers return (one row per coder, transcript, turn and span), applied before
labels are mapped to codes. The .qdpx itself is read by ``refiqda`` through the codes stage's reader.
"""
from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd

from .errors import Problem, raise_if

log = logging.getLogger("qualflow.valence")

__all__ = ["VALENCES", "DEFAULT_CODES", "DEFAULT_PAIRED", "ValenceRules", "valence_rules",
           "split_paired", "apply_valence", "content_labels", "without_codebook_labels"]

VALENCES = ("facilitator", "barrier", "mixed")
#: Valence code names recognised when the config names none (matched ignoring case and spaces).
DEFAULT_CODES: dict[str, tuple[str, ...]] = {
    "facilitator": ("Facilitator", "Facilitators"),
    "barrier": ("Barrier", "Barriers"),
    "mixed": ("Mixed", "Neutral", "Neutral/mixed", "Mixed/neutral"),
}
#: Markers in parentheses at the end of a paired code's label ("Relative advantage (+)").
DEFAULT_PAIRED: dict[str, tuple[str, ...]] = {
    "facilitator": ("+", "facilitator"),
    "barrier": ("−", "-", "–", "barrier"),
    "mixed": ("±", "+/-", "+/−", "mixed", "neutral"),
}


def _norm(text: str) -> str:
    """Compare names as a coder would: NFKC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())


@dataclass(frozen=True)
class ValenceRules:
    """Which code names are valence codes, and which label endings mark a paired code."""

    codes: Mapping[str, str] = field(default_factory=dict)      # normalised name -> valence
    paired: Mapping[str, str] = field(default_factory=dict)     # normalised marker -> valence

    @property
    def _paired_re(self) -> re.Pattern | None:
        if not self.paired:
            return None
        alts = "|".join(re.escape(m) for m in sorted(self.paired, key=len, reverse=True))
        return re.compile(rf"^(?P<base>.*?\S)\s*\(\s*(?P<mark>{alts})\s*\)\s*$", re.IGNORECASE)


@functools.lru_cache(maxsize=32)
def _compiled(paired: tuple[tuple[str, str], ...]) -> re.Pattern:
    """The paired-marker pattern, compiled once per set of markers (not once per coding row)."""
    return ValenceRules({}, dict(paired))._paired_re


def valence_rules(config: Mapping | None = None) -> ValenceRules:
    """The rules from the config's ``valence`` section (``codes`` and ``paired``: valence -> names).

    A section replaces the defaults of the part it gives (``codes`` or ``paired``); ``paired: {}``
    turns paired codes off.
    """
    config = config or {}
    codes = config.get("codes", DEFAULT_CODES)
    paired = config.get("paired", DEFAULT_PAIRED)
    return ValenceRules(
        {_norm(n): v for v in VALENCES for n in (codes.get(v) or ())},
        {_norm(m): v for v in VALENCES for m in (paired.get(v) or ())},
    )


def without_codebook_labels(rules: ValenceRules, resolve) -> ValenceRules:
    """The rules minus valence-code names that are also labels of the codebook (``resolve(name)`` is
    a code): a codebook code called "Barriers" stays a code, it is never read as a valence."""
    clash = {n for n in rules.codes if resolve(n) is not None}
    for n in sorted(clash):
        log.warning("valence code %r is also a label of the codebook: it is read as the codebook's code, "
                    "not as a valence (rename it in config valence.codes if that is wrong)", n)
    return ValenceRules({n: v for n, v in rules.codes.items() if n not in clash}, rules.paired)


def split_paired(label: str, rules: ValenceRules) -> tuple[str, str]:
    """("Relative advantage", "facilitator") for "Relative advantage (+)"; (label, "") otherwise."""
    pattern = _compiled(tuple(sorted(rules.paired.items()))) if rules.paired else None
    m = pattern.match(unicodedata.normalize("NFKC", str(label))) if pattern else None
    if not m:
        return label, ""
    return m.group("base"), rules.paired[_norm(m.group("mark"))]


def _where(r) -> tuple[str, int | None]:
    line = r.get("line")
    return str(r.get("file", "")), (int(line) if line not in (None, "") and pd.notna(line) else None)


def apply_valence(raw: pd.DataFrame, rules: ValenceRules) -> pd.DataFrame:
    """Raw codings with paired labels split and co-coded valence codes folded into ``valence``.

    Returns a new frame (same columns): valence codes removed; a paired label replaced by its base
    (in ``label`` and as the last part of ``label_path``); ``valence`` filled. A coding whose TSV
    ``valence`` contradicts its paired label is an error (``file:line``).
    """
    if raw.empty:
        return raw.copy()
    df = raw.copy()
    if "valence" not in df.columns:
        df["valence"] = ""
    df["valence"] = df["valence"].fillna("").astype(str)
    problems: list[Problem] = []

    # 1. paired codes: "Construct (+)" -> label "Construct", valence facilitator
    if rules.paired:
        split = [split_paired(lab, rules) for lab in df["label"]]
        for i, (r, (base, val)) in enumerate(zip(df.to_dict("records"), split)):
            if not val:
                continue
            if r["valence"] and r["valence"] != val:
                path, line = _where(r)
                problems.append(Problem(path, line, (
                    f"code {r['label']!r} says {val} but the valence column says {r['valence']}: "
                    "keep one of them")))
                continue
            idx = df.index[i]
            df.at[idx, "label"] = base
            lp = str(r.get("label_path") or "")
            if lp:
                parts = lp.rsplit(" > ", 1)
                df.at[idx, "label_path"] = (parts[0] + " > " + base) if len(parts) == 2 else base
            df.at[idx, "valence"] = val
    raise_if(problems)

    # 2. co-coding with valence codes: give the valence to the overlapping codings, drop the codes
    if not rules.codes:
        return df
    own = df["label"].map(lambda s: rules.codes.get(_norm(s), ""))
    is_val = own != ""
    if not is_val.any():
        return df
    vals = df[is_val].assign(_v=own[is_val])
    content = df[~is_val]
    key = ["coder", "transcript", "turn"]
    pairs = (content.reset_index().merge(vals[key + ["start", "end", "_v"]].rename(
        columns={"start": "_vs", "end": "_ve"}), on=key, how="inner"))
    pairs = pairs[(pairs["start"].astype(int) < pairs["_ve"].astype(int))
                  & (pairs["end"].astype(int) > pairs["_vs"].astype(int))]
    got: dict = {}
    for idx, v in zip(pairs["index"], pairs["_v"]):
        got.setdefault(idx, set()).add(v)
    used = set()
    if len(pairs):
        hit = vals.reset_index().merge(content[key + ["start", "end"]].rename(
            columns={"start": "_cs", "end": "_ce"}), on=key, how="inner")
        hit = hit[(hit["start"].astype(int) < hit["_ce"].astype(int))
                  & (hit["end"].astype(int) > hit["_cs"].astype(int))]
        used = set(hit["index"])
    out = content.copy()
    for idx, vs in got.items():
        before = out.at[idx, "valence"]
        vs = vs | ({before} if before else set())
        out.at[idx, "valence"] = next(iter(vs)) if len(vs) == 1 else "mixed"
    for r in vals[~vals.index.isin(used)].itertuples():
        log.warning("%s: coder %s coded %s turn %s with the valence code %r but no other code "
                    "overlaps it: the valence has nothing to qualify, dropped", r.file, r.coder,
                    r.transcript, r.turn, r.label)
    log.info("valence: %d co-coded valence codes applied to %d codings", len(used), len(got))
    return out


def content_labels(raw: pd.DataFrame, rules: ValenceRules) -> pd.DataFrame:
    """The labels that must map to the codebook: valence codes dropped, paired markers stripped.

    For checks that see labels only (the codings checked when the workflow loads), so a coder's
    "Barrier" or "Relative advantage (+)" is not reported as an unknown label.
    """
    if raw.empty:
        return raw
    keep = raw[~raw["label"].map(lambda s: _norm(s) in rules.codes)].copy()
    if rules.paired and len(keep):
        keep["label"] = [split_paired(lab, rules)[0] for lab in keep["label"]]
        if "label_path" in keep.columns:
            keep["label_path"] = [(lp.rsplit(" > ", 1)[0] + " > " + lab) if " > " in str(lp) else (lab if lp else lp)
                                  for lp, lab in zip(keep["label_path"].fillna(""), keep["label"])]
    return keep
