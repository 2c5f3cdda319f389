"""Stage 5 (codes), the checks on who coded what and on which text: a part of ``qualflow.codebook``.

* **attribution** — one coder coding one transcript in two files is an error naming both
  (QualCoder names the coder after the first ``<User>`` of the project it imported, so a third coder
  shows up as coder_a);
* **re-anchoring** — a coder's source text that is not the current transcript: line endings and a BOM
  are the same text, an older version is aligned with the corrected one (``qualflow.anchors``) and
  every coding whose words are unchanged moves; the rest is listed for review, never moved.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from qualflow.anchors import line_ending_positions, normalise_newlines, reanchor
from qualflow.errors import Problem
from qualflow.refiqda import Coding, Source

if TYPE_CHECKING:
    from qualflow.codebook import Transcript

__all__ = ["REANCHOR_COLUMNS", "align_source", "apply_assignments", "duplicate_coders", "reanchor_table"]

log = logging.getLogger("qualflow.codebook")

#: results/codes/reanchor_review.tsv: every coding made on another version of its transcript.
REANCHOR_COLUMNS = ["coder", "transcript", "label", "status", "offsets", "old_turn", "old_start",
                    "old_end", "old_text", "new_turn", "new_start", "new_end", "new_text", "file",
                    "line"]


def _turn_at(t: Transcript, offset: int) -> int | None:
    """The turn whose text contains (or starts at) a whole-text offset, for the review table."""
    os_ = t.turns["offset_start"].to_numpy()
    i = int(np.searchsorted(os_, offset, side="right")) - 1
    return int(t.turns.at[i, "turn"]) if i >= 0 else None


def align_source(s: Source, t: Transcript, codings: list[Coding], coder: str, spath: str,
                  anchors: list[dict]) -> list[Coding] | None:
    """The codings of a source whose text is not the current transcript's, in current positions.

    Line endings and a BOM are no difference: positions are mapped and every coding kept. Any
    other difference is a corrected transcript: codings whose text is unchanged are moved, the
    others go to the review table (``anchors``) and are left out. ``None`` when nothing can be
    aligned (the current transcript itself is not LF text).
    """
    if "\r" in t.text:
        return None
    spans = [(c.start, c.end) for c in codings]
    old = normalise_newlines(s.text)
    if "\r" in s.text:
        reading, spans = line_ending_positions(s.text, spans)
        log.info("%s: source %r has CRLF line endings; its positions were read as %s", spath,
                 s.name, "one character per line break" if reading != "code points" else
                 "code points (a line break is two)")
    moved = [replace(c, start=a, end=b) for c, (a, b) in zip(codings, spans)]
    if old == t.text:
        return moved
    out: list[Coding] = []
    n_moved = n_review = 0
    for c, m, a in zip(codings, moved, reanchor(old, t.text, [(m.start, m.end) for m in moved])):
        row = {"coder": c.coder or coder, "transcript": t.id, "label": c.code, "status": a.status,
               "offsets": "source", "old_turn": "", "old_start": m.start, "old_end": m.end,
               "old_text": old[m.start:m.end], "new_turn": _turn_at(t, a.start),
               "new_start": a.start, "new_end": a.end, "new_text": t.text[a.start:a.end],
               "file": spath, "line": None}
        anchors.append(row)
        if a.status == "moved":
            n_moved += 1
            out.append(replace(c, start=a.start, end=a.end))
        else:
            n_review += 1
    log.warning("%s: source %r (%s) is an older version of %s: %d coding(s) moved to the "
                "corrected text, %d need review (their own text changed; left out until confirmed, "
                "see results/codes/reanchor_review.tsv)", spath, s.name, t.id, t.txt_path, n_moved,
                n_review)
    return out


def duplicate_coders(coverage: Sequence[tuple[str, str, str, str]]) -> list[Problem]:
    """One coder coding one transcript in two files: their codings would be pooled silently.

    This is how a third coder shows up as another (QualCoder names the coder after the first user
    of the project it imported): one problem per coder and pair of files, naming both.
    """
    first: dict[tuple[str, str], str] = {}
    pairs: dict[tuple[str, str, str], list[str]] = {}
    for tid, coder, _kind, path in coverage:
        f = first.setdefault((tid, coder), path)
        if f != path:
            pairs.setdefault((coder, f, path), [])
            if tid not in pairs[(coder, f, path)]:
                pairs[(coder, f, path)].append(tid)
    return [Problem(path, None, (
        f"coder {coder} coded {', '.join(tids)} here and in {f} too: a coder codes a transcript "
        f"once, so one of the two files is someone else's or an old copy. If another person "
        f"coded it (QualCoder names the coder after the first user of the project it imported), "
        f"set their own coder name in the tool, export again and put the file in "
        f"data/codings/<their id>/; otherwise remove the old file"))
        for (coder, f, path), tids in pairs.items()]


def reanchor_table(anchors: Sequence[dict], order: Mapping[str, int]) -> pd.DataFrame:
    """results/codes/reanchor_review.tsv: every coding made on another version of its transcript,
    ``moved`` (its text is unchanged; now at ``new_*``) or ``review`` (left out until a person
    re-codes it on the current transcript)."""
    out = pd.DataFrame(list(anchors), columns=REANCHOR_COLUMNS)
    if len(out):
        out["_t"] = out["transcript"].map(order)
        out["_s"] = out["status"].map({"review": 0, "moved": 1})
        out = out.sort_values(["_s", "_t", "coder", "file", "old_start", "old_end", "label"],
                              kind="stable").drop(columns=["_t", "_s"])
    for col in ("old_turn", "new_turn", "line"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    return out.reset_index(drop=True)


def _matches(pattern: str, tid: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return tid.split(".", 1)[0] == pattern[:-2]
    return pattern == tid


def apply_assignments(coverage: Sequence[tuple[str, str, str, str]],
                      delivered: Sequence[tuple[str, str, str, str]],
                      table: pd.DataFrame | None, path: str, transcripts: Mapping[str, "Transcript"],
                      ) -> tuple[list[tuple[str, str, str, str]], list[str], list[Problem]]:
    """Which coder coded which transcript: the declared table where there is one, else the rule.

    Without a table a transcript counts as coded by a coder when it was delivered as a TSV or holds
    one of the coder's .qdpx codings. With a table, the coders it lists are counted on exactly the
    transcripts it gives them: a listed transcript the coder delivered without codings counts as
    coded (nothing found); a listed one they did not deliver, or codings on one it does not list,
    is an error. Coders the table does not name keep the rule. Returns the coverage, sentences for
    the summary saying what was counted, and the problems.
    """
    problems: list[Problem] = []
    notes: list[str] = []
    cov = list(coverage)
    covered = {(t, c) for t, c, _k, _f in cov}
    left_out: dict[str, list[str]] = {}
    for t, c, _k, _f in delivered:
        if (t, c) not in covered:
            left_out.setdefault(c, [])
            if t not in left_out[c]:
                left_out[c].append(t)
    if table is None or not len(table):
        notes.append("Counted as coded: a transcript a coder delivered as a TSV (even header-only) or "
                     "one holding at least one of their .qdpx codings (no coding assignments table).")
    else:
        assigned: dict[str, list[tuple[str, int]]] = {}
        for r in table.to_dict("records"):
            assigned.setdefault(r["coder"], []).append((r["transcript"], int(r["_line"])))
        kinds = {(t, c): (k, f) for t, c, k, f in list(delivered) + cov}
        for coder, pats in assigned.items():
            for pat, line in pats:
                hits = [t for t in transcripts if _matches(pat, t)]
                if not hits:
                    problems.append(Problem(path, line, (
                        f"transcript {pat!r} of coder {coder} matches no transcript of the study: "
                        "use <site>.<transcript>, <site>.* or *")))
                for t in hits:
                    if (t, coder) in covered:
                        continue
                    if (t, coder) in kinds:
                        k, f = kinds[(t, coder)]
                        cov.append((t, coder, k, f))
                        covered.add((t, coder))
                        if t in left_out.get(coder, []):
                            left_out[coder].remove(t)
                    elif "*" not in pat:
                        problems.append(Problem(path, line, (
                            f"coder {coder} is assigned {t} but delivered nothing for it (no "
                            f"data/codings/{coder}/{t}.tsv and no source for it in their .qdpx): add "
                            "their file, or remove the row")))
            for t, c, _k, f in cov:
                if c == coder and not any(_matches(p, t) for p, _l in pats):
                    problems.append(Problem(path, None, (
                        f"coder {coder} coded {t} ({f}) but the table does not assign it to them: "
                        f"add the row '{coder}\t{t}', or remove those codings")))
        cov = [x for x in cov if x[1] not in assigned or any(_matches(p, x[0]) for p, _l in assigned[x[1]])]
        named = ", ".join(sorted(assigned))
        others = sorted({c for _t, c, _k, _f in cov} - set(assigned))
        notes.append(f"Counted as coded: the transcripts {path} assigns to {named}"
                     + (f"; for {', '.join(others)} (not in the table), a transcript delivered as a "
                        "TSV or holding one of their .qdpx codings." if others else "."))
    for coder, tids in sorted(left_out.items()):
        if tids:
            msg = (f"coder {coder}: {len(tids)} source(s) in their .qdpx have none of their codings "
                   f"and are not counted as coded ({', '.join(tids)}); if they read them and found "
                   f"nothing, list them in the coding assignments table")
            log.warning("%s", msg)
            notes.append(msg[0].upper() + msg[1:] + ".")
    return cov, notes, problems
