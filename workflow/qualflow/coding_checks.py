"""Stage 5 (codes), the checks on who coded what and on which text: a part of the codes stage (``qualflow.codes``).

* **attribution** — one coder coding one transcript in two files is an error naming both
  (QualCoder names the coder after the first ``<User>`` of the project it imported, so a third coder
  shows up as coder_a);
* **re-anchoring** — a coder's source text that is not the current transcript: line endings and a BOM
  are the same text, an older version is aligned with the corrected one (``qualflow.anchors``) and
  every coding whose words are unchanged moves; the rest is listed for review, never moved.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from qualflow.anchors import line_ending_positions, normalise_newlines, reanchor
from qualflow.counting import matches
from qualflow.errors import Problem
from qualflow.refiqda import Coding, Source

if TYPE_CHECKING:
    from qualflow.coder_files import Transcript

__all__ = ["NEUTRAL_USERS", "REANCHOR_COLUMNS", "Decisions", "align_source", "apply_assignments",
           "check_codings_at_load", "duplicate_coders", "reanchor_table", "row_transcript_problem",
           "tsv_anchor", "turn_sha", "valence_of"]

log = logging.getLogger("qualflow.codebook")

#: creatingUser names that are no person (a tool's default, our neutral user): the folder's coder.
NEUTRAL_USERS = {"qualflow", "default", ""}

#: results/codes/reanchor_review.tsv: every coding made on another version of its transcript.
REANCHOR_COLUMNS = ["coder", "transcript", "label", "status", "offsets", "old_turn", "old_start",
                    "old_end", "old_text", "new_turn", "new_start", "new_end", "new_text", "file",
                    "line"]


def row_transcript_problem(path: str, line: int | None, tid: str, file_tid: str | None,
                           exists: bool, known: str) -> Problem:
    """What is wrong with a coding row's transcript: one wording for the load-time check and the job."""
    if not exists:
        return Problem(path, line, (
            f"transcript {tid!r} does not exist (known: {known}): use <site>.<transcript> "
            "as in results/pseudonymised/<site>/<transcript>.en.tsv"))
    return Problem(path, line, (
        f"the row names transcript {tid!r} but the file is {file_tid}'s: move the row "
        f"to {tid}.tsv or correct the transcript"))


def _turn_at(t: Transcript, offset: int) -> int | None:
    """The turn whose text contains (or starts at) a whole-text offset, for the review table."""
    os_ = t.turns["offset_start"].to_numpy()
    i = int(np.searchsorted(os_, offset, side="right")) - 1
    return int(t.turns.at[i, "turn"]) if i >= 0 else None


class Decisions:
    """A person's decisions on codings held for review (``data/reanchor_decisions.tsv``): each row
    names a review row of ``reanchor_review.tsv`` by coder, transcript, label, old_turn, old_start and
    old_end, and says ``accept`` (the coding takes the proposed span) or ``reject`` (it is dropped)."""

    KEY = ("coder", "transcript", "label", "old_turn", "old_start", "old_end")

    def __init__(self, rows: Mapping[tuple, tuple[str, int]], path: str) -> None:
        self.rows, self.path, self.used = dict(rows), path, set()

    @classmethod
    def read(cls, path: str | Path) -> "Decisions":
        from qualflow.tables import read_tsv
        df = read_tsv(path, "reanchor_decisions.schema.yaml", allow_empty=True)
        rows = {}
        for r in df.to_dict("records"):
            rows[tuple(str(r.get(k, "")) for k in cls.KEY)] = (r["decision"], int(r["_line"]))
        return cls(rows, str(path))

    @classmethod
    def key(cls, row: Mapping) -> tuple:
        def s(v) -> str:
            return "" if v is None or (isinstance(v, float) and v != v) else str(v)
        return tuple(s(row.get(k, "")) for k in cls.KEY)

    def decide(self, row: Mapping) -> str:
        """``accept``, ``reject`` or "" for a review row."""
        k = self.key(row)
        if k in self.rows:
            self.used.add(k)
            return self.rows[k][0]
        return ""

    def warn_unused(self) -> None:
        for k, (_d, line) in self.rows.items():
            if k not in self.used:
                log.warning("%s:%s: this decision matches no coding held for review (it was re-coded, "
                            "or the transcript changed again): remove the row", self.path, line)


def align_source(s: Source, t: Transcript, codings: list[Coding], coder: str, spath: str,
                 anchors: list[dict], names: Mapping[str, str] | None = None,
                 decisions: Decisions | None = None) -> list[Coding] | None:
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
        row = {"coder": coder if c.coder in NEUTRAL_USERS or c.coder is None else c.coder,
               "transcript": t.id, "label": (names or {}).get(c.code, c.code), "status": a.status,
               "offsets": "source", "old_turn": "", "old_start": m.start, "old_end": m.end,
               "old_text": old[m.start:m.end], "new_turn": _turn_at(t, a.start),
               "new_start": a.start, "new_end": a.end, "new_text": t.text[a.start:a.end],
               "file": spath, "line": None}
        anchors.append(row)
        decided = decisions.decide(row) if decisions is not None and a.status == "review" else ""
        if decided == "accept" and a.end > a.start:
            row["status"] = "accepted"
        elif decided == "reject":
            row["status"] = "rejected"
        if row["status"] in ("moved", "accepted"):
            n_moved += 1
            out.append(replace(c, start=a.start, end=a.end))
        else:
            n_review += row["status"] == "review"
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
    for col in ("old_turn", "old_start", "old_end", "new_turn", "new_start", "new_end", "line"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    if len(out):
        out["_t"] = out["transcript"].map(order)
        out["_s"] = out["status"].map({"review": 0, "accepted": 1, "rejected": 2, "moved": 3})
        out = out.sort_values(["_s", "_t", "coder", "file", "old_start", "old_end", "label"],
                              kind="stable").drop(columns=["_t", "_s"])
    return out.reset_index(drop=True)


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
                hits = [t for t in transcripts if matches(pat, t)]
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
                if c == coder and not any(matches(p, t) for p, _l in pats):
                    problems.append(Problem(path, None, (
                        f"coder {coder} coded {t} ({f}) but the table does not assign it to them: "
                        f"add the row '{coder}\t{t}', or remove those codings")))
        cov = [x for x in cov if x[1] not in assigned or any(matches(p, x[0]) for p, _l in assigned[x[1]])]
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


def _by_name(name: str, english: Mapping) -> str | None:
    """A .qdpx source's transcript by its name alone (``kampala.FG2``, ``.en``/``.txt`` allowed)."""
    n = name.strip()
    for suffix in (".txt", ".en"):
        if n.lower().endswith(suffix):
            n = n[: -len(suffix)]
    return n if n in english else None


def check_codings_at_load(codings_dir: str | Path, codebook, english: Mapping[str, tuple[str, Sequence[int]]],
                          unmapped: str = "fail", valence_config: Mapping | None = None) -> list[Problem]:
    """The codings' problems that need no pseudonymised text, found when the workflow loads.

    ``english`` maps each transcript id (``<site>.<T>``) to the path of its pseudonymised turn table
    and its turn numbers (turns are numbered in the raw transcript and kept by pseudonymisation).
    Checks the coder folders, TSV columns, transcript ids, turn numbers, ``start``/``end`` pairs and
    every label against the codebook (the ``codes`` job's messages, word for word); what needs the
    pseudonymised text (spans within a turn, quoted text, .qdpx source texts) stays with the job.
    Linear in the codings: one dict lookup per row. ``valence_config``: the config's ``valence`` section
    (valence codes and paired-code markers are not codebook labels; ``qualflow.valence``).
    """
    from qualflow.codebook import map_labels
    from qualflow.coder_files import RAW_COLUMNS, TRANSCRIPT_ID, _code_paths, _known, discover_codings
    from qualflow.errors import InputError
    from qualflow.refiqda import read_qdpx
    from qualflow.tables import read_tsv

    problems: list[Problem] = []
    try:
        files = discover_codings(codings_dir)
    except InputError as e:
        return e.problems
    known = _known(english)
    turn_sets = {tid: set(turns) for tid, (_p, turns) in english.items()}
    rows: list[dict] = []
    cov: list[tuple[str, str, str, str]] = []     # what duplicate_coders needs, by source name only
    for coder, path in files:
        try:
            if path.lower().endswith(".qdpx"):
                project = read_qdpx(path)
                paths = _code_paths(project.codes)
                users = {u.name for u in project.users} - NEUTRAL_USERS
                names = {s.guid: _by_name(s.name, english) for s in project.sources}
                valence = valence_of(project.codes)
                for c in project.codings:
                    if c.code in valence:
                        continue
                    name, cpath = paths.get(c.code, ("", ""))
                    who = c.coder if c.coder in users else coder
                    rows.append({"coder": who, "label": name, "label_path": cpath, "file": path,
                                 "line": None})
                    if names.get(c.source):
                        cov.append((names[c.source], who, "qdpx", path))
                continue
            df = read_tsv(path, "codings.schema.yaml", allow_empty=True)
        except InputError as e:
            problems.extend(e.problems)
            continue
        stem = Path(path).name[: -len(".tsv")]
        file_tid = stem if TRANSCRIPT_ID.match(stem) else None
        if file_tid and file_tid not in english:
            problems.append(Problem(path, None, (
                f"the file is named for transcript {stem!r}, which does not exist (known: {known}): "
                "rename the file <site>.<transcript>.tsv")))
            continue
        for r in df.to_dict("records"):
            line, tid = r["_line"], r["transcript"]
            if tid not in english or (file_tid and tid != file_tid):
                problems.append(row_transcript_problem(path, line, tid, file_tid, tid in english, known))
                continue
            turn, (tsv_path, turns) = int(r["turn"]), english[tid]
            if turn not in turn_sets[tid]:
                problems.append(Problem(path, line, (
                    f"turn {turn} does not exist in {tid} (it has turns {min(turns)}-{max(turns)}): "
                    f"check the turn number against {tsv_path}")))
                continue
            if (r.get("start", "") == "") != (r.get("end", "") == ""):
                problems.append(Problem(path, line, "give both start and end, or neither (the whole "
                                                    "turn)"))
                continue
            rows.append({"coder": coder, "label": r["code"], "label_path": "", "file": path,
                         "line": line})
        if file_tid:
            cov.append((file_tid, coder, "tsv", path))
    problems.extend(duplicate_coders(list(dict.fromkeys(cov))))
    if rows and codebook is not None:
        raw = pd.DataFrame(rows).reindex(columns=RAW_COLUMNS)
        raw["label_path"] = raw["label_path"].fillna("")
        from qualflow.valence import content_labels, valence_rules, without_codebook_labels
        raw = content_labels(raw, without_codebook_labels(valence_rules(valence_config), codebook.resolve))
        try:
            map_labels(raw, codebook, unmapped)
        except InputError as e:
            problems.extend(e.problems)
    return problems


def valence_of(codes: Sequence) -> dict[str, str]:
    """Code GUID -> valence for the codes under a top-level "Valence" node (our project export's
    co-coding): their codings give the selection's valence, they are not codes of the codebook."""
    from qualflow.project_export import VALENCES
    top = {c.guid for c in codes if c.parent is None and c.name.strip().casefold() == "valence"}
    return {c.guid: c.name.strip().casefold() for c in codes
            if c.parent in top and c.name.strip().casefold() in VALENCES}


def turn_sha(text: str) -> str:
    """A turn's anchor for TSV codings: the first 12 hex digits of the SHA-256 of its UTF-8 text, as
    listed in ``results/codes/turns.tsv`` (the coders' copy of it goes in the ``turn_sha`` column)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def tsv_anchor(t: "Transcript", turn: int, s: str, e: str, quoted: str, sha: str,
               cache: dict) -> dict | None:
    """Where a TSV coding with an anchor (``turn_sha`` and/or ``text``) belongs on the current text.

    ``None`` when the anchor holds at the stated turn and span. Else a dict with ``status``
    ``moved`` (``turn``/``start``/``end`` now point at the same words: the turn was renumbered, or
    the coded words moved inside the turn or are found exactly once among the participants' turns)
    or ``review`` (the coded words or the whole coded turn changed: a person decides). Hashes of
    the transcript's turns are computed once per ``cache`` (one per file).
    """
    row = t.turn_row(turn)
    text = None if row is None else str(row["text"])
    whole = s == ""
    start, end = (None, None) if whole else (int(s), int(e))

    def span(txt: str) -> tuple[int, int]:
        return (0, len(txt)) if whole else (start, end)  # type: ignore[return-value]

    def holds(txt: str | None) -> bool:
        if txt is None or (sha and turn_sha(txt) != sha):
            return False
        a, b = span(txt)
        return b <= len(txt) and (not quoted or txt[a:b] == quoted)

    old = {"old_turn": turn, "old_start": "" if whole else start, "old_end": "" if whole else end,
           "old_text": quoted}
    if holds(text):
        return None
    if "units" not in cache:
        units = t.turns[t.turns["unit"].astype(bool)]
        cache["units"] = [(int(x), str(y)) for x, y in zip(units["turn"], units["text"])]
        cache["shas"] = {}
        for x, y in cache["units"]:
            cache["shas"].setdefault(turn_sha(y), []).append(x)
    texts = dict(cache["units"])

    def moved(nt: int, a: int, b: int) -> dict:
        return {**old, "status": "moved", "turn": nt, "start": a, "end": b,
                "new_turn": nt, "new_start": a, "new_end": b, "new_text": texts[nt][a:b]}

    if sha and len(cache["shas"].get(sha, [])) == 1:           # the same turn, renumbered
        nt = cache["shas"][sha][0]
        if holds(texts[nt]):
            return moved(nt, *span(texts[nt]))
    if quoted:                                                  # the same words, moved
        if text is not None and text.count(quoted) == 1 and turn in texts:
            i = text.index(quoted)
            return moved(turn, i, i + len(quoted))
        hits = [(x, y.index(quoted)) for x, y in cache["units"] if quoted in y]
        if len(hits) == 1 and sum(y.count(quoted) for _x, y in cache["units"]) == 1:
            x, i = hits[0]
            return moved(x, i, i + len(quoted))
    a, b = (0, len(text)) if text is not None and whole else (start or 0, end or 0)
    return {**old, "status": "review", "new_turn": turn if text is not None else "",
            "new_start": a if text is not None else "", "new_end": b if text is not None else "",
            "new_text": text[a:b] if text is not None else ""}
