"""Stage 5, codes: the coders' exported work merged into one documented coding framework.

Coders work on the pseudonymised English transcripts, each in their own tool and with their own
spelling of code names. This stage makes their work comparable and auditable:

* ``config/codebook.yaml`` (themes, the deductive framework, every code with the labels coders
  used) is checked against ``workflow/schemas/codebook.schema.yaml`` and cross-checked, with the
  YAML line of every problem;
* every coder label is mapped to one canonical code through the synonyms, ignoring case, spaces and
  punctuation; an unknown label stops the run or becomes a *candidate* code (config
  ``codes.unmapped``), so no coding is silently lost;
* every span is mapped to the units of analysis, the participants' speaker turns (DESIGN.md, "Unit
  of agreement"): a TSV row names its turn, a REFI-QDA selection is mapped to every turn its
  ``[start, end)`` overlaps. A .qdpx whose source text differs from the current pseudonymised
  transcript is an error naming coder, transcript and offset, never a silent shift;
* the result is ``codings.tsv`` (one row per coding and unit), ``codebook.tsv`` (the framework with
  provenance: who used each code, where, first seen), ``themes.tsv`` (deductive vs inductive per
  theme), ``coverage.tsv`` (which coder coded which transcript: the agreement stage needs it to tell
  "coded, code absent" from "not coded"), ``unmapped_labels.tsv``, a summary note, and REFI-QDA
  exports for the next round of coding (``codebook.qdc`` and ``coding_packet.qdpx``).

Coder memos are free text and may name people: they are written into no table, only into
``project.qdpx`` (a lead opening the coded study needs them; the leak gate scans it like every output).
"""
from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import yaml
from rapidfuzz import fuzz, process

from qualflow.coding_checks import (NEUTRAL_USERS, REANCHOR_COLUMNS, Decisions, align_source,
                                    apply_assignments, duplicate_coders, reanchor_table,
                                    row_transcript_problem, tsv_anchor, valence_of)
from qualflow.errors import InputError, Problem, raise_if
from qualflow.project_export import candidate_codes, study_project
from qualflow.refiqda import Code, Project, Source, read_qdpx, stable_guid, write_qdc, write_qdpx
from qualflow.tables import load_schema, read_results_tsv, read_tsv, write_text, write_tsv
from qualflow.valence import apply_valence, valence_rules, without_codebook_labels

__all__ = [
    "Theme", "CodeDef", "Codebook", "Transcript", "CodingSet",
    "normalise_label", "load_codebook", "load_transcripts", "discover_codings",
    "read_tsv_codings", "read_qdpx_codings", "read_codings", "map_labels", "codebook_table", "themes_table",
    "coverage_table", "summary_markdown", "export_codes", "coding_packet", "codes_stage",
    "CODINGS_COLUMNS", "CODEBOOK_COLUMNS", "UNMAPPED_COLUMNS", "COVERAGE_COLUMNS", "THEMES_COLUMNS",
]

log = logging.getLogger("qualflow.codebook")

CODINGS_COLUMNS = ["site", "transcript", "turn", "coder", "code", "theme", "origin", "label",
                   "start", "end", "source", "valence"]
CODEBOOK_COLUMNS = ["code", "label", "theme", "origin", "definition", "coders", "n_codings",
                    "n_units", "n_transcripts", "n_sites", "first_seen", "introduced_by",
                    "labels_used"]
UNMAPPED_COLUMNS = ["coder", "label", "n", "first_file", "first_line", "suggestion", "candidate"]
COVERAGE_COLUMNS = ["site", "transcript", "wave", "coder", "source", "n_codings", "n_units"]
THEMES_COLUMNS = ["theme", "label", "description", "n_codes", "n_deductive", "n_inductive",
                  "deductive", "inductive", "n_codings", "n_units", "n_transcripts"]

#: Raw codings after mapping to units, before labels are mapped to codes.
RAW_COLUMNS = ["coder", "transcript", "turn", "start", "end", "label", "label_path", "source",
               "file", "line", "valence", "memo"]

TRANSCRIPT_ID = re.compile(r"^(?P<site>[a-z][a-z0-9_]*)\.(?P<name>(?:FG|INT)[1-9][0-9]*)$")
CODING_FILE_SUFFIXES = (".tsv", ".qdpx")
CANDIDATE = "candidate"
#: Theme colours in the REFI-QDA exports (ColorBrewer Dark2), so themes look the same in every tool.
THEME_COLOURS = ["#1B9E77", "#D95F02", "#7570B3", "#E7298A", "#66A61E", "#E6AB02", "#A6761D",
                 "#666666"]
_FIX_CODEBOOK = "fix config/codebook.yaml"


# =========================================================================== the codebook


def normalise_label(label: str) -> str:
    """The form labels are compared in: NFKC, case-folded, ``&`` read as "and", and only letters
    and digits kept, so "Stigma - community", "stigma/community" and "STIGMA COMMUNITY" agree."""
    text = unicodedata.normalize("NFKC", str(label)).casefold().replace("&", " and ")
    return "".join(ch for ch in text if ch.isalnum())


def _slug(label: str) -> str:
    """An id for a candidate code made from a coder's label ("Team envy" -> "team_envy")."""
    text = unicodedata.normalize("NFKC", label).casefold().replace("&", " and ")
    return re.sub(r"[\W_]+", "_", text).strip("_")


@dataclass(frozen=True)
class Theme:
    """A theme of the analysis, in reporting order."""

    id: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class CodeDef:
    """One code: its theme, origin and the labels coders use for it."""

    id: str
    label: str
    origin: str                 # deductive | inductive | candidate
    theme: str                  # "" for a candidate (not yet placed in a theme)
    definition: str
    synonyms: tuple[str, ...] = ()
    introduced_by: tuple[str, ...] = ()
    line: int | None = None
    parent: str = ""            # the code this one is a subcode of ("" for none)


@dataclass
class Codebook:
    """The validated ``codebook.yaml``: themes in order, codes, and the label -> code lookup."""

    path: str
    themes: list[Theme]
    codes: list[CodeDef]
    framework: dict[str, list[dict]] = field(default_factory=dict)
    lookup: dict[str, str] = field(default_factory=dict)   # normalised label -> code id

    def resolve(self, label: str) -> str | None:
        """The code a coder's label stands for, or ``None``."""
        return self.lookup.get(normalise_label(label))

    def code(self, code_id: str) -> CodeDef:
        return next(c for c in self.codes if c.id == code_id)

    def suggest(self, label: str) -> str:
        """The closest code to an unknown label (by its synonyms), or "" if nothing is close."""
        key = normalise_label(label)
        if not key or not self.lookup:
            return ""
        choices = sorted(self.lookup)
        best = process.extractOne(key, choices, scorer=fuzz.WRatio, score_cutoff=60)
        return self.lookup[best[0]] if best else ""


def _yaml_lines(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path (``("codes", 3, "theme")``) to its 1-based line, for error messages."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.start_mark.line)
            out[path + (key,)] = k.start_mark.line + 1
            _yaml_lines(v, path + (key,), out)
            out[path + (key,)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _yaml_lines(v, path + (i,), out)
    return out


def _line_of(lines: dict[tuple, int], path: Sequence) -> int | None:
    """The line of ``path``, or of its nearest ancestor that exists."""
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return lines.get((), None)


def load_codebook(path: str | Path) -> Codebook:
    """Read and check ``codebook.yaml``; every problem is one ``path:line:`` message.

    Checks the schema, then what it cannot express: unique theme and code ids, each code's theme
    listed, each framework entry present as a deductive code (and every deductive code in the
    framework), and no label (id, label, framework label or synonym) matching two codes.
    """
    spath = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(spath, None, "the codebook does not exist: create it (see config/README.md) "
                                      "or point config key `codebook` at it") from None
    except UnicodeDecodeError:
        raise InputError(spath, None, "is not UTF-8: re-save it as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        msg = getattr(exc, "problem", None) or str(exc)
        raise InputError(spath, line, f"is not valid YAML ({msg}): check indentation and quoting "
                                      "around that line") from None
    if node is None or not isinstance(data, dict):
        raise InputError(spath, 1, "the codebook is empty or not a mapping: it needs themes, "
                                   "framework and codes (see config/README.md)")
    lines = _yaml_lines(node)

    problems: list[Problem] = []
    validator = jsonschema.Draft202012Validator(load_schema("codebook.schema.yaml"))
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        problems.append(Problem(spath, _line_of(lines, err.absolute_path),
                                f"{where}: {err.message}: {_FIX_CODEBOOK}"))
    raise_if(problems)

    themes = [Theme(t["id"], t["label"].strip(), (t.get("description") or "").strip())
              for t in data["themes"]]
    seen: dict[str, int] = {}
    for i, t in enumerate(themes):
        if t.id in seen:
            problems.append(Problem(spath, _line_of(lines, ("themes", i, "id")),
                                    f"theme id {t.id!r} is listed twice (first at line "
                                    f"{seen[t.id]}): theme ids must be unique"))
        seen.setdefault(t.id, _line_of(lines, ("themes", i, "id")))
    theme_ids = [t.id for t in themes]

    framework: dict[str, list[dict]] = {k: list(v or []) for k, v in (data.get("framework") or {}).items()}
    fw_entries = [(part, i, e) for part, entries in framework.items() for i, e in enumerate(entries)]
    fw_ids: dict[str, tuple] = {}
    for part, i, e in fw_entries:
        if e["id"] in fw_ids:
            problems.append(Problem(spath, _line_of(lines, ("framework", part, i, "id")),
                                    f"framework entry {e['id']!r} is listed twice"))
        fw_ids.setdefault(e["id"], (part, i, e))

    codes: list[CodeDef] = []
    code_line: dict[str, int | None] = {}
    for i, c in enumerate(data["codes"]):
        line = _line_of(lines, ("codes", i, "id"))
        if c["id"] in code_line:
            problems.append(Problem(spath, line, f"code id {c['id']!r} is listed twice (first at "
                                                 f"line {code_line[c['id']]}): code ids must be unique"))
            continue
        code_line[c["id"]] = line
        if c["theme"] not in theme_ids:
            problems.append(Problem(spath, _line_of(lines, ("codes", i, "theme")),
                                    f"code {c['id']!r} has theme {c['theme']!r}, which is not "
                                    f"under themes (known: {', '.join(theme_ids)})"))
        if c["origin"] == "deductive" and c["id"] not in fw_ids:
            problems.append(Problem(spath, _line_of(lines, ("codes", i, "origin")),
                                    f"code {c['id']!r} is deductive but not in the framework: add "
                                    "it under one of the framework's lists, or make it "
                                    "inductive"))
        if c["origin"] != "deductive" and c["id"] in fw_ids:
            problems.append(Problem(spath, _line_of(lines, ("codes", i, "origin")),
                                    f"code {c['id']!r} is in the framework, so its origin must be "
                                    "deductive"))
        intro = c.get("introduced_by") or ()
        intro = (intro,) if isinstance(intro, str) else tuple(intro)
        codes.append(CodeDef(c["id"], c["label"].strip(), c["origin"], c["theme"],
                             " ".join(c["definition"].split()),
                             tuple(s.strip() for s in c.get("synonyms") or ()), intro, line,
                             c.get("parent") or ""))
    for fid, (part, i, _e) in fw_ids.items():
        if fid not in code_line:
            problems.append(Problem(spath, _line_of(lines, ("framework", part, i, "id")),
                                    f"framework entry {fid!r} has no code under codes: add a code "
                                    f"with id {fid} and origin deductive, with its theme"))

    problems.extend(_parent_problems(spath, lines, data["codes"], codes))

    # Every way of naming a code must name one code only.
    lookup: dict[str, str] = {}
    first: dict[str, tuple[str, str, int | None]] = {}
    for i, c in enumerate(data["codes"]):
        if c["id"] not in code_line or code_line[c["id"]] != _line_of(lines, ("codes", i, "id")):
            continue
        names = [(c["id"], ("codes", i, "id")), (c["label"], ("codes", i, "label"))]
        if c["id"] in fw_ids:
            part, j, e = fw_ids[c["id"]]
            names.append((e["label"], ("framework", part, j, "label")))
        names += [(s, ("codes", i, "synonyms", k)) for k, s in enumerate(c.get("synonyms") or [])]
        for name, where in names:
            key = normalise_label(name)
            line = _line_of(lines, where)
            if not key:
                problems.append(Problem(spath, line, f"label {name!r} of code {c['id']!r} has no "
                                                     "letters or digits: remove it"))
                continue
            if key in lookup and lookup[key] != c["id"]:
                other, other_name, other_line = first[key]
                problems.append(Problem(spath, line, (
                    f"label {name!r} of code {c['id']!r} also names code {other!r} ({other_name!r}, "
                    f"line {other_line}); labels are compared ignoring case, spaces and punctuation, "
                    f"so one label must map to one code only: remove it from one of the two")))
                continue
            lookup.setdefault(key, c["id"])
            first.setdefault(key, (c["id"], name, line))
    raise_if(problems)
    return Codebook(spath, themes, codes, framework, lookup)


def _parent_problems(spath: str, lines: dict[tuple, int], raw: list[dict], codes: list[CodeDef]) -> list[Problem]:
    """A subcode's ``parent`` is a code of the same theme, and following parents never loops."""
    by_id = {c.id: c for c in codes}
    index = {c["id"]: i for i, c in reversed(list(enumerate(raw)))}
    problems: list[Problem] = []
    for c in codes:
        if not c.parent:
            continue
        where = _line_of(lines, ("codes", index[c.id], "parent"))
        parent = by_id.get(c.parent)
        if parent is None:
            problems.append(Problem(spath, where, f"code {c.id!r} has parent {c.parent!r}, which is not a "
                                                  "code: use the id of a code listed under codes"))
        elif parent.theme != c.theme:
            problems.append(Problem(spath, where, f"code {c.id!r} (theme {c.theme}) has parent {c.parent!r} "
                                                  f"of theme {parent.theme}: a subcode belongs to its "
                                                  "parent's theme"))
    for c in codes:
        seen, at = [c.id], by_id.get(c.parent) if c.parent else None
        while at is not None and at.id not in seen:
            seen.append(at.id)
            at = by_id.get(at.parent) if at.parent else None
        if at is not None and at.id == c.id:
            problems.append(Problem(spath, _line_of(lines, ("codes", index[c.id], "parent")),
                                    f"code {c.id!r} is its own ancestor ({' -> '.join(seen + [c.id])}): "
                                    "remove one parent"))
    return problems


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

    def turn_row(self, turn: int) -> pd.Series | None:
        # Looked up once per coding row (190,000 at 1,000 transcripts): a dict, not a mask per call.
        key, by_turn = self.__dict__.get("_by_turn", (None, None))
        if key != id(self.turns):
            by_turn = {}
            for i, t in zip(self.turns.index, self.turns["turn"]):
                by_turn.setdefault(int(t), i)
            self.__dict__["_by_turn"] = (id(self.turns), by_turn)
        i = by_turn.get(int(turn))
        return self.turns.loc[i] if i is not None else None


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
class CodingSet:
    """Codings read from the coders' files, mapped to units but not yet to codes."""

    raw: pd.DataFrame                                   # RAW_COLUMNS
    coverage: list[tuple[str, str, str, str]] = field(default_factory=list)  # transcript, coder, source, file
    #: sources a coder's .qdpx holds without any of their codings: not coded unless assigned
    delivered: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: codings whose text was not byte-identical to the current transcript (REANCHOR_COLUMNS)
    anchors: list[dict] = field(default_factory=list)

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
                   [a for p in parts for a in p.anchors])


def _empty_raw() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in RAW_COLUMNS})


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
                     decisions: Decisions | None = None) -> CodingSet:
    """A coder's TSV (one file per transcript): every row checked against the transcript's turns."""
    spath = str(path)
    df = read_tsv(path, "codings.schema.yaml", allow_empty=True)
    stem = Path(path).name[: -len(".tsv")]
    file_tid = None
    problems: list[Problem] = []
    if TRANSCRIPT_ID.match(stem):
        if stem not in transcripts:
            raise InputError(spath, None, (
                f"the file is named for transcript {stem!r}, which does not exist (known: "
                f"{_known(transcripts)}): rename the file <site>.<transcript>.tsv"))
        file_tid = stem
    rows: list[dict] = []
    anchors: list[dict] = []
    anchor_cache: dict = {}
    covered: list[str] = [file_tid] if file_tid else []
    for r in df.to_dict("records"):
        line = r["_line"]
        tid = r["transcript"]
        if tid not in transcripts or (file_tid and tid != file_tid):
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
                                "offsets": "turn", "file": spath, "line": line})
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
        if not bool(row["unit"]):
            what = "a transcription marker" if row["kind"] != "speech" else \
                f"a facilitator turn ({row['speaker']})"
            # the documented rule, not a problem: logged (logs/codes.log), not warned about on every run
            log.info("%s:%s: coder %s coded %s turn %s, %s, not a unit of analysis: dropped",
                        spath, line, coder, tid, turn, what)
            continue
        rows.append({"coder": coder, "transcript": tid, "turn": turn, "start": start, "end": end,
                     "label": r["code"], "label_path": "", "source": "tsv", "file": spath,
                     "line": line, "valence": r.get("valence", ""), "memo": r.get("memo", "")})
    raise_if(problems)
    if anchors:
        n_rev = sum(a["status"] == "review" for a in anchors)
        log.warning("%s: %d coding(s) were made on an older version of the transcript: %d moved to "
                    "the same words, %d need review (their words or turn changed; left out until "
                    "confirmed, see results/codes/reanchor_review.tsv)", spath, len(anchors),
                    sum(a["status"] == "moved" for a in anchors), n_rev)
    raw = pd.DataFrame(rows, columns=RAW_COLUMNS) if rows else _empty_raw()
    return CodingSet(raw, [(tid, coder, "tsv", spath) for tid in covered], [], anchors)


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


def _source_transcript(name: str, text_sha: str, transcripts: Mapping[str, Transcript]) -> str | None:
    """Which transcript a .qdpx source is: by name (``kampala.FG2``, with or without ``.en``/``.txt``),
    else by identical text."""
    n = name.strip()
    for suffix in (".txt", ".en"):
        if n.lower().endswith(suffix):
            n = n[: -len(suffix)]
    if n in transcripts:
        return n
    same = [t for t in sorted(transcripts) if transcripts[t].sha256 == text_sha]
    return same[0] if len(same) == 1 else None


PATH_SEP = " > "


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
                      decisions: Decisions | None = None) -> CodingSet:
    """A coder's REFI-QDA export: sources matched to transcripts, texts verified, spans to units.

    The coder of a coding is its ``creatingUser`` (the coding's, else the selection's); codings
    without one, or by a neutral user (``NEUTRAL_USERS``), belong to the folder's coder. A source
    counts as coded by a coder when the coder has a coding on it; a source without any of their
    codings is only *delivered* (coded only if the assignments table says so). A source whose text
    differs only in line endings or a BOM is mapped; one made on an older version of the transcript
    is re-anchored (``anchors``).
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
    warned_users: set[str] = set()
    for s in project.sources:
        sha = hashlib.sha256(s.text.encode("utf-8")).hexdigest()
        tid = _source_transcript(s.name, sha, transcripts)
        if tid is None and "\r" in s.text:
            from qualflow.anchors import normalise_newlines
            norm = normalise_newlines(s.text)
            tid = _source_transcript(s.name, hashlib.sha256(norm.encode("utf-8")).hexdigest(),
                                     transcripts)
        codings = by_source.get(s.guid, [])
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
            aligned = align_source(s, t, codings, coder, spath, anchors, code_name, decisions)
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
                             "memo": c.memo})
    raise_if(problems)
    raw = pd.DataFrame(rows, columns=RAW_COLUMNS) if rows else _empty_raw()
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
                 decisions: Decisions | None = None) -> CodingSet:
    """Every coder's files, with the problems of all files reported together."""
    parts: list[CodingSet] = []
    problems: list[Problem] = []
    for coder, path in files:
        reader = read_qdpx_codings if path.lower().endswith(".qdpx") else read_tsv_codings
        try:
            parts.append(reader(path, coder, transcripts, decisions))
        except InputError as e:
            problems.extend(e.problems)
    out = CodingSet.concat(parts)
    problems.extend(duplicate_coders(out.coverage))
    raise_if(problems)
    return out


# =========================================================================== labels -> codes


def map_labels(raw: pd.DataFrame, codebook: Codebook, unmapped: str = "fail",
               ) -> tuple[pd.DataFrame, pd.DataFrame, list[CodeDef]]:
    """Give each raw coding its canonical code, theme and origin.

    Returns the mapped codings, the unmapped labels table and the candidate codes made from them
    (``unmapped="candidate"``); with ``unmapped="fail"`` an unknown label is an InputError naming
    the file and line where it is first used, with the closest code as a suggestion.
    """
    if unmapped not in ("fail", CANDIDATE):
        raise ValueError(f"unmapped must be 'fail' or 'candidate', not {unmapped!r}")
    df = raw.copy()
    codes, labels = [], []
    for label, lpath in zip(df["label"], df["label_path"]):
        code, used = codebook.resolve(label), label
        parts = lpath.split(PATH_SEP) if isinstance(lpath, str) and lpath else []
        # A nested node's own name first, then with its parent, grandparent, ... prepended.
        for k in range(2, len(parts) + 1):
            if code is not None:
                break
            cand = PATH_SEP.join(parts[-k:])
            if codebook.resolve(cand) is not None:
                code, used = codebook.resolve(cand), cand
        codes.append(code)
        labels.append(used)
    df["code"] = pd.Series(codes, index=df.index, dtype="object")
    df["label"] = labels

    miss = df[df["code"].isna()].copy()
    problems: list[Problem] = []
    unmapped_rows: list[dict] = []
    candidates: dict[str, CodeDef] = {}
    if len(miss):
        miss["_key"] = miss["label"].map(normalise_label)
        miss["_line_sort"] = pd.to_numeric(miss["line"], errors="coerce").fillna(0)
        miss = miss.sort_values(["coder", "_key", "file", "_line_sort"], kind="stable")
        for (coder, key), g in miss.groupby(["coder", "_key"], sort=True):
            first = g.iloc[0]
            label = first["label"]
            suggestion = codebook.suggest(label)
            line = None if pd.isna(first["line"]) or first["line"] in ("", None) else int(first["line"])
            if not key:
                problems.append(Problem(first["file"], line, (
                    f"coder {coder}: label {label!r} has no letters or digits: give the coding a "
                    "code name")))
                continue
            cand = ""
            if unmapped == CANDIDATE:
                cand = _slug(label)
                if cand not in candidates:
                    candidates[cand] = CodeDef(cand, label, CANDIDATE, "", "candidate code from "
                                               "an unmapped coder label; review it and add it to "
                                               "config/codebook.yaml", (label,), (), None)
            unmapped_rows.append({"coder": coder, "label": label, "n": len(g),
                                  "first_file": first["file"], "first_line": line,
                                  "suggestion": suggestion, "candidate": cand})
            if unmapped == "fail":
                hint = (f"did you mean {codebook.code(suggestion).label!r} ({suggestion})? add "
                        f"{label!r} to its synonyms, or add a new code for it to the codebook"
                        if suggestion else f"add {label!r} to the synonyms of the right code, or "
                        "add a new code for it to the codebook")
                in_code = "" if line is not None else (f" (code {label!r} in the project)")
                problems.append(Problem(first["file"], line, (
                    f"coder {coder}: label {label!r}{in_code} ({len(g)} coding(s)) matches no code "
                    f"in {codebook.path}: {hint}, or set codes.unmapped: candidate to keep it as "
                    "a candidate code")))
        raise_if(problems)
        for cand in candidates.values():
            log.warning("candidate code %r from unmapped label %r: review it in unmapped_labels.tsv",
                        cand.id, cand.label)
        keys = df["code"].isna()
        df.loc[keys, "code"] = df.loc[keys, "label"].map(lambda lab: _slug(lab))
    theme = {c.id: c.theme for c in codebook.codes}
    origin = {c.id: c.origin for c in codebook.codes}
    df["theme"] = df["code"].map(lambda c: theme.get(c, ""))
    df["origin"] = df["code"].map(lambda c: origin.get(c, CANDIDATE))
    um = pd.DataFrame(unmapped_rows, columns=UNMAPPED_COLUMNS)
    um["first_line"] = um["first_line"].astype("Int64")
    um["n"] = um["n"].astype("int64")
    return df, um, list(candidates.values())


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


def turns_table(transcripts: Mapping[str, Transcript], order: Mapping[str, int]) -> pd.DataFrame:
    """results/codes/turns.tsv: every turn with its anchor, for TSV coders to copy into ``turn_sha``
    (a corrected transcript then moves their codings instead of silently shifting them)."""
    from qualflow.coding_checks import turn_sha
    parts = []
    for tid in sorted(transcripts, key=lambda t: order[t]):
        t = transcripts[tid]
        parts.append(pd.DataFrame({
            "site": t.site, "transcript": tid, "turn": t.turns["turn"].astype("int64"),
            "speaker": t.turns["speaker"].astype(str),
            "unit": t.turns["unit"].map({True: "yes", False: "no"}),
            "turn_sha": [turn_sha(str(x)) for x in t.turns["text"]]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=TURNS_COLUMNS)


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


# =========================================================================== the stage


def _site_order(sites: str | Path | None) -> list[str]:
    if not sites:
        return []
    df = read_tsv(sites)
    return list(df["site"]) if "site" in df.columns else []


def codes_stage(codebook: str, codings: Sequence[str], transcripts_tsv: Sequence[str],
                transcripts_txt: Sequence[str], codings_dir: str, unmapped: str,
                outputs: Mapping[str, str], sites: str | None = None, roster: str | None = None,
                assignments: str | None = None, site_waves: str | None = None,
                waves: Mapping[str, str] | None = None, decisions: str | None = None,
                valence: Mapping | None = None) -> None:
    """Rule ``codes``: read and check everything, then write every output (nothing on failure).

    ``outputs`` keys: codings, codebook, unmapped, coverage, themes, summary, qdc, packet, and
    optionally reanchor (the review table) and project (the whole coded study as .qdpx; its
    participant cases need ``roster``; ``site_waves`` gives transcripts their per-wave groups).
    ``assignments``: the declared coder × transcript table. ``waves``: each transcript's wave
    (``<site>.<T>`` -> wave), for the coverage table. ``decisions``: a person's accept/reject of
    the codings held for review on a corrected transcript (``reanchor_decisions.tsv``).
    ``valence``: the config's ``valence`` section (valence codes and paired-code markers, see
    ``qualflow.valence``), applied to the raw codings before labels are mapped to codes.
    """
    book = load_codebook(codebook)
    order_sites = _site_order(sites)
    transcripts = load_transcripts(transcripts_tsv, transcripts_txt)
    order = _transcript_order(transcripts, order_sites)
    files = discover_codings(codings_dir, codings)
    if not files:
        log.warning("no codings under %s: writing the codebook and the coding packet only",
                    codings_dir)
    ledger = Decisions.read(decisions) if decisions else None
    read = read_codings(files, transcripts, ledger)
    if ledger is not None:
        ledger.warn_unused()
    table = read_tsv(assignments, "coding_assignments.schema.yaml", allow_empty=True) \
        if assignments else None
    covered, counted, problems = apply_assignments(read.coverage, read.delivered, table,
                                                   str(assignments), transcripts)
    raise_if(problems)
    raw = apply_valence(read.raw, without_codebook_labels(valence_rules(valence), book.resolve))
    mapped, um, candidates = map_labels(raw, book, unmapped)
    with_memo = _finish_codings(mapped, transcripts, order, extra=["memo"])
    codings_df = with_memo[CODINGS_COLUMNS]
    book_df = codebook_table(book, codings_df, candidates, order)
    themes_df = themes_table(book, book_df, codings_df)
    coverage_df = coverage_table(covered, codings_df, transcripts, order, waves)
    anchors_df = reanchor_table(read.anchors, order)
    note = summary_markdown(book, themes_df, book_df, coverage_df, codings_df, um, counted, anchors_df)
    coders = sorted(set(coverage_df["coder"]))
    packet = coding_packet(book, transcripts, coders, order)
    project = None
    if "project" in outputs:
        from qualflow.study import read_roster, read_sites
        people = read_roster(roster, read_sites(sites)) if roster and sites else []
        site_df = read_tsv(sites) if sites else pd.DataFrame()
        project = study_project(export_codes(book) + candidate_codes(candidates), transcripts, order,
                                with_memo, site_df.drop(columns="_line", errors="ignore"), people,
                                {s.name: s.guid for s in packet.sources},
                                read_tsv(site_waves) if site_waves else None)

    write_tsv(codings_df, outputs["codings"])
    write_tsv(book_df, outputs["codebook"])
    write_tsv(um, outputs["unmapped"])
    write_tsv(coverage_df, outputs["coverage"])
    write_tsv(themes_df, outputs["themes"])
    write_text(note, outputs["summary"])
    write_qdc(outputs["qdc"], export_codes(book))
    write_qdpx(outputs["packet"], packet)
    if "reanchor" in outputs:
        write_tsv(anchors_df, outputs["reanchor"])
    if project is not None:
        write_qdpx(outputs["project"], project)
    if "turns" in outputs:
        write_tsv(turns_table(transcripts, order), outputs["turns"])
    for r in coverage_df.itertuples():
        log.info("%s: %s coded %d units (%d codings)", r.transcript, r.coder, r.n_units, r.n_codings)
    log.info("%d codings, %d codes used, %d unmapped labels", len(codings_df),
             int((book_df["n_codings"] > 0).sum()), len(um))
