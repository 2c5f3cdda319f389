"""The participant table (Table 2 of the paper) from the roster, and the roster/transcript cross-check.

Table 2 counts focus-group participants: a roster person (not a facilitator) who is listed for at least
one focus-group transcript of the site. Interviewees who took part in no focus group are not counted,
as in the paper ("Focus group participants (n=86)"; Kampala's three interviews are reported apart).
"""
from __future__ import annotations

import html

import pandas as pd

from .study import Person, SpeakerIndex

ROLE_COLUMNS = ["psw", "mh_worker", "mh_manager", "policy_maker"]
COLUMNS = ["site", "focus_groups", "n", *ROLE_COLUMNS, "male", "female"]
HEADERS = {
    "site": "Site", "focus_groups": "Focus groups", "n": "n",
    "psw": "Potential or actual PSW", "mh_worker": "Mental health worker",
    "mh_manager": "Mental health manager", "policy_maker": "Policy-maker",
    "male": "Male", "female": "Female", "other": "Other gender", "not_recorded": "Gender not recorded",
}


def table2(sites: pd.DataFrame, people: list[Person], transcripts: pd.DataFrame) -> pd.DataFrame:
    """Count focus groups, participants by role and by gender per site (sites.tsv order), then Total.

    ``transcripts`` has one row per transcript file: site, transcript, kind (only kind matters here).
    Extra gender columns (other, not_recorded) appear only when the roster uses them.
    """
    fg = transcripts[transcripts["kind"] == "focus_group"].drop_duplicates(["site", "transcript"])
    fg_ids = {(r.site, r.transcript) for r in fg.itertuples()}
    rows = []
    genders = ["male", "female"] + [g for g in ("other", "not_recorded")
                                    if any(p.gender == g for p in people)]
    for site in sites.itertuples():
        members = [p for p in people if p.site == site.site and not p.is_facilitator
                   and any((p.site, t) in fg_ids for t in p.transcripts)]
        row = {"site": site.name, "focus_groups": sum(1 for s, _ in fg_ids if s == site.site),
               "n": len(members)}
        row.update({r: sum(p.role == r for p in members) for r in ROLE_COLUMNS})
        row.update({g: sum(p.gender == g for p in members) for g in genders})
        rows.append(row)
    df = pd.DataFrame(rows, columns=COLUMNS[:-2] + genders)
    total = {c: int(df[c].sum()) for c in df.columns if c != "site"}
    total["site"] = "Total"
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


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


def to_markdown(df: pd.DataFrame, caption: str) -> str:
    """A pipe table that pastes into a manuscript (Word, Google Docs, pandoc)."""
    cols = list(df.columns)
    lines = [f"**{caption}**", "", "| " + " | ".join(HEADERS.get(c, c) for c in cols) + " |",
             "|" + "|".join(":---" if c == "site" else "---:" for c in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = [str(v) for v in row]
        if cells[0] == "Total":
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "PSW, peer support worker."]
    return "\n".join(lines) + "\n"


def to_html(df: pd.DataFrame, caption: str) -> str:
    """A standalone HTML table with the paper's two-level header (Participant, Gender)."""
    cols = list(df.columns)
    gender_cols = [c for c in cols if c in ("male", "female", "other", "not_recorded")]
    esc = html.escape
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{esc(caption)}</title>",
           "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
           "th,td{padding:4px 10px;border-bottom:1px solid #999}td{text-align:right}"
           "td:first-child,th:first-child{text-align:left}tr.total td{font-weight:bold;border-top:2px solid #000}"
           "</style></head><body>", "<table>", f"<caption>{esc(caption)}</caption>", "<thead>",
           "<tr><th rowspan=\"2\">Site</th><th rowspan=\"2\">Focus groups</th><th rowspan=\"2\">n</th>"
           f"<th colspan=\"{len(ROLE_COLUMNS)}\">Participant</th><th colspan=\"{len(gender_cols)}\">Gender</th></tr>",
           "<tr>" + "".join(f"<th>{esc(HEADERS[c])}</th>" for c in ROLE_COLUMNS + gender_cols) + "</tr>",
           "</thead><tbody>"]
    for row in df.itertuples(index=False):
        cls = " class=\"total\"" if row[0] == "Total" else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>")
    out += ["</tbody></table>", "<p>PSW, peer support worker.</p>", "</body></html>"]
    return "\n".join(out) + "\n"


CAPTION = "Table 2. Focus group participants"


def write_table2(sites_path: str, roster_path: str, index_paths: list[str], turn_paths: list[str],
                 output) -> pd.DataFrame:
    """Read inputs, warn about roster participants who never speak, write Table 2 as TSV, MD, HTML."""
    import logging
    from pathlib import Path

    from .study import read_roster, read_sites
    from .tables import read_results_tsv, write_text, write_tsv

    log = logging.getLogger("qualflow.participants")
    sites = read_sites(sites_path)
    people = read_roster(roster_path, sites)
    transcripts = pd.concat([read_results_tsv(p).assign(site=Path(p).parent.name) for p in index_paths])
    speakers = []
    for path in turn_paths:
        turns = read_results_tsv(path)
        speakers.append(pd.DataFrame({"site": Path(path).parent.name,
                                      "transcript": Path(path).name.split(".")[0],
                                      "speaker": turns.loc[turns["kind"] == "speech", "speaker"]}))
    for p in silent_participants(people, pd.concat(speakers)):
        log.warning("roster line %d: participant %s of %s is listed for %s but never speaks in it",
                    p.line, p.participant, p.site, "|".join(p.transcripts))
    df = table2(sites, people, transcripts)
    n = int(df.loc[df["site"] == "Total", "n"].iloc[0])
    caption = f"{CAPTION} (n={n})"
    write_tsv(df, output.tsv)
    write_text(to_markdown(df, caption), output.md)
    write_text(to_html(df, caption), output.html)
    log.info("Table 2: %d sites, %d focus groups, %d participants", len(df) - 1,
             int(df.loc[df['site'] == 'Total', 'focus_groups'].iloc[0]), n)
    return df
