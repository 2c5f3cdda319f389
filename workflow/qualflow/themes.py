"""Stage 8, themes: how often each theme comes up per site, comparison group and wave, and its quotes.

The comparison groups are the study's (config ``groups``; the first demo's is the income setting).
The paper reports themes by income setting ("especially in lower-income countries", "in both the
lower-income and higher-income countries") without counts; this stage makes those statements
checkable. Everything is computed from the coders' codings of the pseudonymised English transcripts:

* a **coded unit** of a theme is a participant's speech turn that at least one coder coded with any
  of the theme's codes (the unit of agreement, DESIGN.md): two coders coding the same turn count
  once, and facilitator or marker turns are never units;
* a transcript or participant **mentions** a theme when it has at least one coded unit of it;
  participants are distinct speaker codes (``P09``) per site;
* **participant words** are the whitespace-separated tokens holding a letter or digit in the
  participant speech turns of the English transcripts, so ``units_per_1000_words`` compares sites
  whose focus groups were of different lengths.

``quotes.md`` lists every coded span (merged across coders when they overlap) with the attribution
the paper uses, ``[#9, Kampala, PSW]``, so an author can pick quotes and an auditor can trace them.
All functions are pure over DataFrames; :func:`write_themes` is the stage's one entry point.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .counting import counted_codings, counted_coders, lead_coder, read_assignments, read_coverage, word_count
from .design import Group, design_from_params, transcript_groups
from .errors import InputError, Problem, raise_if
from .study import ROLE_LABELS, Person, read_roster, read_sites
from .tables import read_results_tsv, write_text, write_tsv

log = logging.getLogger("qualflow.themes")

__all__ = [
    "MATRIX_COLUMNS", "matrix_columns", "read_themes", "read_codings", "read_turns", "word_count",
    "transcript_order", "transcript_kind", "coded_units", "theme_matrix", "quotes", "format_quote",
    "quote_page", "quotes_index", "quotes_page", "quotes_pages", "transcript_table", "site_status",
    "summary_markdown", "write_themes",
]

ALL_NAME = "All sites"
#: The matrix's columns; the comparison groups' columns (config ``groups``) follow ``name``.
MATRIX_COLUMNS = [
    "level", "site", "name", "theme_number", "theme", "theme_label", "status", "coded_units",
    "transcripts", "transcripts_total", "participants", "participants_total",
    "focus_groups_total", "fg_participants", "fg_participants_total",
    "interviews_total", "interviewees", "interviewees_total",
    "participant_words", "units_per_1000_words", "transcripts_not_coded",
]
#: The matrix's counts: empty (not zero) in a row whose scope has no coded transcript.
COUNT_COLUMNS = ["coded_units", "transcripts", "transcripts_total", "participants", "participants_total",
                 "focus_groups_total", "fg_participants", "fg_participants_total", "interviews_total",
                 "interviewees", "interviewees_total", "participant_words"]
#: A transcript's kind from its id (``<site>.FG1``, ``<site>.INT2``): Table 2 counts focus groups.
KINDS = {"FG": "focus group", "INT": "interview"}
NOT_CODED = "not coded"
#: results/themes/transcripts.tsv: every English transcript, whether it counts, and from whose codings.
TRANSCRIPT_COLUMNS = ["site", "transcript", "kind", "wave", "status", "coders", "counted_coder", "counted_by",
                      "participants", "participant_words"]


def matrix_columns(groups: Sequence[Group] = ()) -> list[str]:
    """MATRIX_COLUMNS with one column per comparison group after ``name`` (e.g. ``setting``)."""
    return MATRIX_COLUMNS[:3] + [g.id for g in groups] + MATRIX_COLUMNS[3:]
QUOTE_COLUMNS = ["theme", "theme_number", "site", "transcript", "turn", "start", "end", "text",
                 "speaker", "participant", "site_name", "description", "coders", "codes"]
CODING_COLUMNS = ["site", "transcript", "turn", "coder", "code", "theme"]
TURN_COLUMNS = ["turn", "speaker", "text", "kind"]
_PARTICIPANT = re.compile(r"^P(\d+)$")


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

def read_themes(path: str | Path) -> pd.DataFrame:
    """The themes in codebook order: theme (id), theme_number (1-based), theme_label, description.

    Read from the codes stage's ``results/codes/themes.tsv``, which it writes from the codebook it
    has already validated (unique ids, every code's theme listed), so the order and labels come from
    one reader of config/codebook.yaml, not two.
    """
    df = read_results_tsv(path)
    missing = [c for c in ("theme", "label") if c not in df.columns]
    if missing:
        raise InputError(path, 1, f"missing column(s) {', '.join(missing)}: re-run the codes stage")
    description = df["description"] if "description" in df.columns else pd.Series("", index=df.index)
    return pd.DataFrame({"theme": df["theme"], "theme_number": np.arange(len(df)) + 1,
                         "theme_label": df["label"], "description": [" ".join(d.split()) for d in description]})


def _int_or_na(value: str) -> float:
    value = str(value).strip()
    if value == "":
        return np.nan
    return int(value) if re.fullmatch(r"-?\d+", value) else np.nan


def read_codings(path: str | Path) -> pd.DataFrame:
    """results/codes/codings.tsv with ``src_line`` (file line) kept for error messages.

    Columns stay strings except ``turn``, ``start`` and ``end``, which :func:`coded_units` checks.
    """
    df = read_results_tsv(path)
    missing = [c for c in CODING_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, 1, f"missing column(s) {', '.join(missing)}: re-run the codes stage")
    for col in ("start", "end", "label", "origin", "source"):
        if col not in df.columns:
            df[col] = ""
    df["src_line"] = np.arange(len(df)) + 2
    df.attrs["path"] = str(path)
    return df


def read_turns(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate English turn tables ``results/pseudonymised/<site>/<T>.<lang>.tsv``.

    Adds site and transcript (``<site>.<T>``) from the path, ``participant`` (a speech turn of a
    ``P<n>`` speaker), ``words`` and ``src_file``/``src_line`` for messages.
    """
    frames = []
    for p in sorted(map(Path, paths)):
        df = read_results_tsv(p)
        missing = [c for c in TURN_COLUMNS if c not in df.columns]
        if missing:
            raise InputError(p, 1, f"missing column(s) {', '.join(missing)}: re-run the pseudonymise stage")
        site, name = p.parent.name, p.name.split(".")[0]
        df = df[TURN_COLUMNS].copy()
        df.insert(0, "transcript", f"{site}.{name}")
        df.insert(0, "site", site)
        df["src_file"] = str(p)
        df["src_line"] = np.arange(len(df)) + 2
        frames.append(df)
    cols = ["site", "transcript", *TURN_COLUMNS, "src_file", "src_line"]
    turns = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    return _prepare_turns(turns)


def _prepare_turns(turns: pd.DataFrame) -> pd.DataFrame:
    """Typed turns: int turn, participant flag, word counts (also for hand-made frames in tests)."""
    t = turns.copy()
    for col in ("src_file", "src_line"):
        if col not in t.columns:
            t[col] = "" if col == "src_file" else 0
    t["text"] = t["text"].fillna("").astype(str)
    t["speaker"] = t["speaker"].fillna("").astype(str)
    bad = pd.to_numeric(t["turn"], errors="coerce").isna()
    raise_if([Problem(r.src_file, int(r.src_line), f"turn {r.turn!r} is not a number: re-run the pseudonymise stage")
              for r in t[bad].head(20).itertuples()])
    t["turn"] = pd.to_numeric(t["turn"]).astype("int64")
    t["participant"] = (t["kind"] == "speech") & t["speaker"].str.fullmatch(_PARTICIPANT.pattern)
    t["words"] = [word_count(x) if p else 0 for x, p in zip(t["text"], t["participant"])]
    return t


# --------------------------------------------------------------------------------------------
# ordering
# --------------------------------------------------------------------------------------------

def _natural_key(s: str) -> tuple:
    return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in re.split(r"(\d+)", s))


def transcript_order(transcripts: Iterable[str]) -> dict[str, int]:
    """Rank transcript ids so FG2 comes before FG10 and focus groups before interviews."""
    return {t: i for i, t in enumerate(sorted(set(transcripts), key=_natural_key))}


def _value_order(group: Group, present: Iterable[str]) -> list[str]:
    """A group's values in declared order, any undeclared value present after, alphabetically."""
    uniq = {v for v in present if v != ""}
    return [v for v in group.values if v in uniq] + sorted(uniq - set(group.values))


# --------------------------------------------------------------------------------------------
# coded units
# --------------------------------------------------------------------------------------------

def _theme_ids(codings: pd.DataFrame, themes: pd.DataFrame) -> tuple[pd.Series, list[Problem]]:
    """Map the codings' theme column to theme ids; a label (any case) is accepted for an id."""
    ids = set(themes["theme"])
    by_label = {str(l).casefold(): t for t, l in zip(themes["theme"], themes["theme_label"])}
    path = codings.attrs.get("path", "codings")
    out, problems = [], []
    for value, line in zip(codings["theme"].astype(str), codings["src_line"]):
        v = value.strip()
        if v == "" or v in ids:
            out.append(v)
        elif v.casefold() in by_label:
            out.append(by_label[v.casefold()])
        else:
            out.append("")
            problems.append(Problem(str(path), int(line), f"theme {v!r} is not in the codebook's themes "
                                                          f"({', '.join(themes['theme'])}): fix the code's "
                                                          "theme in config/codebook.yaml"))
    return pd.Series(out, index=codings.index), problems


def coded_units(codings: pd.DataFrame, themes: pd.DataFrame, sites: pd.DataFrame,
                turns: pd.DataFrame) -> pd.DataFrame:
    """Codings checked against the sites, the themes and the English turns; one row per coded span.

    Returns the codings of participant speech turns with a theme, with the turn's ``speaker`` and
    ``text`` and integer ``start``/``end`` (the whole turn when the coder gave no offsets). Codings
    with an empty theme (framework codes outside the six themes) are left out; codings of
    facilitator or marker turns are left out and logged. A coding that points at a transcript or
    turn that does not exist, or at offsets outside its turn, is an InputError: the codings and the
    transcripts disagree and every count would be wrong.
    """
    if "src_line" not in codings.columns:
        codings = codings.assign(src_line=np.arange(len(codings)) + 2)
    for col in ("start", "end"):
        if col not in codings.columns:
            codings = codings.assign(**{col: ""})
    path = str(codings.attrs.get("path", "codings"))
    c = codings.copy()
    c.attrs = codings.attrs
    problems: list[Problem] = []
    known_sites = set(sites["site"])
    c["turn_num"] = pd.to_numeric(c["turn"], errors="coerce")
    for r in c.itertuples():
        if r.site not in known_sites:
            problems.append(Problem(path, int(r.src_line), f"site {r.site!r} is not in config/sites.tsv: "
                                                        "add the site or fix the codings"))
        elif not str(r.transcript).startswith(f"{r.site}."):
            problems.append(Problem(path, int(r.src_line), f"transcript {r.transcript!r} does not belong to "
                                                        f"site {r.site!r}: transcripts are <site>.<T>"))
        if pd.isna(r.turn_num) or r.turn_num != int(r.turn_num):
            problems.append(Problem(path, int(r.src_line), f"turn {r.turn!r} is not a whole number"))
    c["theme"], theme_problems = _theme_ids(c, themes)
    raise_if(problems + theme_problems)

    c = c[c["theme"] != ""].copy()
    c["turn"] = c["turn_num"].astype("int64")
    t = turns[["site", "transcript", "turn", "speaker", "text", "kind", "participant"]]
    m = c.merge(t.drop(columns="site"), on=["transcript", "turn"], how="left", indicator=True)
    for r in m[m["_merge"] == "left_only"].head(20).itertuples():
        problems.append(Problem(path, int(r.src_line), f"{r.transcript} turn {r.turn} is not in the "
                                                    "pseudonymised English transcripts: the codings "
                                                    "were made on another version of the transcript"))
    raise_if(problems)

    m["start"] = [_int_or_na(v) for v in m["start"]]
    m["end"] = [_int_or_na(v) for v in m["end"]]
    for r in m.itertuples():
        n = len(r.text)
        s_given, e_given = not pd.isna(r.start), not pd.isna(r.end)
        if s_given != e_given:
            problems.append(Problem(path, int(r.src_line), "give both start and end, or neither (whole turn)"))
        elif s_given and not (0 <= r.start < r.end <= n):
            problems.append(Problem(path, int(r.src_line), f"span {int(r.start)}-{int(r.end)} is outside "
                                                        f"{r.transcript} turn {r.turn} ({n} characters)"))
    raise_if(problems)

    other = ~m["participant"].astype(bool)
    if other.any():
        log.debug("%d coded span(s) on facilitator or marker turns are not units and are left out",
                  int(other.sum()))
    m = m[~other].copy()
    whole = m["start"].isna()
    m.loc[whole, "start"] = 0
    m.loc[whole, "end"] = m.loc[whole, "text"].str.len()
    m["start"] = m["start"].astype("int64")
    m["end"] = m["end"].astype("int64")
    cols = ["site", "transcript", "turn", "speaker", "coder", "code", "theme", "start", "end", "text", "src_line"]
    return m[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# theme matrix
# --------------------------------------------------------------------------------------------

def transcript_kind(transcript: str) -> str:
    """``focus group`` or ``interview`` from the id (``kampala.FG2``, ``kampala.INT1``)."""
    name = transcript.split(".", 1)[-1]
    return next((kind for prefix, kind in KINDS.items() if re.fullmatch(rf"{prefix}\d+", name)), "other")


def _status(coded: int, total: int) -> str:
    """``coded``, ``not coded`` or ``partly coded (k of n)`` for a row's scope of transcripts
    (``no transcripts`` for a scope without any, e.g. a site whose transcripts are not in yet)."""
    if total == 0:
        return "no transcripts"
    if coded == 0:
        return NOT_CODED
    return "coded" if coded == total else f"partly coded ({coded} of {total})"


def _grouped(units: pd.DataFrame, parts: pd.DataFrame, key: str, groups: list[str],
             themes: pd.DataFrame) -> pd.DataFrame:
    """Counts per (group, theme) for one level; ``key`` names the grouping column.

    ``parts`` holds every English turn with ``coded`` (its transcript counts); numerators and
    denominators come from the coded transcripts only, and a scope without one has empty counts.
    """
    u = units.drop_duplicates(["transcript", "turn", "theme"])
    fg, iv = u["kind"] == KINDS["FG"], u["kind"] == KINDS["INT"]
    num = (u.assign(fg_person=u["person"].where(fg), iv_person=u["person"].where(iv))
           .groupby([key, "theme"])
           .agg(coded_units=("turn", "size"), transcripts=("transcript", "nunique"),
                participants=("person", "nunique"), fg_participants=("fg_person", "nunique"),
                interviewees=("iv_person", "nunique")))
    c = parts[parts["coded"]]
    speak = c[c["participant"]]
    den = pd.DataFrame({
        "transcripts_total": c.groupby(key)["transcript"].nunique(),
        "participants_total": speak.groupby(key)["person"].nunique(),
        "focus_groups_total": c[c["kind"] == KINDS["FG"]].groupby(key)["transcript"].nunique(),
        "fg_participants_total": speak[speak["kind"] == KINDS["FG"]].groupby(key)["person"].nunique(),
        "interviews_total": c[c["kind"] == KINDS["INT"]].groupby(key)["transcript"].nunique(),
        "interviewees_total": speak[speak["kind"] == KINDS["INT"]].groupby(key)["person"].nunique(),
        "participant_words": c.groupby(key)["words"].sum(),
    })
    every = parts.groupby(key)["transcript"].nunique().reindex(groups).fillna(0).astype("int64")
    grid = pd.MultiIndex.from_product([groups, list(themes["theme"])], names=[key, "theme"])
    out = num.reindex(grid).fillna(0).astype("int64").reset_index()
    out = out.merge(den.reindex(groups).fillna(0).astype("int64"), left_on=key, right_index=True)
    coded = out["transcripts_total"]
    total = out[key].map(every)
    out["status"] = [_status(int(k), int(n)) for k, n in zip(coded, total)]
    out["transcripts_not_coded"] = (total - coded).astype("int64")
    for col in COUNT_COLUMNS:
        out[col] = out[col].astype("Int64").mask((coded == 0) & (total > 0))
    return out


def _site_value(values: Iterable[str]) -> str:
    """A site's value of a group over its transcripts: one value, or the waves' values joined by |."""
    return "|".join(dict.fromkeys(v for v in values if v != ""))


def theme_matrix(codings: pd.DataFrame, themes: pd.DataFrame, sites: pd.DataFrame,
                 turns: pd.DataFrame, groups: Sequence[Group] = (),
                 transcripts: pd.DataFrame | None = None, waves: Sequence[str] = (),
                 counted: pd.DataFrame | None = None, count: str = "primary") -> pd.DataFrame:
    """Theme x site, x comparison group, x wave and over all sites: coded units, mentions, rates.

    Rows (``matrix_columns(groups)``) are theme-major in codebook order; within a theme the sites in
    sites.tsv order (``level=site``), then each group's values in declared order (``level`` = the
    group id, ``name`` = the value), then the waves in order (``level=wave``, ``name`` = the wave id;
    only when the study has waves) and the all-sites row (``level=all``). ``*_total`` columns are the
    denominators: English transcripts, and participants who speak in them, of the row's scope.
    A theme nobody coded still has its rows, with zeros, so absence is visible.

    ``transcripts`` (``design.transcript_groups``) gives each transcript's wave and group values, so a
    per-wave group (income at each wave's date) puts each transcript where it was at its wave; without
    it a group's value is the site's, from the ``sites`` column of the group's id. A site row's group
    column holds the site's value, or its waves' values joined by ``|`` when they differ.

    ``counted`` (``counting.counted_coders``: the coded transcripts and each one's counted coder)
    decides what counts: only its transcripts are in the denominators, and with ``count="primary"``
    only its counted coder's codings are units (``"union"``: every coder's). A row whose scope has no
    coded transcript has ``status`` "not coded" and empty counts; ``focus_groups_*``, ``fg_*``,
    ``interviews_*`` and ``interviewees*`` split the denominators by transcript kind, as Table 2
    counts focus groups. Without ``counted`` every transcript is coded and every coding counts.
    """
    if "participant" not in turns.columns or "words" not in turns.columns:
        turns = _prepare_turns(turns)
    units, coded = counted_codings(coded_units(codings, themes, sites, turns), counted, count)  # all checked
    stray = turns[~turns["site"].isin(set(sites["site"]))].drop_duplicates("site")
    raise_if([Problem(r.src_file or r.site, None, f"site {r.site!r} is not in config/sites.tsv: add it "
                                               "or remove its transcripts") for r in stray.itertuples()])
    name_of = dict(zip(sites["site"], sites["name"]))
    site_ids = list(sites["site"])
    gids = [g.id for g in groups]
    if transcripts is None:
        tids = list(dict.fromkeys(turns["transcript"]))
        transcripts = pd.DataFrame({"transcript": tids, "site": [t.split(".", 1)[0] for t in tids], "wave": ""})
        for g in gids:
            transcripts[g] = transcripts["site"].map(dict(zip(sites["site"], sites[g])))
    tg = transcripts.set_index("transcript")

    def tag(frame: pd.DataFrame) -> pd.DataFrame:
        extra = {g: frame["transcript"].map(tg[g]).fillna("") for g in gids}
        return frame.assign(person=frame["site"] + ":" + frame["speaker"], all=ALL_NAME,
                            wave=frame["transcript"].map(tg["wave"]).fillna(""),
                            kind=frame["transcript"].map(transcript_kind),
                            coded=frame["transcript"].isin(coded) if coded is not None else True, **extra)

    u, parts = tag(units), tag(turns)
    site_value = {g: {s: _site_value(transcripts.loc[transcripts["site"] == s, g]) or
                      _site_value(sites.loc[sites["site"] == s, g] if g in sites.columns else [])
                      for s in site_ids} for g in gids}

    frames = []
    by_site = _grouped(u, parts, "site", site_ids, themes)
    frames.append(by_site.assign(level="site", name=by_site["site"].map(name_of),
                                 _g=by_site["site"].map(site_ids.index),
                                 **{g: by_site["site"].map(site_value[g]) for g in gids}))
    offset = len(site_ids)
    for g in groups:
        values = _value_order(g, transcripts[g.id])
        by_g = _grouped(u, parts, g.id, values, themes)
        frames.append(by_g.assign(level=g.id, site="", name=by_g[g.id], _g=by_g[g.id].map(values.index) + offset,
                                  **{o: "" for o in gids if o != g.id}))
        offset += len(values)
    if waves:
        by_w = _grouped(u, parts, "wave", list(waves), themes)
        frames.append(by_w.assign(level="wave", site="", name=by_w["wave"], _g=by_w["wave"].map(list(waves).index)
                                  + offset, **{o: "" for o in gids}).drop(columns="wave"))
        offset += len(waves)
    by_all = _grouped(u, parts, "all", [ALL_NAME], themes)
    frames.append(by_all.assign(level="all", site="", name=ALL_NAME, _g=offset,
                                **{o: "" for o in gids}).drop(columns="all"))

    out = pd.concat(frames, ignore_index=True).merge(themes[["theme", "theme_number", "theme_label"]], on="theme")
    w = out["participant_words"].astype("float64")
    words = w.where(w > 0)   # NaN: no words (or not coded), no rate
    out["units_per_1000_words"] = (out["coded_units"].astype("float64") * 1000.0 / words).round(3)
    out = out.sort_values(["theme_number", "_g"], kind="stable")
    return out[matrix_columns(groups)].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# quotes
# --------------------------------------------------------------------------------------------

def _merge_spans(spans: Sequence[tuple[int, int, str, str]]) -> list[tuple[int, int, set[str], set[str]]]:
    """Merge overlapping [start, end) spans; keep which coders and codes each merged span came from."""
    merged: list[tuple[int, int, set[str], set[str]]] = []
    for s, e, coder, code in sorted(spans):
        if merged and s < merged[-1][1]:
            ps, pe, coders, codes = merged[-1]
            merged[-1] = (ps, max(pe, e), coders | {coder}, codes | {code})
        else:
            merged.append((s, e, {coder}, {code}))
    return merged


def _collapse(text: str) -> str:
    return " ".join(text.split())


def quotes(codings: pd.DataFrame, themes: pd.DataFrame, sites: pd.DataFrame, people: list[Person],
           turns: pd.DataFrame, min_chars: int = 40, roster_path: str = "roster",
           role_names: dict[str, str] | None = None, counted: pd.DataFrame | None = None,
           count: str = "primary") -> pd.DataFrame:
    """One row per quote: overlapping coded spans of a turn and theme merged across coders.

    A span is the coder's start/end within the turn text (the whole turn without offsets); spans
    whose text (whitespace collapsed) is shorter than ``min_chars`` are skipped before merging, so
    a stray short selection neither becomes a quote nor stretches another. Rows are in codebook
    theme order, then sites.tsv order, transcript order (FG2 before FG10), turn and offset. The
    attribution comes from the roster: participant number, site name and the person's description
    (the roster's label, else the role's short name from ``role_names``: config ``roles``).
    ``counted``/``count``: the codings that count, as in :func:`theme_matrix` (the same rule).
    """
    role_names = ROLE_LABELS if role_names is None else role_names
    if "participant" not in turns.columns or "words" not in turns.columns:
        turns = _prepare_turns(turns)
    units, _coded = counted_codings(coded_units(codings, themes, sites, turns), counted, count)
    units = units[[len(_collapse(t[s:e])) >= min_chars
                   for t, s, e in zip(units["text"], units["start"], units["end"])]]
    person = {(p.site, p.code): p for p in people}
    name_of = dict(zip(sites["site"], sites["name"]))
    missing = sorted({(s, sp) for s, sp in zip(units["site"], units["speaker"]) if (s, sp) not in person})
    raise_if([Problem(str(roster_path), None, f"speaker {sp} of {s} is in the pseudonymised transcripts but "
                                      "not in the roster: the roster changed since pseudonymisation; "
                                      "re-run the workflow") for s, sp in missing])
    rows = []
    # Groups of (theme, transcript, turn) in order of first appearance, rows in order (as groupby with
    # sort=False), from plain tuples: a pandas group per turn cost ~2 ms, 21,000 groups at 240 transcripts.
    groups: dict[tuple, list[tuple]] = {}
    for r in zip(units["theme"], units["transcript"], units["turn"], units["text"], units["site"],
                 units["speaker"], units["start"], units["end"], units["coder"], units["code"]):
        groups.setdefault(r[:3], []).append(r)
    for (theme, transcript, turn), g in groups.items():
        text, site, speaker = g[0][3], g[0][4], g[0][5]
        p = person[(site, speaker)]
        for s, e, coders, codes in _merge_spans([r[6:] for r in g]):
            rows.append({"theme": theme, "site": site, "transcript": transcript, "turn": int(turn),
                         "start": int(s), "end": int(e), "text": _collapse(text[s:e]), "speaker": speaker,
                         "participant": int(_PARTICIPANT.match(speaker).group(1)),
                         "site_name": name_of[site],
                         "description": p.label or role_names.get(p.role, p.role),
                         "coders": ", ".join(sorted(coders)), "codes": ", ".join(sorted(codes))})
    q = pd.DataFrame(rows, columns=[c for c in QUOTE_COLUMNS if c != "theme_number"])
    q = q.merge(themes[["theme", "theme_number"]], on="theme")
    site_rank = {s: i for i, s in enumerate(sites["site"])}
    t_rank = transcript_order(t.split(".", 1)[1] for t in q["transcript"])
    q = q.assign(_s=q["site"].map(site_rank), _t=[t_rank[t.split(".", 1)[1]] for t in q["transcript"]])
    q = q.sort_values(["theme_number", "_s", "_t", "turn", "start"], kind="stable")
    return q[QUOTE_COLUMNS].reset_index(drop=True)


def format_quote(row: pd.Series | dict) -> str:
    """``- "text" [#9, Kampala, PSW] (kampala.FG2, turn 14; coders: coder_a, coder_b)``."""
    return (f'- "{row["text"]}" [#{row["participant"]}, {row["site_name"]}, {row["description"]}] '
            f'({row["transcript"]}, turn {row["turn"]}; coders: {row["coders"]})')


def quote_page(site: str, theme: str) -> str:
    """A quote page's path inside results/themes/quotes/: one page per site and theme."""
    return f"{site}/{theme}.md"


def _quotes_intro(min_chars: int, count: str) -> str:
    who = ("each transcript's counted coder (results/themes/transcripts.tsv)" if count == "primary"
           else "every coder of each transcript, overlapping spans of a turn and theme merged")
    return ("Coded spans of participants' turns in the pseudonymised English transcripts, from the codings "
            f"of {who}; spans shorter than {min_chars} characters are left out. Attribution: "
            "[#participant, site, description] (transcript, turn; coders). Generated by qualflow: do not "
            "edit, re-run the workflow.")


def quotes_index(q: pd.DataFrame, themes: pd.DataFrame, sites: pd.DataFrame, status: dict[str, str],
                 min_chars: int = 40, count: str = "primary") -> str:
    """quotes/index.md: per theme (codebook order) a table of sites with their number of quotes and
    a link to the site's page; a site whose transcripts are not coded says so."""
    lines = ["# Quotes by theme", "", _quotes_intro(min_chars, count), "",
             "One page per site and theme (a page per theme would grow with the number of sites; a site's "
             "page grows only with its own transcripts)."]
    n = q.groupby(["theme", "site"]).size().to_dict()
    for th in themes.itertuples():
        lines += ["", f"## {th.theme_number}. {th.theme_label}", ""]
        if th.description:
            lines += [f"*{th.description}*", ""]
        lines += ["| Site | Quotes | Page |", "|---|---:|---|"]
        total = 0
        for site, name in zip(sites["site"], sites["name"]):
            page = quote_page(site, th.theme)
            st = status.get(site, NOT_CODED)
            k = int(n.get((th.theme, site), 0))
            total += k
            shown = NOT_CODED if st in (NOT_CODED, "no transcripts") else str(k)
            if st.startswith("partly"):
                shown += f" ({st})"
            lines.append(f"| {name} | {shown} | [{page}]({page}) |")
        lines.append(f"| All sites | {total} | |")
    return "\n".join(lines) + "\n"


def quotes_page(q: pd.DataFrame, theme: pd.Series | dict, site: str, site_name: str, status: str,
                min_chars: int = 40, count: str = "primary") -> str:
    """One site's quotes of one theme, in transcript order, with the paper's attribution."""
    sub = q[(q["theme"] == theme["theme"]) & (q["site"] == site)]
    lines = [f"# {theme['theme_number']}. {theme['theme_label']}: {site_name}", "",
             f"[All themes and sites](../index.md). {len(sub)} quote(s). {_quotes_intro(min_chars, count)}", ""]
    if status in (NOT_CODED, "no transcripts"):
        lines.append(f"_{site_name}: not coded yet (no coder in results/codes/coverage.tsv)._")
    else:
        if status.startswith("partly"):
            lines += [f"_{site_name}: {status}; the uncoded transcripts are listed in "
                      "results/themes/summary.md._", ""]
        lines += [format_quote(r) for r in sub.to_dict("records")] or ["_No quotes._"]
    return "\n".join(lines) + "\n"


def quotes_pages(q: pd.DataFrame, themes: pd.DataFrame, sites: pd.DataFrame, status: dict[str, str],
                 min_chars: int = 40, count: str = "primary") -> dict[str, str]:
    """Every page of results/themes/quotes/ by its relative path: ``index.md`` and the site pages."""
    pages = {"index.md": quotes_index(q, themes, sites, status, min_chars, count)}
    for th in themes.to_dict("records"):
        for site, name in zip(sites["site"], sites["name"]):
            pages[quote_page(site, th["theme"])] = quotes_page(q, th, site, name, status.get(site, NOT_CODED),
                                                               min_chars, count)
    return pages


# --------------------------------------------------------------------------------------------
# which transcripts count
# --------------------------------------------------------------------------------------------

def transcript_table(turns: pd.DataFrame, counted: pd.DataFrame, sites: pd.DataFrame,
                     tg: pd.DataFrame | None = None, groups: Sequence[Group] = ()) -> pd.DataFrame:
    """results/themes/transcripts.tsv: every English transcript, coded or not, its counted coder
    and what it adds to the denominators (participants who speak, their words)."""
    if "participant" not in turns.columns or "words" not in turns.columns:
        turns = _prepare_turns(turns)
    gids = [g.id for g in groups]
    by = counted.set_index("transcript")
    speak = turns[turns["participant"]]
    n_people = speak.groupby("transcript")["speaker"].nunique()
    words = turns.groupby("transcript")["words"].sum()
    site_rank = {s: i for i, s in enumerate(sites["site"])}
    tids = list(dict.fromkeys(turns["transcript"]))
    rank = transcript_order(t.split(".", 1)[1] for t in tids)
    tids.sort(key=lambda t: (site_rank.get(t.split(".", 1)[0], len(site_rank)), rank[t.split(".", 1)[1]]))
    rows = []
    for t in tids:
        coded = t in by.index
        rec = {"site": t.split(".", 1)[0], "transcript": t, "kind": transcript_kind(t),
               "wave": str(tg.loc[t, "wave"]) if tg is not None and t in tg.index else "",
               **{g: str(tg.loc[t, g]) if tg is not None and t in tg.index else "" for g in gids},
               "status": "coded" if coded else NOT_CODED,
               "coders": by.loc[t, "coders"] if coded else "",
               "counted_coder": by.loc[t, "counted_coder"] if coded else "",
               "counted_by": by.loc[t, "counted_by"] if coded else "",
               "participants": int(n_people.get(t, 0)), "participant_words": int(words.get(t, 0))}
        rows.append(rec)
    cols = TRANSCRIPT_COLUMNS[:4] + gids + TRANSCRIPT_COLUMNS[4:]
    return pd.DataFrame(rows, columns=cols)


def site_status(table: pd.DataFrame, sites: pd.DataFrame) -> dict[str, str]:
    """Each site's status over its transcripts: coded, not coded, partly coded (k of n)."""
    out = {}
    for s in sites["site"]:
        t = table[table["site"] == s]
        out[s] = _status(int((t["status"] == "coded").sum()), len(t))
    return out


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def summary_markdown(table: pd.DataFrame, people_by_kind: dict[str, int], count: str, lead: str) -> str:
    """results/themes/summary.md: what the theme counts count, and which transcripts are not coded."""
    c = table[table["status"] == "coded"]
    missing = table[table["status"] != "coded"]
    den = []
    for kind, who, what in ((KINDS["FG"], "focus-group participant", "focus group"),
                            (KINDS["INT"], "interviewee", "interview"), ("other", "participant", "other transcript")):
        k = c[c["kind"] == kind]
        if len(k):
            den.append(f"{_plural(people_by_kind.get(kind, 0), who)} in {_plural(len(k), what)}")
    by = c["counted_by"].str.replace(r" \(.*\)$", "", regex=True).value_counts()
    rule = ("each transcript counts from one coder's codings, its counted coder: the coder marked primary in "
            "the coding assignments table, else the lead coder (who coded most transcripts; ties by coder id)"
            + (f", {lead}," if lead else "") + " where they coded it, else the first coder by id who did"
            if count == "primary" else
            "every coder's codings count (themes: count: union): a double-coded transcript adds the union "
            "of its coders' codings")
    lines = ["# Themes: what is counted", "",
             f"- **Counted codings:** {rule}. Agreement (results/agreement/) compares coders and uses every coder.",
             f"- **Counted coders:** " + (", ".join(f"{n} transcript(s) by {how}" for how, n in by.items()) or "none")
             + "; per transcript in `results/themes/transcripts.tsv`.",
             f"- **Denominators:** {' and '.join(den) if den else 'no coded transcript'} (coded transcripts; "
             "participants who speak, distinct per site). The group figures draw focus-group participants and "
             "interviewees in separate panels.",
             ]
    if len(missing):
        lines.append(f"- **Not coded ({len(missing)} transcript(s), left out of every denominator and shown "
                     f"as \"not coded\", not as zero):** {', '.join(missing['transcript'])}.")
    else:
        lines.append("- **Not coded:** none; every transcript has a coder in results/codes/coverage.tsv.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def write_themes(codings: str | Path, themes: str | Path, sites: str | Path, roster: str | Path,
                 turns: Sequence[str | Path], quote_min_chars: int, matrix_out: str | Path,
                 quotes_dir: str | Path, design: dict | None = None, coverage: str | Path | None = None,
                 assignments: str | Path | None = None, count: str = "primary",
                 transcripts_out: str | Path | None = None, summary_out: str | Path | None = None,
                 quote_pages: Sequence[str | Path] | None = None) -> None:
    """Read the stage's inputs, check them all, then write the matrix, the transcripts table, the
    summary and the quote pages (``quotes_dir``/index.md and ``<site>/<theme>.md``).

    ``design`` is the study's design as rule params (``design.design_params``): groups, waves, roles.
    ``coverage`` (results/codes/coverage.tsv) says which transcripts are coded and by whom;
    ``assignments`` (data/coding_assignments.tsv, optional) marks primary coders; ``count`` is
    config ``themes: count``. ``quote_pages``: the page paths the rule declares, checked against ours.
    """
    site_df = read_sites(sites)
    people = read_roster(roster, site_df)
    theme_df = read_themes(themes)
    codings_df = read_codings(codings)
    turn_df = read_turns(turns)
    d = design_from_params(design)
    tg = transcript_groups(design, turn_df["transcript"])
    if coverage is not None:
        cov = read_coverage(coverage)
        table = read_assignments(assignments)
        counted, problems = counted_coders(cov, table, str(assignments or "data/coding_assignments.tsv"))
        raise_if(problems)
    else:
        cov = pd.DataFrame({"site": codings_df["site"], "transcript": codings_df["transcript"],
                            "coder": codings_df["coder"]}).drop_duplicates()
        counted, _p = counted_coders(cov)
    matrix = theme_matrix(codings_df, theme_df, site_df, turn_df, d.groups, tg, d.wave_ids, counted, count)
    q = quotes(codings_df, theme_df, site_df, people, turn_df, int(quote_min_chars), str(roster),
               {r.id: r.short for r in d.roles}, counted, count)
    ttable = transcript_table(turn_df, counted, site_df, tg.set_index("transcript"), d.groups)
    status = site_status(ttable, site_df)
    pages = quotes_pages(q, theme_df, site_df, status, int(quote_min_chars), count)
    qdir = Path(quotes_dir)
    if quote_pages is not None:
        declared = {Path(p).relative_to(qdir).as_posix() for p in map(Path, quote_pages)} | {"index.md"}
        if declared != set(pages):
            raise ValueError(f"the rule declares {len(declared)} quote pages, the themes are {len(pages)}: "
                             f"{sorted(declared ^ set(pages))[:5]}")
    coded_t = set(counted["transcript"])
    speak = turn_df[turn_df["participant"] & turn_df["transcript"].isin(coded_t)]
    speak = speak.assign(kind=speak["transcript"].map(transcript_kind))
    people_by_kind = (speak.assign(person=speak["site"] + ":" + speak["speaker"])
                      .groupby("kind")["person"].nunique().to_dict())
    missing = list(ttable.loc[ttable["status"] != "coded", "transcript"])
    if missing:
        log.warning("themes: %d transcript(s) have no coder in results/codes/coverage.tsv and are left out of "
                    "every theme denominator (shown as \"not coded\"): %s", len(missing), ", ".join(missing))
    write_tsv(matrix, matrix_out)
    if transcripts_out:
        write_tsv(ttable, transcripts_out)
    if summary_out:
        write_text(summary_markdown(ttable, people_by_kind, count, lead_coder(cov)), summary_out)
    for rel, text in pages.items():
        write_text(text, qdir / rel)
    themed = int((codings_df["theme"].astype(str).str.strip() != "").sum())
    log.info("themes: %d themes, %d sites, %d of %d transcripts coded (count: %s); %d themed coded spans; "
             "%d quotes on %d pages (largest %d bytes)", len(theme_df), len(site_df), len(coded_t),
             len(ttable), count, themed, len(q), len(pages), max(len(t.encode()) for t in pages.values()))
