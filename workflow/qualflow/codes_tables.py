"""Stage 5, codes: the stage's output tables, its note and its REFI-QDA exports.

``codings.tsv`` (one row per coding and unit), ``codebook.tsv`` (the framework with provenance: who
used each code, where, first seen), ``themes.tsv`` (deductive vs inductive per theme),
``coverage.tsv`` (which coder coded which transcript: the agreement stage needs it to tell "coded,
code absent" from "not coded"), ``turns.tsv``, a summary note, and REFI-QDA exports for the next
round of coding (``codebook.qdc`` and ``coding_packet.qdpx``). Coder memos are free text and may
name people: they are written into no table, only into ``project.qdpx``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from qualflow.codebook import CANDIDATE, Codebook, CodeDef, normalise_label
from qualflow.coder_files import Transcript
from qualflow.refiqda import Code, Project, Source, stable_guid

__all__ = ["codebook_table", "themes_table", "coverage_table", "turns_table", "summary_markdown",
           "export_codes", "coding_packet", "CODINGS_COLUMNS", "CODEBOOK_COLUMNS", "COVERAGE_COLUMNS",
           "THEMES_COLUMNS", "TURNS_COLUMNS", "TURNS_READ_COLUMNS", "turns_read",
           "UNITS_READ_COLUMNS", "units_read"]

CODINGS_COLUMNS = ["site", "transcript", "turn", "coder", "code", "theme", "origin", "label",
                   "start", "end", "source", "valence"]
CODEBOOK_COLUMNS = ["code", "label", "theme", "origin", "definition", "coders", "n_codings",
                    "n_units", "n_transcripts", "n_sites", "first_seen", "introduced_by",
                    "labels_used"]
COVERAGE_COLUMNS = ["site", "transcript", "wave", "coder", "source", "n_codings", "n_units"]
THEMES_COLUMNS = ["theme", "label", "description", "n_codes", "n_deductive", "n_inductive",
                  "deductive", "inductive", "n_codings", "n_units", "n_transcripts"]

#: Theme colours in the REFI-QDA exports (ColorBrewer Dark2), so themes look the same in every tool.
THEME_COLOURS = ["#1B9E77", "#D95F02", "#7570B3", "#E7298A", "#66A61E", "#E6AB02", "#A6761D",
                 "#666666"]

# =========================================================================== tables


def _finish_codings(df: pd.DataFrame, transcripts: Mapping[str, Transcript],
                    order: Mapping[str, int], extra: Sequence[str] = ()) -> pd.DataFrame:
    """codings.tsv: exact duplicates once (the same span from two files), in study order.

    ``extra`` columns (the memo, for project.qdpx) are kept after the codings.tsv columns."""
    out = df.copy()
    out["site"] = out["transcript"].map(lambda t: transcripts[t].site)
    for col in ("turn", "start", "end"):
        out[col] = out[col].astype("int64")
    out["_t"] = out["transcript"].map(order)
    out = out.sort_values(["_t", "turn", "coder", "code", "start", "end", "source", "label"],
                          kind="stable")
    out = out.drop_duplicates(["transcript", "turn", "coder", "code", "start", "end"])
    return out[CODINGS_COLUMNS + list(extra)].reset_index(drop=True)


def _join(values) -> str:
    return ";".join(sorted(dict.fromkeys(str(v) for v in values if str(v))))


def codebook_table(codebook: Codebook, codings: pd.DataFrame, candidates: Sequence[CodeDef],
                   order: Mapping[str, int]) -> pd.DataFrame:
    """The final framework with provenance, codes in theme order (candidates last)."""
    theme_rank = {t.id: i for i, t in enumerate(codebook.themes)}
    codes = sorted(codebook.codes, key=lambda c: theme_rank[c.theme]) + list(candidates)
    rows = []
    for c in codes:
        g = codings[codings["code"] == c.id]
        coders = _join(g["coder"])
        first = min(g["transcript"], key=lambda t: order[t]) if len(g) else ""
        if c.introduced_by:
            intro = ";".join(c.introduced_by)
        elif c.origin != "deductive":
            intro = coders
        else:
            intro = ""
        used = sorted({(lab, who) for lab, who in zip(g["label"], g["coder"])},
                      key=lambda x: (x[1], normalise_label(x[0]), x[0]))
        rows.append({
            "code": c.id, "label": c.label, "theme": c.theme, "origin": c.origin,
            "definition": c.definition, "coders": coders, "n_codings": len(g),
            "n_units": len(g.drop_duplicates(["transcript", "turn"])),
            "n_transcripts": g["transcript"].nunique(), "n_sites": g["site"].nunique(),
            "first_seen": first, "introduced_by": intro,
            "labels_used": "; ".join(f"{lab} ({who})" for lab, who in used),
        })
    return pd.DataFrame(rows, columns=CODEBOOK_COLUMNS)


def themes_table(codebook: Codebook, book: pd.DataFrame, codings: pd.DataFrame) -> pd.DataFrame:
    """Per theme: how many codes are deductive vs inductive, and who introduced each inductive one."""
    rows = []
    for t in codebook.themes:
        b = book[book["theme"] == t.id]
        ded = b[b["origin"] == "deductive"]
        ind = b[b["origin"] == "inductive"]
        g = codings[codings["theme"] == t.id]
        rows.append({
            "theme": t.id, "label": t.label, "description": t.description,
            "n_codes": len(b), "n_deductive": len(ded), "n_inductive": len(ind),
            "deductive": ";".join(ded["code"]),
            "inductive": ";".join(f"{r.code} ({r.introduced_by or 'unused'})"
                                  for r in ind.itertuples()),
            "n_codings": len(g), "n_units": len(g.drop_duplicates(["transcript", "turn"])),
            "n_transcripts": g["transcript"].nunique(),
        })
    return pd.DataFrame(rows, columns=THEMES_COLUMNS)


def coverage_table(coverage: Sequence[tuple[str, str, str, str]], codings: pd.DataFrame,
                   transcripts: Mapping[str, Transcript], order: Mapping[str, int],
                   waves: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Which coder coded which transcript, from which kind of file, and how much they coded.

    A coder listed here for a transcript but without codings on a turn means "absent", not missing.
    ``waves`` gives each transcript's wave (``<site>.<T>`` -> wave; "" without waves).
    """
    waves = waves or {}
    seen: dict[tuple[str, str], set[str]] = {}
    for tid, coder, source, _file in coverage:
        seen.setdefault((tid, coder), set()).add(source)
    # One pass over the codings (a filter per (transcript, coder) pair was quadratic in the study).
    grouped = codings.groupby(["transcript", "coder"], sort=False)["turn"]
    n_codings, n_units = grouped.size().to_dict(), grouped.nunique().to_dict()
    rows = []
    for (tid, coder), sources in seen.items():
        rows.append({"site": transcripts[tid].site, "transcript": tid, "wave": waves.get(tid, ""), "coder": coder,
                     "source": ";".join(sorted(sources)), "n_codings": int(n_codings.get((tid, coder), 0)),
                     "n_units": int(n_units.get((tid, coder), 0)), "_t": order[tid]})
    out = pd.DataFrame(rows, columns=COVERAGE_COLUMNS + ["_t"])
    out = out.sort_values(["_t", "coder"], kind="stable").drop(columns="_t")
    return out.reset_index(drop=True)


TURNS_COLUMNS = ["site", "transcript", "turn", "speaker", "unit", "turn_sha"]


def turns_table(transcripts: Mapping[str, Transcript], order: Mapping[str, int],
                offsets: bool = False) -> pd.DataFrame:
    """results/codes/turns.tsv: every turn with its anchor, for TSV coders to copy into ``turn_sha``
    (a corrected transcript then moves their codings instead of silently shifting them).

    ``offsets`` adds each turn's ``offset_start`` in the whole text: a site's part of the table
    (restricted/codes/<site>/turns.tsv) is all the merge needs of the turns for project.qdpx; and its
    ``kind``, ``role`` and ``words`` (counting.word_count), for :func:`turns_read`."""
    from qualflow.coding_checks import turn_sha
    from qualflow.counting import word_count
    parts = []
    for tid in sorted(transcripts, key=lambda t: order[t]):
        t = transcripts[tid]
        cols = {
            "site": t.site, "transcript": tid, "turn": t.turns["turn"].astype("int64"),
            "speaker": t.turns["speaker"].astype(str),
            "unit": t.turns["unit"].map({True: "yes", False: "no"}),
            "turn_sha": [turn_sha(str(x)) for x in t.turns["text"]]}
        if offsets:
            cols["offset_start"] = t.turns["offset_start"].astype("int64")
            for col in ("kind", "role"):
                cols[col] = t.turns[col].fillna("").astype(str) if col in t.turns.columns else ""
            cols["words"] = [word_count(x) for x in t.turns["text"].fillna("").astype(str)]
        parts.append(pd.DataFrame(cols))
    columns = TURNS_COLUMNS + (["offset_start", "kind", "role", "words"] if offsets else [])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


TURNS_READ_COLUMNS = ["site", "transcript", "turn", "speaker", "kind", "role", "words", "coded_sha"]
UNITS_READ_COLUMNS = ["site", "transcript", "turn", "speaker", "kind", "role"]


def turns_read(turns: pd.DataFrame, codings: pd.DataFrame) -> pd.DataFrame:
    """restricted/codes/turns_read.tsv: what the study-wide stages that quote (themes, agreement_ledger,
    framework_matrix) read of the English turns, without the text: every turn's speaker, kind, role
    and word count, and the text's hash for the turns a coding points at (``coded_sha``; they quote
    only those). The jobs read the turn tables themselves; Snakemake decides on this table's settled
    copy, so a changed turn nobody coded, with as many words, does not re-run them (docs/DESIGN.md,
    "What re-runs"). ``turns``: the sites' parts (turns_table with offsets), in output order."""
    coded = set(zip(codings["transcript"].astype(str), pd.to_numeric(codings["turn"]).astype("int64")))
    out = turns.reindex(columns=[c for c in TURNS_READ_COLUMNS if c != "coded_sha"] + ["turn_sha"]).copy()
    keep = [(t, int(n)) in coded for t, n in zip(out["transcript"].astype(str), out["turn"])]
    out["coded_sha"] = out["turn_sha"].where(keep, "")
    return out[TURNS_READ_COLUMNS].reset_index(drop=True)


def units_read(turns: pd.DataFrame) -> pd.DataFrame:
    """restricted/codes/units_read.tsv: what the agreement tables read of the English turns, which
    turns are units (speech, not a facilitator's), with no words and no text: an edit of the words
    leaves it as it was, so the bootstrap re-runs only when the codings change (docs/DESIGN.md,
    "What re-runs")."""
    return turns.reindex(columns=UNITS_READ_COLUMNS).reset_index(drop=True)


def summary_markdown(codebook: Codebook, themes: pd.DataFrame, book: pd.DataFrame,
                     coverage: pd.DataFrame, codings: pd.DataFrame, unmapped: pd.DataFrame,
                     counted: Sequence[str] = (), anchors: pd.DataFrame | None = None) -> str:
    """The note for the analysts: framework per theme, who introduced what, who coded what."""
    out = ["# Coding framework", "",
           f"{len(book[book['origin'] == 'deductive'])} deductive codes (the framework), "
           f"{len(book[book['origin'] == 'inductive'])} inductive codes, "
           f"{len(book[book['origin'] == CANDIDATE])} candidate codes; "
           f"{len(codings)} codings by {codings['coder'].nunique()} coder(s) on "
           f"{codings.drop_duplicates(['transcript', 'turn']).shape[0]} units in "
           f"{codings['transcript'].nunique()} transcripts.", "",
           "## Codes per theme", "",
           "| theme | deductive | inductive | inductive codes (introduced by) |",
           "|---|---:|---:|---|"]
    for r in themes.itertuples():
        ind = ", ".join(f"{x.code} ({x.introduced_by or 'unused'})"
                        for x in book[(book["theme"] == r.theme) & (book["origin"] == "inductive")].itertuples())
        out.append(f"| {r.label} | {r.n_deductive} | {r.n_inductive} | {ind} |")
    out += ["", "## Coders", "", "| coder | transcripts | codings | units |", "|---|---:|---:|---:|"]
    for coder, g in coverage.groupby("coder", sort=True):
        c = codings[codings["coder"] == coder]
        out.append(f"| {coder} | {len(g)} | {len(c)} | {len(c.drop_duplicates(['transcript', 'turn']))} |")
    double = coverage.groupby("transcript")["coder"].nunique()
    double = sorted(double[double >= 2].index)
    out += ["", f"Transcripts coded by two or more coders: {', '.join(double) or 'none'}."]
    out += [""] + [" ".join(counted)] if counted else []
    if anchors is not None and len(anchors):
        n = anchors["status"].value_counts()
        decided = (f" By decision, {int(n.get('accepted', 0))} took their proposed span and "
                   f"{int(n.get('rejected', 0))} were dropped."
                   if n.get("accepted", 0) or n.get("rejected", 0) else "")
        out += ["", "## Codings on a corrected transcript", "",
                f"{int(n.get('moved', 0))} coding(s) were made on an older version of their transcript "
                f"and moved to the unchanged words in the current one; {int(n.get('review', 0))} need "
                "review (their own words changed) and are left out until re-coded or decided in "
                "data/reanchor_decisions.tsv: see reanchor_review.tsv." + decided]
    unused = book[(book["n_codings"] == 0) & (book["origin"] != CANDIDATE)]["code"].tolist()
    if unused:
        out += ["", f"Codes no coder used: {', '.join(unused)}."]
    if len(unmapped):
        out += ["", "## Unmapped labels", "",
                "| coder | label | n | candidate | closest code |", "|---|---|---:|---|---|"]
        for r in unmapped.itertuples():
            out.append(f"| {r.coder} | {r.label} | {r.n} | {r.candidate} | {r.suggestion} |")
    return "\n".join(out) + "\n"


# =========================================================================== REFI-QDA exports


def export_codes(codebook: Codebook) -> list[Code]:
    """The codebook as REFI-QDA codes: each theme a non-codable parent, its codes beneath it, and a
    subcode (``parent`` in codebook.yaml) beneath its parent code."""
    out: list[Code] = []
    for i, t in enumerate(codebook.themes):
        tg = stable_guid("qualflow-theme", t.id)
        colour = THEME_COLOURS[i % len(THEME_COLOURS)]
        out.append(Code(tg, t.label, None, t.description, colour, False))
        for c in codebook.codes:
            if c.theme == t.id:
                desc = f"{c.definition} [{c.origin}; id {c.id}]"
                parent = stable_guid("qualflow-code", c.parent) if getattr(c, "parent", "") else tg
                out.append(Code(stable_guid("qualflow-code", c.id), c.label, parent, desc, colour, True))
    return out


def coding_packet(codebook: Codebook, transcripts: Mapping[str, Transcript], coders: Sequence[str],
                  order: Mapping[str, int]) -> Project:
    """What coders import to start coding: every transcript and the codebook, no codings, no users.

    No ``<User>``: QualCoder's importer makes the project's first user the coder name for all
    later work (``refi.py``: ``settings['codername'] = users[0]['name']``), so a packet naming
    coder_a would make every coder who imports it code as coder_a. ``coders`` is kept for callers.
    Source GUIDs include the text hash, so a corrected transcript is a new source in the coders'
    tools rather than silently replacing the one their offsets refer to.
    """
    sources = [Source(stable_guid("qualflow-source", tid, transcripts[tid].sha256), tid,
                      transcripts[tid].text)
               for tid in sorted(transcripts, key=lambda t: order[t])]
    return Project(name="qualflow coding packet", origin="qualflow", users=[],
                   codes=export_codes(codebook), sources=sources, codings=[])

