"""The participant tables from the roster (Table 2 of the paper; by wave for a waved study), and the
roster/transcript cross-check.

Table 2 counts focus-group participants: a roster person (not a facilitator) who is listed for at least
one focus-group transcript of the site. Interviewees who took part in no focus group are not counted,
as in the paper ("Focus group participants (n=86)"; Kampala's three interviews are reported apart).
Its role columns are the study's roles (config ``roles``; by default the paper's four).

A study with waves also gets the participant table by site and wave (``participants.tsv``): per site,
one row per wave (the focus-group participants of that wave's transcripts) and one row for all waves
(distinct persons: a returning participant has one roster row and counts once), with how many
attended more than one wave; then the same rows over all sites.
"""
from __future__ import annotations

import pandas as pd

from .design import Design, Role, design_from_params
from .study import Person, SpeakerIndex
from .tables import html_text

ROLE_COLUMNS = ["psw", "mh_worker", "mh_manager", "policy_maker"]   #: the default roles' ids
COLUMNS = ["site", "focus_groups", "n", *ROLE_COLUMNS, "male", "female"]
HEADERS = {
    "site": "Site", "wave": "Wave", "focus_groups": "Focus groups", "n": "n",
    "returning": "Attended more than one wave",
    "psw": "Potential or actual PSW", "mh_worker": "Mental health worker",
    "mh_manager": "Mental health manager", "policy_maker": "Policy-maker",
    "male": "Male", "female": "Female", "other": "Other gender", "not_recorded": "Gender not recorded",
}
GENDERS = ("male", "female", "other", "not_recorded")
ALL_WAVES = "all"   #: the ``wave`` of the all-waves (distinct persons) rows


def _roles(roles: list[Role] | None) -> list[Role]:
    return list(roles) if roles is not None else list(design_from_params(None).participant_roles)


def _genders(people: list[Person]) -> list[str]:
    """Male and female always; other and not_recorded only when the roster uses them."""
    return ["male", "female"] + [g for g in ("other", "not_recorded") if any(p.gender == g for p in people)]


def _counts(members: list[Person], roles: list[Role], genders: list[str]) -> dict:
    row = {r.id: sum(p.role == r.id for p in members) for r in roles}
    row.update({g: sum(p.gender == g for p in members) for g in genders})
    return row


def table2(sites: pd.DataFrame, people: list[Person], transcripts: pd.DataFrame,
           roles: list[Role] | None = None) -> pd.DataFrame:
    """Count focus groups, participants by role and by gender per site (sites.tsv order), then Total.

    ``transcripts`` has one row per transcript file: site, transcript, kind (only kind matters here).
    ``roles`` are the participant roles, in column order (default: the paper's four).
    Extra gender columns (other, not_recorded) appear only when the roster uses them.
    """
    roles = _roles(roles)
    fg = transcripts[transcripts["kind"] == "focus_group"].drop_duplicates(["site", "transcript"])
    fg_ids = {(r.site, r.transcript) for r in fg.itertuples()}
    rows = []
    genders = _genders(people)
    for site in sites.itertuples():
        members = [p for p in people if p.site == site.site and not p.is_facilitator
                   and any((p.site, t) in fg_ids for t in p.transcripts)]
        row = {"site": site.name, "focus_groups": sum(1 for s, _ in fg_ids if s == site.site),
               "n": len(members)}
        row.update(_counts(members, roles, genders))
        rows.append(row)
    df = pd.DataFrame(rows, columns=["site", "focus_groups", "n", *(r.id for r in roles), *genders])
    total = {c: int(df[c].sum()) for c in df.columns if c != "site"}
    total["site"] = "Total"
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


def participants_by_wave(sites: pd.DataFrame, people: list[Person], transcripts: pd.DataFrame,
                         design: Design) -> pd.DataFrame:
    """The participant table of a waved study: per site one row per wave and one for all waves.

    ``transcripts``: site, transcript, kind, wave (one row per transcript file). A person is at a
    wave when listed for a focus-group transcript of that wave. A wave row counts the focus groups
    and participants of that wave (``returning``: those of them who attend another wave too); the
    ``all`` row counts distinct persons over the waves (``returning``: attended more than one). The
    Total rows do the same over all sites. Roles and genders as in Table 2.
    """
    roles = list(design.participant_roles)
    genders = _genders(people)
    fg = transcripts[transcripts["kind"] == "focus_group"].drop_duplicates(["site", "transcript"])
    wave_of = {(r.site, r.transcript): str(r.wave) for r in fg.itertuples()}
    waves = design.wave_ids

    def waves_of(p: Person) -> set[str]:
        return {wave_of[(p.site, t)] for t in p.transcripts if (p.site, t) in wave_of}

    members = [p for p in people if not p.is_facilitator and waves_of(p)]
    rows = []
    for site, name in [*zip(sites["site"], sites["name"]), (None, "Total")]:
        here = [p for p in members if site is None or p.site == site]
        fgs = [k for k in wave_of if site is None or k[0] == site]
        for w in [*waves, ALL_WAVES]:
            at = here if w == ALL_WAVES else [p for p in here if w in waves_of(p)]
            row = {"site": name, "wave": w,
                   "focus_groups": sum(1 for k in fgs if w == ALL_WAVES or wave_of[k] == w),
                   "n": len(at), "returning": sum(len(waves_of(p)) > 1 for p in at)}
            row.update(_counts(at, roles, genders))
            rows.append(row)
    cols = ["site", "wave", "focus_groups", "n", "returning", *(r.id for r in roles), *genders]
    return pd.DataFrame(rows, columns=cols)


def silent_participants(people: list[Person], speakers: pd.DataFrame) -> list[Person]:
    """Roster participants listed for a transcript in which they never speak (a warning, not an error).

    ``speakers`` has columns site, transcript, speaker (raw labels from the parsed turn tables).
    """
    index = SpeakerIndex(people)
    spoke: set[tuple[str, str, str]] = set()
    for r in speakers.drop_duplicates().itertuples():
        p = index.resolve(r.site, r.speaker)
        if p is not None:
            spoke.add((p.site, p.participant, r.transcript))
    present = set(zip(speakers["site"], speakers["transcript"]))
    return [p for p in people if any((p.site, t) in present and (p.site, p.participant, t) not in spoke
                                     for t in p.transcripts)]


def _headers(roles: list[Role] | None, waves: int = 0) -> dict[str, str]:
    """Column headers: the roles' labels (config) over the defaults."""
    h = dict(HEADERS)
    if roles is not None:
        h.update({r.id: r.label for r in roles})
    if waves == 2:
        h["returning"] = "Attended both waves"
    return h


def _cells(df: pd.DataFrame, wave_labels: dict[str, str] | None) -> list[list[str]]:
    """The table's cells as text; wave ids shown as their labels."""
    out = []
    for row in df.to_dict("records"):
        if wave_labels is not None and "wave" in row:
            row["wave"] = wave_labels.get(row["wave"], row["wave"])
        out.append([str(v) for v in row.values()])
    return out


def to_markdown(df: pd.DataFrame, caption: str, roles: list[Role] | None = None,
                wave_labels: dict[str, str] | None = None, note: str = "PSW, peer support worker.") -> str:
    """A pipe table that pastes into a manuscript (Word, Google Docs, pandoc)."""
    cols = list(df.columns)
    heads = _headers(roles, len(wave_labels or {}) - 1)
    left = ("site", "wave")
    lines = [f"**{caption}**", "", "| " + " | ".join(heads.get(c, c) for c in cols) + " |",
             "|" + "|".join(":---" if c in left else "---:" for c in cols) + "|"]
    for cells in _cells(df, wave_labels):
        if cells[0] == "Total":
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", note]
    return "\n".join(lines) + "\n"


def to_html(df: pd.DataFrame, caption: str, roles: list[Role] | None = None,
            wave_labels: dict[str, str] | None = None, note: str = "PSW, peer support worker.") -> str:
    """A standalone HTML table with the paper's two-level header (Participant, Gender)."""
    cols = list(df.columns)
    heads = _headers(roles, len(wave_labels or {}) - 1)
    gender_cols = [c for c in cols if c in GENDERS]
    lead = [c for c in cols if c in ("site", "wave", "focus_groups", "n", "returning")]
    role_cols = [c for c in cols if c not in lead and c not in gender_cols]
    esc = html_text
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{esc(caption)}</title>",
           "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
           "th,td{padding:4px 10px;border-bottom:1px solid #999}td{text-align:right}"
           "td:first-child,th:first-child{text-align:left}tr.total td{font-weight:bold;border-top:2px solid #000}"
           "</style></head><body>", "<table>", f"<caption>{esc(caption)}</caption>", "<thead>",
           "<tr>" + "".join(f"<th rowspan=\"2\">{esc(heads[c])}</th>" for c in lead)
           + f"<th colspan=\"{len(role_cols)}\">Participant</th><th colspan=\"{len(gender_cols)}\">Gender</th></tr>",
           "<tr>" + "".join(f"<th>{esc(heads.get(c, c))}</th>" for c in role_cols + gender_cols) + "</tr>",
           "</thead><tbody>"]
    for cells in _cells(df, wave_labels):
        cls = " class=\"total\"" if cells[0] == "Total" else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{esc(v)}</td>" for v in cells) + "</tr>")
    out += ["</tbody></table>", f"<p>{esc(note)}</p>", "</body></html>"]
    return "\n".join(out) + "\n"


CAPTION = "Table 2. Focus group participants"
WAVE_CAPTION = "Focus group participants by site and wave"


def write_table2(sites_path: str, roster_path: str, speaker_paths: list[str], output,
                 design: dict | None = None) -> pd.DataFrame:
    """Read inputs, warn about roster participants who never speak, write Table 2 as TSV, MD, HTML;
    for a study with waves also the table by site and wave (``output.waves_tsv``/``_md``/``_html``).

    ``speaker_paths``: each site's ``restricted/inputs/<site>/speakers.tsv`` (written at load,
    ``validate.write_site_speakers``): transcript, lang, kind, wave and speaker label per file.
    ``design``: the study's design as rule params (``design.design_params``): roles and waves.
    """
    import logging
    from pathlib import Path

    from .study import read_roster, read_sites
    from .tables import read_results_tsv, write_text, write_tsv

    log = logging.getLogger("qualflow.participants")
    sites = read_sites(sites_path)
    people = read_roster(roster_path, sites)
    files = pd.concat([read_results_tsv(p).assign(site=Path(p).parent.name) for p in speaker_paths],
                      ignore_index=True)
    transcripts = files.drop_duplicates(["site", "transcript", "lang"])[["site", "transcript", "lang", "kind", "wave"]]
    speakers = files.loc[files["speaker"] != "", ["site", "transcript", "speaker"]]
    for p in silent_participants(people, speakers):
        log.warning("roster line %d: participant %s of %s is listed for %s but never speaks in it",
                    p.line, p.participant, p.site, "|".join(p.transcripts))
    d = design_from_params(design)
    roles = list(d.participant_roles)
    df = table2(sites, people, transcripts, roles)
    n = int(df.loc[df["site"] == "Total", "n"].iloc[0])
    caption = f"{CAPTION} (n={n})"
    write_tsv(df, output.tsv)
    write_text(to_markdown(df, caption, roles), output.md)
    write_text(to_html(df, caption, roles), output.html)
    log.info("Table 2: %d sites, %d focus groups, %d participants", len(df) - 1,
             int(df.loc[df['site'] == 'Total', 'focus_groups'].iloc[0]), n)
    if d.waves:
        by_wave = participants_by_wave(sites, people, transcripts, d)
        labels = {w.id: w.label for w in d.waves} | {ALL_WAVES: "All waves (distinct persons)"}
        total = by_wave[by_wave["site"] == "Total"].set_index("wave")
        caption = (f"{WAVE_CAPTION} (" + ", ".join(f"{w.label}: n={int(total.at[w.id, 'n'])}" for w in d.waves)
                   + f"; {int(total.at[ALL_WAVES, 'n'])} distinct)")
        note = ("n: participants at the wave; in the all-waves rows, distinct persons (a returning "
                "participant counts once). PSW, peer support worker.")
        write_tsv(by_wave, output.waves_tsv)
        write_text(to_markdown(by_wave, caption, roles, labels, note), output.waves_md)
        write_text(to_html(by_wave, caption, roles, labels, note), output.waves_html)
        log.info("participants by wave: %s; %d distinct, %d in more than one wave",
                 ", ".join(f"{w}={int(total.at[w, 'n'])}" for w in d.wave_ids),
                 int(total.at[ALL_WAVES, "n"]), int(total.at[ALL_WAVES, "returning"]))
    return df
