"""Stage 5, codes: the codebook (``config/codebook.yaml``) and the mapping of coders' labels to it.

* ``config/codebook.yaml`` (themes, the deductive framework, every code with the labels coders
  used) is checked against ``workflow/schemas/codebook.schema.yaml`` and cross-checked, with the
  YAML line of every problem;
* every coder label is mapped to one canonical code through the synonyms, ignoring case, spaces and
  punctuation; an unknown label stops the run or becomes a *candidate* code (config
  ``codes.unmapped``), so no coding is silently lost.

The rest of the stage lives beside it (changed: issue 14, the 1,162-line module was split by what
each part does): ``qualflow.coder_files`` reads the coders' TSV and REFI-QDA files and maps every
span to turn units, ``qualflow.codes_tables`` makes the output tables and REFI-QDA exports, and
``qualflow.codes`` runs the stage (per site, then a small study-wide merge). The names that used to
live here are still importable from ``qualflow.codebook``.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pandas as pd
import yaml
from rapidfuzz import fuzz, process

from qualflow.errors import InputError, Problem, raise_if
from qualflow.tables import load_schema

__all__ = ["Theme", "CodeDef", "Codebook", "normalise_label", "load_codebook", "map_labels",
           "UNMAPPED_COLUMNS", "CANDIDATE", "PATH_SEP"]

log = logging.getLogger("qualflow.codebook")

UNMAPPED_COLUMNS = ["coder", "label", "n", "first_file", "first_line", "suggestion", "candidate"]
CANDIDATE = "candidate"
#: How a nested REFI-QDA code's path is written ("Stigma > community"), for mapping its label.
PATH_SEP = " > "
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



#: Names that moved to the stage's other modules (issue 14): ``from qualflow.codebook import X`` keeps
#: working. Resolved lazily, because those modules import this one.
_MOVED = {
    "qualflow.coder_files": ["Transcript", "CodingSet", "load_transcripts", "discover_codings",
                             "read_tsv_codings", "read_qdpx_codings", "read_codings", "RAW_COLUMNS",
                             "TRANSCRIPT_ID", "CODING_FILE_SUFFIXES", "_code_paths", "_known",
                             "_transcript_order", "_transcript_id", "_natural", "_is_unit",
                             "_empty_raw", "_source_transcript", "_first_difference",
                             "_read_source_text"],
    "qualflow.codes_tables": ["codebook_table", "themes_table", "coverage_table", "turns_table",
                              "summary_markdown", "export_codes", "coding_packet", "_finish_codings",
                              "CODINGS_COLUMNS", "CODEBOOK_COLUMNS", "COVERAGE_COLUMNS",
                              "THEMES_COLUMNS", "TURNS_COLUMNS", "THEME_COLOURS"],
    "qualflow.codes": ["codes_stage", "codes_site", "codes_merge"],
}
_WHERE = {name: mod for mod, names in _MOVED.items() for name in names}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'qualflow.codebook' has no attribute {name!r}")
