"""Stage 5, codes: the coders' files read and every span mapped to the units of analysis.

Coders work on the pseudonymised English transcripts, each in their own tool. Every span is mapped
to the participants' speaker turns (DESIGN.md, "Unit of agreement"): a TSV row names its turn, a
REFI-QDA selection is mapped to every turn its ``[start, end)`` overlaps. A .qdpx whose source text
differs from the current pseudonymised transcript is an error naming coder, transcript and offset,
never a silent shift (or, for a corrected transcript, re-anchored: ``qualflow.coding_checks``).

Labels are not mapped to codes here (``qualflow.codebook.map_labels``): what this module returns is
per transcript, so the stage runs it per site (``qualflow.codes``).
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qualflow.codebook import PATH_SEP
from qualflow.coding_checks import (NEUTRAL_USERS, REANCHOR_COLUMNS, Decisions, align_source,
                                    duplicate_coders, row_transcript_problem, tsv_anchor, valence_of)
from qualflow.errors import InputError, Problem, raise_if
from qualflow.refiqda import Code, read_qdpx
from qualflow.tables import read_results_tsv, read_tsv

__all__ = ["Transcript", "CodingSet", "SiteScope", "ORDER_COLUMNS", "load_transcripts", "discover_codings", "read_tsv_codings",
           "read_qdpx_codings", "read_codings", "RAW_COLUMNS", "TRANSCRIPT_ID"]

log = logging.getLogger("qualflow.codebook")

#: Raw codings after mapping to units, before labels are mapped to codes.
RAW_COLUMNS = ["coder", "transcript", "turn", "start", "end", "label", "label_path", "source",
               "file", "line", "valence", "memo"]

#: Where a raw coding came from in its file (the source's position in a .qdpx, 0 for a TSV; the row's
#: line or its position among the file's rows), so per-site parts merge back into the file's order.
ORDER_COLUMNS = ["_src", "_row"]

TRANSCRIPT_ID = re.compile(r"^(?P<site>[a-z][a-z0-9_]*)\.(?P<name>(?:FG|INT)[1-9][0-9]*)$")
CODING_FILE_SUFFIXES = (".tsv", ".qdpx")

# =========================================================================== transcripts


@dataclass
class Transcript:
    """A pseudonymised English transcript: its text (the coders' source) and its turn table."""

    id: str                     # <site>.<T>
    site: str
    name: str                   # FG2
    tsv_path: str
    txt_path: str
    text: str
    sha256: str
    turns: pd.DataFrame         # turn (int), speaker, kind, role, text, offset_start, offset_end, unit

    def turn_row(self, turn: int) -> dict | None:
        """The turn's row (turn, speaker, kind, text, offsets, unit, ...) as a dict, or ``None``.

        Looked up once per coding row (190,000 at 1,000 transcripts): one dict per turn, built once
        (a pandas row per call cost ~0.15 ms, most of the codes merge's project.qdpx)."""
        key, by_turn = self.__dict__.get("_by_turn", (None, None))
        if key != id(self.turns):
            by_turn = {}
            for r in self.turns.to_dict("records"):
                by_turn.setdefault(int(r["turn"]), r)
            self.__dict__["_by_turn"] = (id(self.turns), by_turn)
        return by_turn.get(int(turn))


def _transcript_id(path: str | Path) -> tuple[str, str]:
    """(site, transcript) from results/pseudonymised/<site>/<T>.<lang>.<ext>."""
    p = Path(path)
    return p.parent.name, p.name.split(".")[0]


def _read_source_text(path: str | Path) -> str:
    """The exact text coders' offsets refer to: UTF-8, BOM stripped, line endings untouched."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(str(path), None, "is not UTF-8: re-run the pseudonymise stage") from None


def _is_unit(turns: pd.DataFrame) -> pd.Series:
    """Participants' speech turns are the units; facilitators and markers are not."""
    kind = turns.get("kind", pd.Series("speech", index=turns.index)).astype(str)
    speaker = turns.get("speaker", pd.Series("", index=turns.index)).astype(str)
    if "role" in turns.columns:
        facilitator = turns["role"].astype(str).eq("facilitator")
    else:
        facilitator = speaker.str.match(r"^F[0-9]+$")
    return kind.eq("speech") & speaker.ne("") & ~facilitator


def load_transcripts(tsv_paths: Sequence[str], txt_paths: Sequence[str]) -> dict[str, Transcript]:
    """Pair each pseudonymised turn table with its .txt and check the turn offsets point at the
    turn texts: every coding offset is interpreted through them."""
    txt_by_id = {"{}.{}".format(*_transcript_id(p)): str(p) for p in txt_paths}
    out: dict[str, Transcript] = {}
    problems: list[Problem] = []
    for tsv in tsv_paths:
        site, name = _transcript_id(tsv)
        tid = f"{site}.{name}"
        if tid not in txt_by_id:
            problems.append(Problem(str(tsv), None, f"no .txt beside it for {tid}: re-run the "
                                                    "pseudonymise stage"))
            continue
        text = _read_source_text(txt_by_id[tid])
        df = read_results_tsv(tsv)
        missing = [c for c in ("turn", "speaker", "text", "kind", "offset_start", "offset_end")
                   if c not in df.columns]
        if missing:
            problems.append(Problem(str(tsv), 1, f"missing column(s) {', '.join(missing)}: re-run "
                                                 "the pseudonymise stage"))
            continue
        df = df.copy()
        for col in ("turn", "offset_start", "offset_end"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        bad = df[["turn", "offset_start", "offset_end"]].isna().any(axis=1)
        for i in np.flatnonzero(bad.to_numpy())[:5]:
            problems.append(Problem(str(tsv), int(i) + 2, "turn or offsets are not whole numbers: "
                                                          "re-run the pseudonymise stage"))
        if bad.any():
            continue
        df[["turn", "offset_start", "offset_end"]] = df[["turn", "offset_start", "offset_end"]].astype("int64")
        for i, r in enumerate(df.itertuples(index=False)):
            if text[r.offset_start:r.offset_end] != r.text:
                problems.append(Problem(str(tsv), i + 2, (
                    f"turn {r.turn}: offsets {r.offset_start}-{r.offset_end} do not point at the "
                    f"turn's text in {txt_by_id[tid]}: the two files are out of step; re-run the "
                    "pseudonymise stage")))
                break
        df["unit"] = _is_unit(df)
        out[tid] = Transcript(tid, site, name, str(tsv), txt_by_id[tid], text,
                              hashlib.sha256(text.encode("utf-8")).hexdigest(),
                              df.reset_index(drop=True))
    raise_if(problems)
    return out


def _natural(s: str) -> tuple:
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", s))


def _transcript_order(transcripts: Mapping[str, Transcript], sites: Sequence[str]) -> dict[str, int]:
    """Study order: sites as in sites.tsv (then any other), transcripts FG1 < FG2 < FG10 < INT1."""
    rank = {s: i for i, s in enumerate(sites)}
    keys = sorted(transcripts, key=lambda t: (rank.get(transcripts[t].site, len(rank)),
                                              transcripts[t].site, _natural(transcripts[t].name)))
    return {t: i for i, t in enumerate(keys)}


# =========================================================================== codings


@dataclass
class SiteScope:
    """What one site's codes job reads (issue 14: the stage runs per site, then a small merge).

    The job knows its own site's transcripts only, and nothing of the other sites (so adding a site
    re-runs no other site's job). What needs the whole study is recorded for the merge to decide:
    ``deferred`` rows and files naming a transcript that is not the site's (the merge knows whether
    it exists, and lists the study's transcripts in the message), and in ``qdpx``, per .qdpx file,
    which of its sources this site placed (by name, or by identical text) and who coded them.
    """

    site: str
    qdpx: list[dict] = field(default_factory=list)
    deferred: list[dict] = field(default_factory=list)

@dataclass
class CodingSet:
    """Codings read from the coders' files, mapped to units but not yet to codes."""

    raw: pd.DataFrame                                   # RAW_COLUMNS + ORDER_COLUMNS
    coverage: list[tuple[str, str, str, str]] = field(default_factory=list)  # transcript, coder, source, file
    #: sources a coder's .qdpx holds without any of their codings: not coded unless assigned
    delivered: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: codings whose text was not byte-identical to the current transcript (REANCHOR_COLUMNS)
    anchors: list[dict] = field(default_factory=list)
    #: a TSV coverage entry's place in its file (0 for the transcript the file is named for, else
    #: the line that first coded it), so per-site parts merge back into the file's order
    keys: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    #: per .qdpx file read for one site (SiteScope): its sources, which this site placed, who coded
    qdpx: list[dict] = field(default_factory=list)
    #: what one site's job leaves to the merge (SiteScope.deferred)
    deferred: list[dict] = field(default_factory=list)

    def extend(self, other: "CodingSet") -> None:
        self.raw = pd.concat([self.raw, other.raw], ignore_index=True) if len(other.raw) else self.raw
        self.coverage.extend(other.coverage)
        self.delivered.extend(other.delivered)
        self.anchors.extend(other.anchors)

    @classmethod
    def concat(cls, parts: Sequence["CodingSet"]) -> "CodingSet":
        """All parts at once: one concat, not one per file (extend in a loop copies quadratically)."""
        raws = [p.raw for p in parts if len(p.raw)]
        raw = pd.concat(raws, ignore_index=True) if raws else _empty_raw()
        return cls(raw, [c for p in parts for c in p.coverage], [d for p in parts for d in p.delivered],
                   [a for p in parts for a in p.anchors], {k: v for p in parts for k, v in p.keys.items()},
                   [q for p in parts for q in p.qdpx])


def _empty_raw() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in RAW_COLUMNS + ORDER_COLUMNS})


def discover_codings(codings_dir: str | Path, files: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """The coders' files as (coder, path), coder = the folder under ``codings_dir``.

    A coder folder with no .tsv or .qdpx is an error (a forgotten export), as is a coding file
    outside a coder folder (nobody to attribute it to). No ``codings_dir`` at all is allowed: the
    stage then only writes the codebook and the coding packet for the coders to start with.
    """
    root = Path(codings_dir)
    problems: list[Problem] = []
    found: list[tuple[str, str]] = []
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_file():
                if entry.suffix.lower() in CODING_FILE_SUFFIXES:
                    problems.append(Problem(str(entry), None, (
                        "a coding file directly in the codings folder cannot be attributed to a "
                        f"coder: move it into {root}/<coder>/ (the folder name is the coder id)")))
                continue
            usable = sorted(p for p in entry.iterdir()
                            if p.is_file() and p.suffix.lower() in CODING_FILE_SUFFIXES
                            and not p.name.startswith("."))
            if not usable:
                others = sorted(p.name for p in entry.iterdir() if not p.name.startswith("."))
                hint = f" (found: {', '.join(others[:5])})" if others else " (it is empty)"
                problems.append(Problem(str(entry), None, (
                    f"coder folder {entry.name!r} has no codings{hint}: put the coder's "
                    "<site>.<transcript>.tsv files or their REFI-QDA export <coder>.qdpx in it, "
                    "or remove the folder")))
                continue
            for other in sorted(p for p in entry.iterdir() if p.is_file() and p not in usable
                                and not p.name.startswith(".")):
                log.warning("%s: ignored (codings are read from .tsv and .qdpx files only; export "
                            "NVivo/ATLAS.ti/MAXQDA projects as REFI-QDA .qdpx)", other)
            found += [(entry.name, str(p)) for p in usable]
    elif files:
        problems.append(Problem(str(root), None, "the codings folder does not exist"))
    if files is not None:
        listed = {str(Path(f)) for f in files}
        have = {str(Path(p)) for _c, p in found}
        for f in sorted(listed - have):
            problems.append(Problem(f, None, f"is not a coding file inside a coder folder of {root}"))
    raise_if(problems)
    return found


def read_tsv_codings(path: str | Path, coder: str, transcripts: Mapping[str, Transcript],
                     decisions: Decisions | None = None, scope: SiteScope | None = None) -> CodingSet:
    """A coder's TSV (one file per transcript): every row checked against the transcript's turns.

    With ``scope`` (one site's job) ``transcripts`` are the site's: a row naming another transcript
    (another site's, in a file named for none, or none at all) and a file named for a transcript the
    site does not have are recorded in ``scope.deferred`` for the merge, which knows the study."""
    spath = str(path)
    df = read_tsv(path, "codings.schema.yaml", allow_empty=True)
    stem = Path(path).name[: -len(".tsv")]
    file_tid = None
    problems: list[Problem] = []
    if TRANSCRIPT_ID.match(stem):
        if stem not in transcripts and scope is not None:
            scope.deferred.append({"kind": "named", "file": spath, "line": None, "tid": stem,
                                   "file_tid": stem})
            return CodingSet(_empty_raw())
        if stem not in transcripts:
            known = _known(transcripts)
            raise InputError(spath, None, (
                f"the file is named for transcript {stem!r}, which does not exist (known: "
                f"{known}): rename the file <site>.<transcript>.tsv"))
        file_tid = stem
    rows: list[dict] = []
    anchors: list[dict] = []
    anchor_cache: dict = {}
    covered: list[str] = [file_tid] if file_tid else []
    first_line: dict[str, int] = {file_tid: 0} if file_tid else {}
    for r in df.to_dict("records"):
        line = r["_line"]
        tid = r["transcript"]
        if tid not in transcripts or (file_tid and tid != file_tid):
            if scope is not None:      # another site's row, or no transcript: the merge knows which
                scope.deferred.append({"kind": "row", "file": spath, "line": line, "tid": tid,
                                       "file_tid": file_tid})
                continue
            problems.append(row_transcript_problem(spath, line, tid, file_tid, tid in transcripts,
                                                   _known(transcripts)))
            continue
        t = transcripts[tid]
        turn = int(r["turn"])
        s, e = r.get("start", ""), r.get("end", "")
        if (s == "") != (e == ""):
            problems.append(Problem(spath, line, "give both start and end, or neither (the whole "
                                                 "turn)"))
            continue
        reanchored = False
        if r.get("text", "") or r.get("turn_sha", ""):
            # an anchored coding: where do its words sit in the current transcript?
            moved = tsv_anchor(t, turn, s, e, r.get("text", ""), r.get("turn_sha", ""), anchor_cache)
            if moved is not None:
                anchors.append({**{k: moved[k] for k in REANCHOR_COLUMNS if k in moved},
                                "coder": coder, "transcript": tid, "label": r["code"],
                                "offsets": "turn", "file": spath, "line": line,
                                "_src": 0, "_seq": line})
                if moved["status"] == "review":
                    decided = decisions.decide(anchors[-1]) if decisions is not None else ""
                    if decided == "accept" and moved["new_turn"] != "" and \
                            moved["new_end"] > moved["new_start"]:
                        anchors[-1]["status"] = "accepted"
                        moved = {**moved, "turn": moved["new_turn"], "start": moved["new_start"],
                                 "end": moved["new_end"]}
                    else:
                        anchors[-1]["status"] = "rejected" if decided == "reject" else "review"
                        if tid not in covered:
                            covered.append(tid)
                            first_line[tid] = line
                        continue
                turn, s, e = moved["turn"], str(moved["start"]), str(moved["end"])
                reanchored = True   # moved to the same words, or a person accepted the new span
        row = t.turn_row(turn)
        if row is None:
            problems.append(Problem(spath, line, (
                f"turn {turn} does not exist in {tid} (it has turns {int(t.turns['turn'].min())}-"
                f"{int(t.turns['turn'].max())}): check the turn number against "
                f"{t.tsv_path}")))
            continue
        n = len(row["text"])
        start, end = (0, n) if s == "" else (int(s), int(e))
        if start >= end or end > n:
            problems.append(Problem(spath, line, (
                f"coder {coder}: span {start}-{end} in {tid} turn {turn} is "
                f"{'empty or reversed' if start >= end else 'past the end of the turn'} (the turn "
                f"text is {n} characters long; end is exclusive): the transcript changed after "
                "coding, or the offsets are wrong; re-check the coding against the current "
                "transcript")))
            continue
        quoted = r.get("text", "")
        if quoted and not reanchored and row["text"][start:end] != quoted:
            off = _first_difference(row["text"][start:end], quoted)
            problems.append(Problem(spath, line, (
                f"coder {coder}: the coded text no longer matches {tid} turn {turn} at offset "
                f"{start + off} (transcript: {row['text'][start + off:start + off + 30]!r}, "
                f"coding: {quoted[off:off + 30]!r}): the transcript changed after coding; re-code "
                "this span on the current transcript")))
            continue
        if tid not in covered:
            covered.append(tid)
            first_line[tid] = line
        if not bool(row["unit"]):
            what = "a transcription marker" if row["kind"] != "speech" else \
                f"a facilitator turn ({row['speaker']})"
            # the documented rule, not a problem: logged (logs/codes.log), not warned about on every run
            log.info("%s:%s: coder %s coded %s turn %s, %s, not a unit of analysis: dropped",
                        spath, line, coder, tid, turn, what)
            continue
        rows.append({"coder": coder, "transcript": tid, "turn": turn, "start": start, "end": end,
                     "label": r["code"], "label_path": "", "source": "tsv", "file": spath,
                     "line": line, "valence": r.get("valence", ""), "memo": r.get("memo", ""),
                     "_src": 0, "_row": line})
    raise_if(problems)
    if anchors:
        n_rev = sum(a["status"] == "review" for a in anchors)
        log.warning("%s: %d coding(s) were made on an older version of the transcript: %d moved to "
                    "the same words, %d need review (their words or turn changed; left out until "
                    "confirmed, see results/codes/reanchor_review.tsv)", spath, len(anchors),
                    sum(a["status"] == "moved" for a in anchors), n_rev)
    raw = pd.DataFrame(rows, columns=RAW_COLUMNS + ORDER_COLUMNS) if rows else _empty_raw()
    coverage = [(tid, coder, "tsv", spath) for tid in covered]
    return CodingSet(raw, coverage, [], anchors, {c: first_line[c[0]] for c in coverage})


def _known(transcripts: Mapping[str, Transcript]) -> str:
    ids = sorted(transcripts)
    return ", ".join(ids[:6]) + (", ..." if len(ids) > 6 else "")


def _first_difference(a: str, b: str) -> int:
    """Offset of the first character where two texts differ (the shorter length if one is a prefix)."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _source_name(name: str) -> str:
    """A .qdpx source's name as a transcript id (``kampala.FG2.en.txt`` -> ``kampala.FG2``)."""
    n = name.strip()
    for suffix in (".txt", ".en"):
        if n.lower().endswith(suffix):
            n = n[: -len(suffix)]
    return n


def _source_transcript(name: str, text_sha: str, transcripts: Mapping[str, Transcript]) -> str | None:
    """Which transcript a .qdpx source is: by name (``kampala.FG2``, with or without ``.en``/``.txt``),
    else by identical text."""
    n = _source_name(name)
    if n in transcripts:
        return n
    same = [t for t in sorted(transcripts) if transcripts[t].sha256 == text_sha]
    return same[0] if len(same) == 1 else None



def _code_paths(codes: Sequence[Code]) -> dict[str, tuple[str, str]]:
    """code guid -> (name, "parent > child" path): NVivo nodes may only make sense with their
    parent (a node "community" under "Stigma")."""
    by_guid = {c.guid: c for c in codes}
    out = {}
    for c in codes:
        parts, cur, seen = [c.name], c, {c.guid}
        while cur.parent and cur.parent in by_guid and cur.parent not in seen:
            cur = by_guid[cur.parent]
            seen.add(cur.guid)
            parts.append(cur.name)
        out[c.guid] = (c.name, PATH_SEP.join(reversed(parts)))
    return out


def read_qdpx_codings(path: str | Path, coder: str, transcripts: Mapping[str, Transcript],
                      decisions: Decisions | None = None, scope: SiteScope | None = None) -> CodingSet:
    """A coder's REFI-QDA export: sources matched to transcripts, texts verified, spans to units.

    The coder of a coding is its ``creatingUser`` (the coding's, else the selection's); codings
    without one, or by a neutral user (``NEUTRAL_USERS``), belong to the folder's coder. A source
    counts as coded by a coder when the coder has a coding on it; a source without any of their
    codings is only *delivered* (coded only if the assignments table says so). A source whose text
    differs only in line endings or a BOM is mapped; one made on an older version of the transcript
    is re-anchored (``anchors``).

    With ``scope`` (one site's job: ``transcripts`` are the site's) only the sources the site places
    are read; which site a source belongs to (a name beats another site's identical text), a source
    no site places and who coded what are decided by the merge from every site's ``scope.qdpx``
    record (``qualflow.codes``), so coverage is returned empty.
    """
    spath = str(path)
    project = read_qdpx(path)
    users = {u.name for u in project.users}
    paths = _code_paths(project.codes)
    code_name = {c.guid: paths.get(c.guid, (c.name, c.name))[1] for c in project.codes}
    valence = valence_of(project.codes)
    sel_valence = {c.selection_guid: valence[c.code] for c in project.codings
                   if c.code in valence and c.selection_guid}
    by_source: dict[str, list] = {}
    for c in project.codings:
        if c.code not in valence:
            by_source.setdefault(c.source, []).append(c)

    problems: list[Problem] = []
    anchors: list[dict] = []
    rows: list[dict] = []
    mapped_sources: list[tuple[str, str]] = []        # (source guid, transcript)
    coded: set[tuple[str, str]] = set()               # (transcript, coder) with any coding
    coded_src: set[tuple[int, str, str]] = set()      # (source index, transcript, coder)
    warned_users: set[str] = set()
    placed: list[list] = []                           # [source index, name, has codings, transcript]
    for src, s in enumerate(project.sources):
        sha = hashlib.sha256(s.text.encode("utf-8")).hexdigest()
        tid = _source_transcript(s.name, sha, transcripts)
        if tid is None and "\r" in s.text:
            from qualflow.anchors import normalise_newlines
            norm = normalise_newlines(s.text)
            tid = _source_transcript(s.name, hashlib.sha256(norm.encode("utf-8")).hexdigest(),
                                     transcripts)
        codings = by_source.get(s.guid, [])
        # how this site placed it: by name (final), or by text (the merge checks that no site has
        # a transcript of that name and that one transcript in the study has that text)
        how = "" if tid is None else ("name" if _source_name(s.name) == tid else "text")
        placed.append([src, s.name, bool(codings), "", how])
        if tid is None and scope is not None:
            continue
        if tid is None:
            if codings:
                problems.append(Problem(spath, None, (
                    f"coder {coder}: source {s.name!r} is not a transcript of this study (known: "
                    f"{_known(transcripts)}) and its text matches none: name sources "
                    "<site>.<transcript> as in the coding packet, or import the coding packet "
                    "results/codes/coding_packet.qdpx and code there")))
            else:
                log.warning("%s: source %r is not a study transcript and has no codings: ignored",
                            spath, s.name)
            continue
        t = transcripts[tid]
        if sha != t.sha256:
            before = len(anchors)
            aligned = align_source(s, t, codings, coder, spath, anchors, code_name, decisions)
            for k, a in enumerate(anchors[before:]):
                a["_src"], a["_seq"] = src, k
            if aligned is None:
                off = _first_difference(s.text, t.text)
                problems.append(Problem(spath, None, (
                    f"coder {coder}: source {s.name!r} ({tid}) differs from {t.txt_path} at offset "
                    f"{off} (coded: {s.text[off:off + 30]!r}, current: {t.text[off:off + 30]!r}): "
                    "the transcript changed after coding; re-import the current transcript and "
                    "re-apply the codings from that offset on")))
                continue
            codings = aligned
        mapped_sources.append((s.guid, tid))
        placed[-1][3] = tid
        os_ = t.turns["offset_start"].to_numpy()
        oe_ = t.turns["offset_end"].to_numpy()
        for c in sorted(codings, key=lambda c: (c.start, c.end, c.code)):
            who = c.coder if c.coder in users and c.coder not in NEUTRAL_USERS else None
            if c.coder is not None and c.coder not in users and c.coder not in warned_users:
                warned_users.add(c.coder)
                log.warning("%s: creatingUser %r is not among the project's users: its codings "
                            "are attributed to %s", spath, c.coder, coder)
            who = who or coder
            coded.add((tid, who))
            coded_src.add((src, tid, who))
            name, cpath = paths.get(c.code, ("", ""))
            if c.start >= c.end:
                log.warning("%s: coder %s coded an empty span at %s in %s with %r: dropped",
                            spath, who, c.start, tid, name)
                continue
            hit = np.flatnonzero((os_ < c.end) & (oe_ > c.start))
            units = [i for i in hit if bool(t.turns.at[i, "unit"])]
            if not units:
                what = ("only facilitator or marker turns "
                        f"({', '.join(str(int(t.turns.at[i, 'turn'])) for i in hit)})" if len(hit)
                        else "no turn text (a speaker label, front matter or blank lines)")
                log.info("%s: coder %s coded %s [%s, %s) with %r, which covers %s: dropped",
                            spath, who, tid, c.start, c.end, name, what)
                continue
            for i in units:
                rows.append({"coder": who, "transcript": tid, "turn": int(t.turns.at[i, "turn"]),
                             "start": int(max(c.start, os_[i]) - os_[i]),
                             "end": int(min(c.end, oe_[i]) - os_[i]),
                             "label": name, "label_path": cpath, "source": "qdpx", "file": spath,
                             "line": None, "valence": sel_valence.get(c.selection_guid, ""),
                             "memo": c.memo, "_src": src, "_row": len(rows)})
    raise_if(problems)
    raw = pd.DataFrame(rows, columns=RAW_COLUMNS + ORDER_COLUMNS) if rows else _empty_raw()
    if scope is not None:
        scope.qdpx.append({"file": spath, "coder": coder, "sources": placed,
                           "coded": sorted([i, t, w] for i, t, w in coded_src)})
        return CodingSet(raw, [], [], anchors)
    coders = sorted({who for _t, who in coded}) or [coder]
    others = [c for c in coders if c != coder]
    if coder not in coders and others:
        log.warning("%s: LOOK: this file is in %s's folder but its codings are by %s (their "
                    "creatingUser), so they are counted as %s's. If %s made them, the QDA tool "
                    "named them after another user (QualCoder takes the coder name from the first "
                    "user of a project it imports): set the coder name to %s in the tool and export "
                    "again; if %s made them, move the file to data/codings/%s/", spath, coder,
                    ", ".join(others), ", ".join(others), coder, coder, others[0], others[0])
    tids = list(dict.fromkeys(tid for _g, tid in mapped_sources))
    return CodingSet(raw, [(tid, who, "qdpx", spath) for tid in tids for who in coders
                           if (tid, who) in coded],
                     [(tid, who, "qdpx", spath) for tid in tids for who in coders
                      if (tid, who) not in coded], anchors)


def read_codings(files: Sequence[tuple[str, str]], transcripts: Mapping[str, Transcript],
                 decisions: Decisions | None = None, scope: SiteScope | None = None) -> CodingSet:
    """Every coder's files, with the problems of all files reported together.

    With ``scope`` (one site's job) a coder coding a transcript in two files is left to the merge,
    which sees every file."""
    parts: list[CodingSet] = []
    problems: list[Problem] = []
    for coder, path in files:
        reader = read_qdpx_codings if path.lower().endswith(".qdpx") else read_tsv_codings
        try:
            parts.append(reader(path, coder, transcripts, decisions, scope))
        except InputError as e:
            problems.extend(e.problems)
    out = CodingSet.concat(parts)
    if scope is not None:
        out.qdpx = list(scope.qdpx)
        out.deferred = list(scope.deferred)
    else:
        problems.extend(duplicate_coders(out.coverage))
    raise_if(problems)
    return out

