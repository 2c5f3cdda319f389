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

from .design import Group, design_from_params, transcript_groups
from .errors import InputError, Problem, raise_if
from .study import ROLE_LABELS, Person, read_roster, read_sites
from .tables import read_results_tsv, write_text, write_tsv

log = logging.getLogger("qualflow.themes")

__all__ = [
    "MATRIX_COLUMNS", "matrix_columns", "read_themes", "read_codings", "read_turns", "word_count",
    "transcript_order", "coded_units", "theme_matrix", "quotes", "quotes_markdown",
    "write_themes",
]

ALL_NAME = "All sites"
#: The matrix's columns; the comparison groups' columns (config ``groups``) follow ``name``.
MATRIX_COLUMNS = [
    "level", "site", "name", "theme_number", "theme", "theme_label", "coded_units",
    "transcripts", "transcripts_total", "participants", "participants_total", "participant_words",
    "units_per_1000_words",
]


def matrix_columns(groups: Sequence[Group] = ()) -> list[str]:
    """MATRIX_COLUMNS with one column per comparison group after ``name`` (e.g. ``setting``)."""
    return MATRIX_COLUMNS[:3] + [g.id for g in groups] + MATRIX_COLUMNS[3:]
QUOTE_COLUMNS = ["theme", "theme_number", "site", "transcript", "turn", "start", "end", "text",
                 "speaker", "participant", "site_name", "description", "coders", "codes"]
CODING_COLUMNS = ["site", "transcript", "turn", "coder", "code", "theme"]
TURN_COLUMNS = ["turn", "speaker", "text", "kind"]
_PARTICIPANT = re.compile(r"^P(\d+)$")
_WORD = re.compile(r"[^\W_]")


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


def word_count(text: str) -> int:
    """Whitespace-separated tokens that hold a letter or digit ("—" and "..." are not words)."""
    return sum(1 for tok in str(text).split() if _WORD.search(tok))


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

def _grouped(units: pd.DataFrame, parts: pd.DataFrame, key: str, groups: list[str],
             themes: pd.DataFrame) -> pd.DataFrame:
    """Counts per (group, theme) for one level; ``key`` names the grouping column."""
    u = units.drop_duplicates(["transcript", "turn", "theme"])
    num = (u.groupby([key, "theme"])
           .agg(coded_units=("turn", "size"), transcripts=("transcript", "nunique"),
                participants=("person", "nunique")))
    den = pd.DataFrame({
        "transcripts_total": parts.groupby(key)["transcript"].nunique(),
        "participants_total": parts[parts["participant"]].groupby(key)["person"].nunique(),
        "participant_words": parts.groupby(key)["words"].sum(),
    })
    grid = pd.MultiIndex.from_product([groups, list(themes["theme"])], names=[key, "theme"])
    out = num.reindex(grid).fillna(0).astype("int64").reset_index()
    out = out.merge(den.reindex(groups).fillna(0).astype("int64"), left_on=key, right_index=True)
    return out


def _site_value(values: Iterable[str]) -> str:
    """A site's value of a group over its transcripts: one value, or the waves' values joined by |."""
    return "|".join(dict.fromkeys(v for v in values if v != ""))


def theme_matrix(codings: pd.DataFrame, themes: pd.DataFrame, sites: pd.DataFrame,
                 turns: pd.DataFrame, groups: Sequence[Group] = (),
                 transcripts: pd.DataFrame | None = None, waves: Sequence[str] = ()) -> pd.DataFrame:
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
    """
    if "participant" not in turns.columns or "words" not in turns.columns:
        turns = _prepare_turns(turns)
    units = coded_units(codings, themes, sites, turns)
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
                            wave=frame["transcript"].map(tg["wave"]).fillna(""), **extra)

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
    words = out["participant_words"].where(out["participant_words"] > 0)   # NaN: no words, no rate
    out["units_per_1000_words"] = (out["coded_units"] * 1000.0 / words).round(3)
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
           role_names: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per quote: overlapping coded spans of a turn and theme merged across coders.

    A span is the coder's start/end within the turn text (the whole turn without offsets); spans
    whose text (whitespace collapsed) is shorter than ``min_chars`` are skipped before merging, so
    a stray short selection neither becomes a quote nor stretches another. Rows are in codebook
    theme order, then sites.tsv order, transcript order (FG2 before FG10), turn and offset. The
    attribution comes from the roster: participant number, site name and the person's description
    (the roster's label, else the role's short name from ``role_names``: config ``roles``).
    """
    role_names = ROLE_LABELS if role_names is None else role_names
    if "participant" not in turns.columns or "words" not in turns.columns:
        turns = _prepare_turns(turns)
    units = coded_units(codings, themes, sites, turns)
    units = units[[len(_collapse(t[s:e])) >= min_chars
                   for t, s, e in zip(units["text"], units["start"], units["end"])]]
    person = {(p.site, p.code): p for p in people}
    name_of = dict(zip(sites["site"], sites["name"]))
    missing = sorted({(s, sp) for s, sp in zip(units["site"], units["speaker"]) if (s, sp) not in person})
    raise_if([Problem(str(roster_path), None, f"speaker {sp} of {s} is in the pseudonymised transcripts but "
                                      "not in the roster: the roster changed since pseudonymisation; "
                                      "re-run the workflow") for s, sp in missing])
    rows = []
    for (theme, transcript, turn), g in units.groupby(["theme", "transcript", "turn"], sort=False):
        text, site, speaker = g["text"].iloc[0], g["site"].iloc[0], g["speaker"].iloc[0]
        p = person[(site, speaker)]
        for s, e, coders, codes in _merge_spans(list(zip(g["start"], g["end"], g["coder"], g["code"]))):
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


def quotes_markdown(q: pd.DataFrame, themes: pd.DataFrame, min_chars: int = 40) -> str:
    """quotes.md: a ``## n. Label`` section per theme in codebook order, one line per quote."""
    lines = [
        "# Quotes by theme",
        "",
        "Coded spans of participants' turns in the pseudonymised English transcripts, per theme in "
        "the codebook's order and in transcript order. Overlapping spans of the same turn and theme "
        f"from different coders are merged into one quote; spans shorter than {min_chars} characters "
        "are left out. Attribution: [#participant, site, description] (transcript, turn; coders). "
        "Generated by qualflow: do not edit, re-run the workflow.",
    ]
    for th in themes.itertuples():
        lines += ["", f"## {th.theme_number}. {th.theme_label}", ""]
        if th.description:
            lines += [f"*{th.description}*", ""]
        sub = q[q["theme"] == th.theme]
        lines += [format_quote(r) for r in sub.to_dict("records")] or ["_No quotes._"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def write_themes(codings: str | Path, themes: str | Path, sites: str | Path, roster: str | Path,
                 turns: Sequence[str | Path], quote_min_chars: int, matrix_out: str | Path,
                 quotes_out: str | Path, design: dict | None = None) -> None:
    """Read the stage's inputs, check them all, then write theme_matrix.tsv and quotes.md.

    ``design`` is the study's design as rule params (``design.design_params``): groups, waves, roles.
    """
    site_df = read_sites(sites)
    people = read_roster(roster, site_df)
    theme_df = read_themes(themes)
    codings_df = read_codings(codings)
    turn_df = read_turns(turns)
    d = design_from_params(design)
    tg = transcript_groups(design, turn_df["transcript"])
    matrix = theme_matrix(codings_df, theme_df, site_df, turn_df, d.groups, tg, d.wave_ids)
    q = quotes(codings_df, theme_df, site_df, people, turn_df, int(quote_min_chars), str(roster),
               {r.id: r.short for r in d.roles})
    text = quotes_markdown(q, theme_df, int(quote_min_chars))
    write_tsv(matrix, matrix_out)
    write_text(text, quotes_out)
    units = coded_units(codings_df, theme_df, site_df, turn_df)
    themed = int((codings_df["theme"].astype(str).str.strip() != "").sum())
    log.info("themes: %d themes, %d sites; %d of %d themed coded spans are on participant turns "
             "(the rest, on facilitator or marker turns, are not units); %d quotes",
             len(theme_df), len(site_df), len(units), themed, len(q))
