"""Stage 8 (themes): theme matrix, quotes.md and the two figures.

The hand-made study below is small enough to count by hand; every expected number in these tests
was worked out on paper from the texts and codings (word counts are written next to each turn).
"""
from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, write
from qualflow import figures, themes as th
from qualflow.design import design_params, load_design
from qualflow.errors import InputError
from qualflow.study import Person, read_sites

# ----------------------------------------------------------------------------------------------
# a hand-made study: three sites, two settings, three themes (T3 never coded)
# ----------------------------------------------------------------------------------------------

SITES_TSV = ("site\tname\tcountry\tincome_group\tsetting\tcare_level\tlanguages\tpsw_experience\n"
             "alpha\tAlphaville\tGermany\thigh\thigh-income\ttertiary\tde\tnone\n"
             "beta\tBetatown\tUganda\tlow\tlow-income\tsecondary\tlg,en\testablished\n"
             "gamma\tGammaburg\tTanzania\tlow\tlow-income\tsecondary\tsw\tnone\n")

#: The comparison group of the hand-made study, declared as a study's config declares it.
GROUPS_CONFIG = {"groups": [{"id": "setting", "label": "Income setting", "values": [
    {"id": "low-income", "label": "Low-income settings", "short": "Low-income"},
    {"id": "high-income", "label": "High-income settings", "short": "High-income"}]}]}
SETTING = load_design(GROUPS_CONFIG).groups[0]


def design_for(sites_path: Path) -> dict:
    """The design rule params of the hand-made study (no waves, the setting group)."""
    return design_params(load_design(GROUPS_CONFIG), read_sites(sites_path), None, {})


THEMES_TSV = ("theme\tlabel\tdescription\tn_codes\n"
              "T1\tCommunity and staff attitudes\tAttitudes towards mental illness.\t1\n"
              "T2\tResource availability\tMoney, transport, facilities.\t0\n"
              "T3\tPeer support network\t\t0\n")

ROSTER_TSV = ("site\ttranscript\tparticipant\tname\taliases\trole\tgender\tlabel\tcase_sensitive\n"
              "alpha\tFG1\t1\tAnna Adler\t\tpsw\tfemale\t\t\n"
              "alpha\tFG1\t2\tBen Berg\t\tmh_worker\tmale\t\t\n"
              "alpha\tFG2\t3\tCarla Cramer\t\tmh_manager\tfemale\tManager\t\n"
              "alpha\tFG1|FG2\tF1\tFrida Falk\t\tfacilitator\tfemale\t\t\n"
              "beta\tFG1\t9\tDenis Dembe\t\tpsw\tmale\t\t\n"
              "beta\tFG1\t12\tEva Ebong\t\tpsw\tfemale\t\t\n"
              "beta\tINT1\t3\tGrace Gulu\t\tpolicy_maker\tfemale\t\t\n"
              "beta\tFG1|INT1\tF1\tIsaac Iga\t\tfacilitator\tmale\t\t\n"
              "gamma\tFG1\t1\tJuma Jengo\t\tmh_worker\tmale\t\t\n"
              "gamma\tFG1\tF1\tKemi Kato\t\tfacilitator\tfemale\t\t\n")

# (turn, speaker, kind, text): participant words in the comment (tokens with a letter or digit)
TURNS = {
    "alpha/FG1": [(1, "F01", "speech", "Welcome. What do you think about peer support?"),
                  (2, "P01", "speech", "Stigma is everywhere in our clinic and doctors do not trust peers."),  # 12
                  (3, "", "marker", "[laughter]"),
                  (4, "P02", "speech", "Money is short — very short."),                                     # 5
                  (5, "P01", "speech", "Some staff call us mad ones, but others welcome us warmly.")],       # 11
    "alpha/FG2": [(1, "F01", "speech", "Next question."),
                  (2, "P03", "speech", "We have no budget for peer workers at [HOSPITAL_01].")],             # 9
    "beta/FG1": [(1, "F01", "speech", "Tell us."),
                 (2, "P09", "speech", "When it comes to class, mental health patients are considered "
                                      "second-hand citizens. So we are marginalised among the\nmarginalised."),  # 19
                 (3, "P12", "speech", "We are rejected at [HOSPITAL_01] and they don't welcome you, "
                                      "they avoid you.")],                                                 # 13
    "beta/INT1": [(1, "F01", "speech", "Tell me."),
                  (2, "P03", "speech", "Peer support workers need more money for transport and airtime "
                                       "every week.")],                                                    # 12
    "gamma/FG1": [(1, "F01", "speech", "Hello."),
                  (2, "P01", "speech", "Nothing to add from me today.")],                                   # 6
}
LOCAL = {"alpha/FG1": "de", "alpha/FG2": "de", "beta/FG1": "lg", "beta/INT1": "lg", "gamma/FG1": "sw"}


def _text(key: str, turn: int) -> str:
    return next(t[3] for t in TURNS[key] if t[0] == turn)


def _span(key: str, turn: int, start_at: str, end_after: str) -> tuple[int, int]:
    text = _text(key, turn)
    s = text.index(start_at)
    return s, text.index(end_after) + len(end_after)


def codings_frame() -> pd.DataFrame:
    b_a = _span("beta/FG1", 2, "When", "citizens.")
    b_b = _span("beta/FG1", 2, "second-hand", "\nmarginalised.")
    a_b = _span("alpha/FG1", 5, "Some", "mad ones")
    rows = [
        # site, transcript, turn, coder, code, theme, start, end
        ("alpha", "alpha.FG1", 1, "coder_a", "c_stigma", "T1", "", ""),          # facilitator: not a unit
        ("alpha", "alpha.FG1", 2, "coder_a", "c_stigma", "T1", "", ""),
        ("alpha", "alpha.FG1", 2, "coder_b", "c_stigma", "T1", "", ""),          # same unit, 2nd coder
        ("alpha", "alpha.FG1", 4, "coder_a", "c_money", "T2", "", ""),           # 28 chars: no quote
        ("alpha", "alpha.FG1", 5, "coder_b", "c_staff", "T1", *a_b),             # 27 chars: no quote
        ("alpha", "alpha.FG2", 2, "coder_a", "c_budget", "T2", "", ""),
        ("beta", "beta.FG1", 2, "coder_a", "c_stigma", "T1", *b_a),              # overlaps coder_b's
        ("beta", "beta.FG1", 2, "coder_b", "c_class", "T1", *b_b),
        ("beta", "beta.FG1", 2, "coder_a", "p_mutual", "", "", ""),              # framework code, no theme
        ("beta", "beta.FG1", 3, "coder_a", "c_stigma", "T1", "", ""),
        ("beta", "beta.INT1", 2, "coder_a", "c_money", "T2", "", ""),
    ]
    df = pd.DataFrame(rows, columns=["site", "transcript", "turn", "coder", "code", "theme", "start", "end"])
    df["turn"] = df["turn"].astype(str)
    df["start"] = df["start"].astype(str)
    df["end"] = df["end"].astype(str)
    df["origin"] = "inductive"
    df["label"] = df["code"]
    df["source"] = "tsv"
    return df


def turns_frame() -> pd.DataFrame:
    rows = []
    for key, turns in TURNS.items():
        site, t = key.split("/")
        for turn, speaker, kind, text in turns:
            rows.append({"site": site, "transcript": f"{site}.{t}", "turn": turn, "speaker": speaker,
                         "text": text, "kind": kind})
    return pd.DataFrame(rows)


def themes_frame() -> pd.DataFrame:
    return pd.DataFrame({"theme": ["T1", "T2", "T3"], "theme_number": [1, 2, 3],
                         "theme_label": ["Community and staff attitudes", "Resource availability",
                                         "Peer support network"],
                         "description": ["Attitudes towards mental illness.", "Money, transport, facilities.", ""]})


def sites_frame() -> pd.DataFrame:
    return pd.DataFrame({"site": ["alpha", "beta", "gamma"], "name": ["Alphaville", "Betatown", "Gammaburg"],
                         "setting": ["high-income", "low-income", "low-income"]})


def people() -> list[Person]:
    def p(site, num, role, label=""):
        return Person(site, str(num), f"{site} {num}", (), role, "female", label, ("FG1",), False, 2)
    return [p("alpha", 1, "psw"), p("alpha", 2, "mh_worker"), p("alpha", 3, "mh_manager", "Manager"),
            p("alpha", "F1", "facilitator"), p("beta", 9, "psw"), p("beta", 12, "psw"),
            p("beta", 3, "policy_maker"), p("gamma", 1, "mh_worker")]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The hand-made study as files, laid out like the project (for write_themes and notebooks)."""
    write(tmp_path / "config/sites.tsv", SITES_TSV)
    write(tmp_path / "results/codes/themes.tsv", THEMES_TSV)
    write(tmp_path / "data/restricted/roster.tsv", ROSTER_TSV)
    cols = ["turn", "speaker", "text", "line", "kind", "timestamp", "role", "offset_start", "offset_end"]
    role = {"F": "facilitator", "P": "psw", "": ""}
    for key, turns in TURNS.items():
        site, t = key.split("/")
        for lang in ("en", LOCAL[key]):
            df = pd.DataFrame([{"turn": n, "speaker": sp, "text": text if lang == "en" else f"[{lang}] {text}",
                                "line": 2 * n, "kind": kind, "timestamp": "", "role": role[sp[:1]],
                                "offset_start": 0, "offset_end": 0} for n, sp, kind, text in turns], columns=cols)
            path = tmp_path / f"results/pseudonymised/{site}/{t}.{lang}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            df.to_csv(path, sep="\t", index=False, lineterminator="\n")
    path = tmp_path / "results/codes/codings.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    c = codings_frame()
    c[["site", "transcript", "turn", "coder", "code", "theme", "origin", "label", "start", "end",
       "source"]].to_csv(path, sep="\t", index=False, lineterminator="\n")
    return tmp_path


COVERAGE_TSV = ("site\ttranscript\twave\tcoder\tsource\tn_codings\tn_units\n"
                "alpha\talpha.FG1\t\tcoder_a\ttsv\t3\t3\n"
                "alpha\talpha.FG1\t\tcoder_b\ttsv\t2\t2\n"
                "alpha\talpha.FG2\t\tcoder_a\ttsv\t1\t1\n"
                "beta\tbeta.FG1\t\tcoder_a\ttsv\t3\t2\n"
                "beta\tbeta.FG1\t\tcoder_b\ttsv\t1\t1\n"
                "beta\tbeta.INT1\t\tcoder_a\ttsv\t1\t1\n"
                "gamma\tgamma.FG1\t\tcoder_a\ttsv\t0\t0\n")


def run_stage(project: Path, min_chars: int = 40, count: str = "primary",
              assignments: Path | None = None) -> tuple[Path, Path]:
    """The themes stage on the hand-made study, as the rule runs it; returns the matrix and the
    quote pages' folder (index.md, <site>/<theme>.md)."""
    turns = sorted(str(p) for p in (project / "results/pseudonymised").glob("*/*.en.tsv"))
    matrix, quotes = project / "results/themes/theme_matrix.tsv", project / "results/themes/quotes"
    coverage = project / "results/codes/coverage.tsv"
    if not coverage.exists():
        write(coverage, COVERAGE_TSV)
    themes = th.read_themes(project / "results/codes/themes.tsv")["theme"]
    sites = read_sites(project / "config/sites.tsv")["site"]
    th.write_themes(project / "results/codes/codings.tsv", project / "results/codes/themes.tsv",
                    project / "config/sites.tsv", project / "data/restricted/roster.tsv", turns, min_chars,
                    matrix, quotes, design_for(project / "config/sites.tsv"), coverage=coverage,
                    assignments=assignments, count=count,
                    transcripts_out=project / "results/themes/transcripts.tsv",
                    summary_out=project / "results/themes/summary.md",
                    quote_pages=[quotes / s / f"{t}.md" for s in sites for t in themes])
    return matrix, quotes


def quote_lines(quotes: Path, theme: str) -> list[str]:
    """Every quote line of a theme over the site pages, in site (sites.tsv) then page order."""
    order = {s: i for i, s in enumerate(["alpha", "beta", "gamma"])}
    pages = sorted(quotes.glob(f"*/{theme}.md"), key=lambda p: order.get(p.parent.name, 99))
    return [l for p in pages for l in p.read_text(encoding="utf-8").splitlines() if l.startswith("- ")]


# ----------------------------------------------------------------------------------------------
# matrix
# ----------------------------------------------------------------------------------------------

def test_word_count_ignores_dashes_and_keeps_placeholders() -> None:
    assert th.word_count("Money is short — very short.") == 5
    assert th.word_count("at [HOSPITAL_01], P09 said ... yes") == 5
    assert th.word_count("") == 0


def test_theme_matrix_counts_by_hand() -> None:
    m = th.theme_matrix(codings_frame(), themes_frame(), sites_frame(), turns_frame(), [SETTING])
    assert list(m.columns) == th.matrix_columns([SETTING])
    assert list(m.columns) == ["level", "site", "name", "setting", *th.MATRIX_COLUMNS[3:]]
    # theme-major; sites in sites.tsv order, then low-income, high-income, then all sites
    assert list(m["level"][:6]) == ["site", "site", "site", "setting", "setting", "all"]
    assert list(m["name"][:6]) == ["Alphaville", "Betatown", "Gammaburg", "low-income", "high-income",
                                   "All sites"]
    assert list(m["theme"]) == ["T1"] * 6 + ["T2"] * 6 + ["T3"] * 6
    cols = ["coded_units", "transcripts", "transcripts_total", "participants", "participants_total",
            "participant_words"]
    got = {(r.theme, r.name): tuple(int(getattr(r, c)) for c in cols) for r in m.itertuples()}
    # words: alpha 12+5+11+9 = 37, beta 19+13+12 = 44, gamma 6; low 50, high 37, all 87
    expected = {
        # T1: alpha FG1 turns 2 (two coders: one unit) and 5 (P01 twice: one participant); the
        # facilitator's coded turn is not a unit. beta FG1 turns 2 (P09) and 3 (P12).
        ("T1", "Alphaville"): (2, 1, 2, 1, 3, 37),
        ("T1", "Betatown"): (2, 1, 2, 2, 3, 44),
        ("T1", "Gammaburg"): (0, 0, 1, 0, 1, 6),
        ("T1", "low-income"): (2, 1, 3, 2, 4, 50),
        ("T1", "high-income"): (2, 1, 2, 1, 3, 37),
        ("T1", "All sites"): (4, 2, 5, 3, 7, 87),
        # T2: alpha FG1 turn 4 (P02), FG2 turn 2 (P03); beta INT1 turn 2 (beta's P03, another person)
        ("T2", "Alphaville"): (2, 2, 2, 2, 3, 37),
        ("T2", "Betatown"): (1, 1, 2, 1, 3, 44),
        ("T2", "Gammaburg"): (0, 0, 1, 0, 1, 6),
        ("T2", "low-income"): (1, 1, 3, 1, 4, 50),
        ("T2", "high-income"): (2, 2, 2, 2, 3, 37),
        ("T2", "All sites"): (3, 3, 5, 3, 7, 87),
    }
    for key, val in expected.items():
        assert got[key] == val, key
    assert all(got[("T3", n)][0:2] == (0, 0) for n in ("Alphaville", "low-income", "All sites"))
    rate = {(r.theme, r.name): r.units_per_1000_words for r in m.itertuples()}
    assert rate[("T1", "Alphaville")] == 54.054          # 2 * 1000 / 37
    assert rate[("T1", "Betatown")] == 45.455            # 2 * 1000 / 44
    assert rate[("T1", "low-income")] == 40.0            # 2 * 1000 / 50
    assert rate[("T1", "All sites")] == 45.977           # 4 * 1000 / 87
    assert rate[("T2", "Betatown")] == 22.727            # 1 * 1000 / 44
    assert rate[("T2", "All sites")] == 34.483           # 3 * 1000 / 87
    assert rate[("T3", "Gammaburg")] == 0.0
    assert list(m.loc[m["level"] == "site", "setting"][:3]) == ["high-income", "low-income", "low-income"]


def test_site_without_transcripts_has_no_rate() -> None:
    sites = pd.concat([sites_frame(), pd.DataFrame([{"site": "delta", "name": "Deltaville",
                                                     "setting": "high-income"}])], ignore_index=True)
    m = th.theme_matrix(codings_frame(), themes_frame(), sites, turns_frame(), [SETTING])
    d = m[(m["site"] == "delta") & (m["theme"] == "T1")].iloc[0]
    assert (d["coded_units"], d["transcripts_total"], d["participant_words"]) == (0, 0, 0)
    assert np.isnan(d["units_per_1000_words"])


def test_codings_on_unknown_turn_or_bad_span_are_input_errors() -> None:
    c = codings_frame()
    c.attrs["path"] = "results/codes/codings.tsv"
    c.loc[3, "turn"] = "99"
    with pytest.raises(InputError, match=r"codings.tsv:5: alpha.FG1 turn 99 is not in the pseudonymised"):
        th.theme_matrix(c, themes_frame(), sites_frame(), turns_frame(), [SETTING])
    c = codings_frame()
    c.loc[1, ["start", "end"]] = ["10", "500"]
    with pytest.raises(InputError, match=r"span 10-500 is outside alpha.FG1 turn 2"):
        th.theme_matrix(c, themes_frame(), sites_frame(), turns_frame(), [SETTING])
    c = codings_frame()
    c.loc[1, "theme"] = "T9"
    with pytest.raises(InputError, match=r"theme 'T9' is not in the codebook"):
        th.theme_matrix(c, themes_frame(), sites_frame(), turns_frame(), [SETTING])


def test_theme_label_in_codings_is_mapped_to_its_id() -> None:
    c = codings_frame()
    c.loc[c["theme"] == "T2", "theme"] = "resource availability"
    m = th.theme_matrix(c, themes_frame(), sites_frame(), turns_frame(), [SETTING])
    assert int(m[(m["theme"] == "T2") & (m["level"] == "all")]["coded_units"].iloc[0]) == 3


def test_read_themes_from_the_codes_stage(tmp_path: Path) -> None:
    t = th.read_themes(write(tmp_path / "themes.tsv", THEMES_TSV))
    assert list(t["theme"]) == ["T1", "T2", "T3"]
    assert list(t["theme_number"]) == [1, 2, 3]
    assert t["theme_label"][2] == "Peer support network"
    assert list(t["description"]) == ["Attitudes towards mental illness.", "Money, transport, facilities.", ""]
    with pytest.raises(InputError, match=r"missing column\(s\) label: re-run the codes stage"):
        th.read_themes(write(tmp_path / "bad.tsv", "theme\nT1\n"))


# ----------------------------------------------------------------------------------------------
# quotes
# ----------------------------------------------------------------------------------------------

def test_quotes_merge_overlaps_skip_short_spans_and_attribute() -> None:
    q = th.quotes(codings_frame(), themes_frame(), sites_frame(), people(), turns_frame(), min_chars=40)
    assert list(zip(q["theme"], q["transcript"], q["turn"])) == [
        ("T1", "alpha.FG1", 2), ("T1", "beta.FG1", 2), ("T1", "beta.FG1", 3),
        ("T2", "alpha.FG2", 2), ("T2", "beta.INT1", 2)]
    merged = q.iloc[1]
    # coder_a's span (to "citizens.") and coder_b's (from "second-hand") overlap: one quote, whole text,
    # the line break inside the turn collapsed to a space
    assert merged["text"] == ("When it comes to class, mental health patients are considered second-hand "
                              "citizens. So we are marginalised among the marginalised.")
    assert merged["coders"] == "coder_a, coder_b"
    assert merged["codes"] == "c_class, c_stigma"
    assert (merged["participant"], merged["site_name"], merged["description"]) == (9, "Betatown", "PSW")
    assert q.iloc[0]["coders"] == "coder_a, coder_b"
    assert q.iloc[3]["description"] == "Manager"              # roster label wins over the role name
    assert q.iloc[4]["description"] == "Policy-maker"


def test_non_overlapping_spans_stay_separate_quotes() -> None:
    c = codings_frame()
    text = _text("beta/FG1", 2)
    s1, e1 = _span("beta/FG1", 2, "When", "class,")
    s2, e2 = _span("beta/FG1", 2, "So we", "among")
    extra = c.iloc[[6, 6]].copy()                # beta.FG1 turn 2, coder_a
    extra["theme"], extra["code"] = "T3", "c_network"
    extra["start"], extra["end"] = [str(s1), str(s2)], [str(e1), str(e2)]
    c = pd.concat([c, extra], ignore_index=True)
    q = th.quotes(c, themes_frame(), sites_frame(), people(), turns_frame(), min_chars=10)
    t3 = q[q["theme"] == "T3"]
    assert list(t3["text"]) == [text[s1:e1], text[s2:e2]]
    # with a 10-character minimum the short spans of alpha become quotes too
    assert ("T1", "alpha.FG1", 5) in set(zip(q["theme"], q["transcript"], q["turn"]))


def test_write_themes_outputs(project: Path) -> None:
    """(changed: issue 12 item 8) each transcript counts from its counted coder only: coder_a, the
    lead coder (codes all 5 transcripts), so the double-coded quotes list coder_a alone and
    the beta.FG1 turn 2 quote is coder_a's span, not the union with coder_b's; (changed: issue 14)
    the quotes are an index and one page per site and theme, not one quotes.md."""
    matrix, quotes = run_stage(project)
    m = pd.read_csv(matrix, sep="\t", dtype=str, keep_default_na=False)
    row = m[(m["theme"] == "T1") & (m["level"] == "setting") & (m["name"] == "low-income")].iloc[0]
    assert (row["coded_units"], row["transcripts"], row["transcripts_total"], row["participants"],
            row["participants_total"], row["units_per_1000_words"], row["status"]) == (
        "2", "1", "3", "2", "4", "40", "coded")
    # low-income: beta FG1 (P09, P12) and gamma FG1 (P01) are focus groups, beta INT1 (P03) an interview
    assert (row["focus_groups_total"], row["fg_participants"], row["fg_participants_total"],
            row["interviews_total"], row["interviewees"], row["interviewees_total"]) == ("2", "2", "3", "1", "0", "1")
    # alpha FG1 turn 5 was coded by coder_b only: not a unit now (alpha T1 had 2 units as the union)
    alpha = m[(m["theme"] == "T1") & (m["site"] == "alpha")].iloc[0]
    assert (alpha["coded_units"], alpha["participants"]) == ("1", "1")
    assert quote_lines(quotes, "T1") == [
        '- "Stigma is everywhere in our clinic and doctors do not trust peers." [#1, Alphaville, PSW] '
        '(alpha.FG1, turn 2; coders: coder_a)',
        '- "When it comes to class, mental health patients are considered second-hand citizens." '
        '[#9, Betatown, PSW] (beta.FG1, turn 2; coders: coder_a)',
        '- "We are rejected at [HOSPITAL_01] and they don\'t welcome you, they avoid you." [#12, Betatown, PSW] '
        '(beta.FG1, turn 3; coders: coder_a)',
    ]
    index = (quotes / "index.md").read_text(encoding="utf-8")
    section = index.split("## 1. Community and staff attitudes\n", 1)[1].split("\n## 2.", 1)[0]
    assert "*Attitudes towards mental illness.*" in section
    assert "| Alphaville | 1 | [alpha/T1.md](alpha/T1.md) |" in section
    assert "| Betatown | 2 | [beta/T1.md](beta/T1.md) |" in section
    assert "| All sites | 3 | |" in section
    assert (quotes / "alpha/T3.md").read_text(encoding="utf-8").endswith("\n_No quotes._\n")
    assert '[#3, Alphaville, Manager] (alpha.FG2, turn 2; coders: coder_a)' in quote_lines(quotes, "T2")[0]
    t = pd.read_csv(project / "results/themes/transcripts.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(t["transcript"]) == ["alpha.FG1", "alpha.FG2", "beta.FG1", "beta.INT1", "gamma.FG1"]
    assert list(t["counted_coder"]) == ["coder_a"] * 5 and set(t["counted_by"]) == {"lead coder"}
    assert list(t["kind"]) == ["focus group", "focus group", "focus group", "interview", "focus group"]
    assert list(t["participants"]) == ["2", "1", "2", "1", "1"]
    summary = (project / "results/themes/summary.md").read_text(encoding="utf-8")
    assert ("6 focus-group participants in 4 focus groups and 1 interviewee in 1 interview" in summary
            and "**Not coded:** none" in summary)
    # deterministic: a second run gives the same bytes, every file of the stage
    files = sorted(p for p in (project / "results/themes").rglob("*") if p.is_file())
    assert len(files) == 3 + 1 + 9
    before = [p.read_bytes() for p in files]
    run_stage(project)
    assert [p.read_bytes() for p in files] == before


def test_union_count_keeps_the_old_rule(project: Path) -> None:
    """themes: count: union: every coder's codings (alpha FG1 turn 5 by coder_b counts again)."""
    matrix, quotes = run_stage(project, count="union")
    m = pd.read_csv(matrix, sep="\t", dtype=str, keep_default_na=False)
    alpha = m[(m["theme"] == "T1") & (m["site"] == "alpha")].iloc[0]
    assert alpha["coded_units"] == "2"
    assert any("coders: coder_a, coder_b" in l for l in quote_lines(quotes, "T1"))


def test_a_site_without_codings_is_not_coded_not_zero(project: Path, caplog) -> None:
    """Issue 12 item 7: gamma sends its codings late (no coder in coverage.tsv). Its rows say "not
    coded" with empty counts, the low-income denominators are beta's alone, and the run warns once,
    naming the transcript."""
    cov = project / "results/codes/coverage.tsv"
    write(cov, "".join(l + "\n" for l in COVERAGE_TSV.splitlines() if not l.startswith("gamma")))
    with caplog.at_level("WARNING", logger="qualflow.themes"):
        matrix, quotes = run_stage(project)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "gamma.FG1" in warnings[0] and "not coded" in warnings[0]
    m = pd.read_csv(matrix, sep="\t", dtype=str, keep_default_na=False)
    g = m[m["site"] == "gamma"]
    assert set(g["status"]) == {"not coded"}
    assert set(g["coded_units"]) == set(g["participants_total"]) == set(g["units_per_1000_words"]) == {""}
    assert set(g["transcripts_not_coded"]) == {"1"}
    low = m[(m["level"] == "setting") & (m["name"] == "low-income") & (m["theme"] == "T1")].iloc[0]
    beta = m[(m["site"] == "beta") & (m["theme"] == "T1")].iloc[0]
    cols = ["coded_units", "transcripts", "transcripts_total", "participants", "participants_total",
            "fg_participants", "fg_participants_total", "participant_words", "units_per_1000_words"]
    assert [low[c] for c in cols] == [beta[c] for c in cols]          # 2/3 participants, not 2/4
    assert (low["participants"], low["participants_total"], low["status"]) == ("2", "3", "partly coded (2 of 3)")
    assert "gamma.FG1" in (project / "results/themes/summary.md").read_text(encoding="utf-8")
    assert "| Gammaburg | not coded |" in (quotes / "index.md").read_text(encoding="utf-8")
    assert "not coded yet" in (quotes / "gamma/T1.md").read_text(encoding="utf-8")
    # the figures draw a labelled hatched "not coded" cell, not a 0
    mm = figures.read_matrix(matrix)
    fig, data = figures.plot_themes_by_site(mm, SETTING)
    texts = _svg_texts(figures.figure_bytes(fig, "svg"))
    assert "not" in texts["cell:T1:gamma"] and "coded" in texts["cell:T1:gamma"]
    assert set(data.loc[data["site"] == "gamma", "status"]) == {"not coded"}


def test_write_themes_writes_nothing_on_bad_input(project: Path) -> None:
    path = project / "results/codes/codings.tsv"
    path.write_text(path.read_text(encoding="utf-8").replace("beta.INT1", "beta.INT7"), encoding="utf-8")
    with pytest.raises(InputError, match="beta.INT7 turn 2 is not in the pseudonymised"):
        run_stage(project)
    assert not (project / "results/themes").exists()


# ----------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------

def _svg_texts(svg: bytes) -> dict[str, str]:
    """gid -> text of every labelled text element in a matplotlib SVG (svg.fonttype none)."""
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    out = {}
    for g in root.iter(f"{ns}g"):
        gid = g.get("id", "")
        if gid.startswith(("count:", "cell:", "group:")):
            out[gid] = "".join(t.text or "" for t in g.iter(f"{ns}text"))
    return out


@pytest.fixture
def matrix(project: Path) -> pd.DataFrame:
    path, _ = run_stage(project)
    return figures.read_matrix(path)


def test_income_figure_plots_the_matrix(matrix: pd.DataFrame) -> None:
    """(changed: issue 12 item 8) the figure draws focus-group participants and interviewees in two
    panels (Table 2 counts focus-group participants), each bar labelled with the matrix's numbers."""
    fig, data = figures.plot_themes_by_group(matrix, SETTING)
    setting = matrix[matrix["level"] == "setting"]
    for measure in ("transcripts", "participants", "fg_participants", "interviewees"):
        d = data[data["measure"] == measure]
        assert list(d["setting"][:2]) == ["low-income", "high-income"]
        assert list(d["count"]) == list(setting[measure])
        assert list(d["total"]) == list(setting[f"{measure}_total"])
    d = data.set_index(["measure", "theme", "setting"])
    assert d.loc[("transcripts", "T1", "low-income"), "label"] == "1/3"
    assert d.loc[("participants", "T2", "high-income"), "share"] == pytest.approx(2 / 3)
    assert d.loc[("fg_participants", "T1", "low-income"), "label"] == "2/3"
    assert d.loc[("interviewees", "T2", "low-income"), "label"] == "1/1"
    assert d.loc[("interviewees", "T2", "high-income"), "label"] == "none"     # alpha has no interviews
    svg = figures.figure_bytes(fig, "svg")
    texts = _svg_texts(svg)
    for r in setting.itertuples():
        assert texts[f"count:fg_participants:{r.setting}:{r.theme}"] == f"{r.fg_participants}/{r.fg_participants_total}"
        iv = f"{r.interviewees}/{r.interviewees_total}" if r.interviewees_total else "none"
        assert texts[f"count:interviewees:{r.setting}:{r.theme}"] == iv
    # issue 12: the transcripts panel (~100 % everywhere) is not drawn, and the title is the caption's
    assert len([k for k in texts if k.startswith("count:")]) == 2 * len(setting)
    assert b"Themes by" not in svg


def test_site_heatmap_plots_the_matrix(matrix: pd.DataFrame) -> None:
    fig, data = figures.plot_themes_by_site(matrix, SETTING)
    # low-income sites first (sites.tsv order within the group), then high-income
    assert list(data["site"][:3]) == ["beta", "gamma", "alpha"]
    sites = matrix[matrix["level"] == "site"]
    merged = data.merge(sites, on=["theme", "site"], suffixes=("", "_m"))
    assert len(merged) == len(sites) == 9
    assert (merged["coded_units"] == merged["coded_units_m"]).all()
    assert np.allclose(merged["units_per_1000_words"], merged["units_per_1000_words_m"])
    texts = _svg_texts(figures.figure_bytes(fig, "svg"))
    for r in sites.itertuples():
        assert texts[f"cell:{r.theme}:{r.site}"] == str(r.coded_units)
    assert texts["group:low-income"] == "Low-income" and texts["group:high-income"] == "High-income"
    assert b"Themes by site" not in figures.figure_bytes(fig, "svg")          # the title is the caption's


def test_heatmap_colour_scale_is_not_set_by_one_outlier_site() -> None:
    """Issue 12 item 11: the scale tops at the 90th percentile of the cells, so one site with a rate
    ten times the others' does not wash the rest out; the colour bar says so."""
    rate = np.array([[1.0, 2.0, 3.0, 40.0], [2.0, 2.5, 3.5, np.nan], [1.5, 3.0, 2.0, 2.8]])
    top, capped = figures.robust_max(rate)
    assert top == pytest.approx(float(np.percentile(rate[np.isfinite(rate)], 90))) and top < 5 and capped
    assert figures.robust_max(np.full((2, 2), np.nan)) == (1.0, False)
    assert figures.robust_max(np.zeros((2, 2))) == (1.0, False)


def test_figures_are_byte_identical_across_runs(project: Path, tmp_path: Path) -> None:
    path, _ = run_stage(project)
    design = design_for(project / "config/sites.tsv")
    runs = []
    for i in range(2):
        out = [tmp_path / f"run{i}" / n for n in ("inc.png", "inc.svg", "site.png", "site.svg")]
        figures.write_figures(path, [out[0]], [out[1]], out[2], out[3], design)
        runs.append([p.read_bytes() for p in out])
    assert runs[0] == runs[1]
    # and in a fresh interpreter (no state carried over from this process)
    out = [tmp_path / "fresh" / n for n in ("inc.png", "inc.svg", "site.png", "site.svg")]
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from qualflow.figures import write_figures; "
            "a = sys.argv[2:]; write_figures(a[0], [a[1]], [a[2]], a[3], a[4], json.loads(a[5]))")
    import json
    subprocess.run([sys.executable, "-c", code, str(ROOT / "workflow"), str(path), *map(str, out),
                    json.dumps(design)], check=True)
    assert [p.read_bytes() for p in out] == runs[0]
    png, svg = runs[0][0], runs[0][1]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"Software" not in png and b"<dc:date>" not in svg and b"Matplotlib v" not in svg
    # 300 dpi: pHYs chunk holds pixels per metre (300 / 0.0254 = 11811)
    i = png.index(b"pHYs")
    assert int.from_bytes(png[i + 4:i + 8], "big") == 11811


# ----------------------------------------------------------------------------------------------
# the demo study: every published quote under its theme (after the workflow has run)
# ----------------------------------------------------------------------------------------------

_PLACEHOLDER = r"(?:\[[A-Z]+_\d+\]|\[TP\d+\]|\bP\d+\b)"
_QUOTE_LINE = re.compile(r'^- "(?P<text>.*)" \[#(?P<num>\d+), (?P<site>[^,\]]+), (?P<desc>[^\]]+)\] '
                         r'\((?P<transcript>\S+), turn (?P<turn>\d+); coders: (?P<coders>[^)]*)\)$')


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    for a, b in (("‘", "'"), ("’", "'"), ("‚", "'"), ("“", '"'), ("”", '"'), ("„", '"')):
        text = text.replace(a, b)
    return " ".join(text.casefold().split())


def published_pattern(text: str) -> re.Pattern:
    """Published text -> regex: '…' splits ordered segments; [name]/(Name) match any placeholder."""
    segments = [s.strip() for s in _norm(text).split("…") if s.strip()]
    parts = []
    for seg in segments:
        pieces = re.split(r"(\[name\]|\(name\))", seg)
        parts.append("".join(_PLACEHOLDER if p in ("[name]", "(name)") else re.escape(p) for p in pieces))
    return re.compile(".*?".join(parts).replace(r"\ ", r"\s+").replace(" ", r"\s+"), re.IGNORECASE)


def parse_quotes_md(text: str) -> dict[int, list[dict]]:
    """quotes.md -> theme number -> parsed quote lines."""
    out: dict[int, list[dict]] = {}
    current = None
    for line in text.splitlines():
        h = re.match(r"^## (\d+)\. ", line)
        if h:
            current = int(h.group(1))
            out[current] = []
        elif line.startswith("- ") and current is not None:
            m = _QUOTE_LINE.match(line)
            assert m, f"malformed quote line: {line[:120]}"
            out[current].append(m.groupdict())
    return out


def test_published_pattern_normalisation() -> None:
    pat = published_pattern("And even here at [name] hospital some say, ‘Who…mad ones?")
    assert pat.search(_norm("Intro. And even here at [HOSPITAL_01] hospital some say, 'Who can work with those "
                            "mad ones?"))
    assert published_pattern("‘(Name) is getting a relapse, (name) do this").search(
        _norm("'[TP02] is getting a relapse, P07 do this and this'"))
    assert not published_pattern("we are rejected").search(_norm("we were rejected"))


def demo_quote_sections(demo: Path) -> dict[int, list[dict]]:
    """Every quote page of the demo (results/themes/quotes/<site>/<theme>.md) by theme number."""
    themes = pd.read_csv(demo / "results/codes/themes.tsv", sep="\t", dtype=str, keep_default_na=False)
    sites = pd.read_csv(demo / "config/sites.tsv", sep="\t", dtype=str, keep_default_na=False)["site"]
    text = []
    for n, theme in enumerate(themes["theme"], start=1):
        text.append(f"## {n}. {theme}")
        for site in sites:
            page = (demo / f"results/themes/quotes/{site}/{theme}.md").read_text(encoding="utf-8")
            text += [l for l in page.splitlines() if l.startswith("- ")]
    return parse_quotes_md("\n".join(text))


def test_published_quotes_in_quotes_md(demo: Path) -> None:
    published = pd.read_csv(ROOT / "tests/data/published_quotes.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert len(published) == 30
    sections = demo_quote_sections(demo)
    missing = []
    for r in published.itertuples():
        pat = published_pattern(r.text)
        hits = [q for q in sections.get(int(r.theme_number), []) if pat.search(_norm(q["text"]))]
        ok = [q for q in hits if int(q["num"]) == int(r.participant) and _norm(q["site"]) == _norm(r.site)
              and _norm(q["desc"]) == _norm(r.description)]
        if not ok:
            where = "; ".join(f"[#{q['num']}, {q['site']}, {q['desc']}]" for q in hits) or "no matching text"
            missing.append(f"quote {r.quote} (theme {r.theme_number}, #{r.participant} {r.site}): {where}")
    assert not missing, "\n".join(missing)


# ----------------------------------------------------------------------------------------------
# the demo study: denominators match Table 2; a site whose codings are late is "not coded"
# ----------------------------------------------------------------------------------------------

def _demo_stage(demo: Path, out: Path, coverage: Path | None = None, codings: Path | None = None) -> Path:
    """The demo's themes stage again, as its rule runs it, writing under ``out``."""
    import yaml
    from qualflow.validate import load_study
    from qualflow.design import design_params as dparams
    res = demo / "results"
    cfg = yaml.safe_load((demo / "config/config.yaml").read_text(encoding="utf-8"))
    sites = read_sites(demo / cfg["sites"])
    theme_ids = list(th.read_themes(res / "codes/themes.tsv")["theme"])
    turns = sorted(str(p) for p in (res / "pseudonymised").glob("*/*.en.tsv"))
    design = dparams(load_design(cfg), sites, None, {})
    th.write_themes(codings or res / "codes/codings.tsv", res / "codes/themes.tsv", demo / cfg["sites"],
                    demo / cfg["roster"], turns, 40, out / "theme_matrix.tsv", out / "quotes", design,
                    coverage=coverage or res / "codes/coverage.tsv", assignments=demo / "data/coding_assignments.tsv",
                    transcripts_out=out / "transcripts.tsv", summary_out=out / "summary.md",
                    quote_pages=[out / "quotes" / s / f"{t}.md" for s in sites["site"] for t in theme_ids])
    return out / "theme_matrix.tsv"


def test_demo_focus_group_denominators_equal_table2(demo: Path) -> None:
    """Issue 12 item 8: per setting and in total, the matrix's focus-group participants and focus
    groups are Table 2's (86 in 12), interviewees apart (3 in 3); the group figure's bar labels are the
    matrix's numbers (read from the function that draws it)."""
    t2 = pd.read_csv(ROOT.parent / "shared/reference/table2_published.tsv", sep="\t", dtype=str) \
        if (ROOT.parent / "shared/reference/table2_published.tsv").exists() else \
        pd.read_csv(demo / "results/tables/table2.tsv", sep="\t", dtype=str)
    ours = pd.read_csv(demo / "results/tables/table2.tsv", sep="\t", dtype=str)
    assert ours.equals(t2)
    sites = pd.read_csv(demo / "config/sites.tsv", sep="\t", dtype=str, keep_default_na=False)
    setting_of = dict(zip(sites["name"], sites["setting"]))
    per = t2[t2["site"] != "Total"].assign(setting=lambda d: d["site"].map(setting_of))
    want = per.assign(n=per["n"].astype(int), fg=per["focus_groups"].astype(int)).groupby("setting")[["n", "fg"]].sum()
    m = figures.read_matrix(demo / "results/themes/theme_matrix.tsv")
    for value, row in want.iterrows():
        rows = m[(m["level"] == "setting") & (m["name"] == value)]
        assert set(rows["fg_participants_total"]) == {row["n"]}, value
        assert set(rows["focus_groups_total"]) == {row["fg"]}, value
    total = m[m["level"] == "all"].iloc[0]
    assert (total["fg_participants_total"], total["focus_groups_total"]) == (86, 12)
    assert (total["interviewees_total"], total["interviews_total"]) == (3, 3)
    assert (total["participants_total"], total["transcripts_total"]) == (89, 15)
    assert set(m["status"]) == {"coded"}
    group = load_design(__import__("yaml").safe_load((demo / "config/config.yaml").read_text())).groups[0]
    _fig, data = figures.plot_themes_by_group(m, group)
    rows = m[m["level"] == group.id]
    d = data[data["measure"] == "fg_participants"]
    assert list(d["label"]) == [f"{a}/{b}" for a, b in zip(rows["fg_participants"], rows["fg_participants_total"])]
    summary = (demo / "results/themes/summary.md").read_text(encoding="utf-8")
    assert "86 focus-group participants in 12 focus groups and 3 interviewees in 3 interviews" in summary
    t = pd.read_csv(demo / "results/themes/transcripts.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert len(t) == 15 and set(t["counted_coder"]) == {"coder_a"}


def test_demo_site_with_late_codings_is_not_coded(demo: Path, tmp_path: Path, caplog) -> None:
    """Issue 12 item 7 on the first demo: Dar es Salaam's codings removed. Its rows say "not coded";
    the low-income rows are Kampala's alone (shares over Kampala's people, not diluted by zeros); the
    warning names its two transcripts."""
    res = demo / "results"
    cov = pd.read_csv(res / "codes/coverage.tsv", sep="\t", dtype=str, keep_default_na=False)
    cod = pd.read_csv(res / "codes/codings.tsv", sep="\t", dtype=str, keep_default_na=False)
    cov[cov["site"] != "dar_es_salaam"].to_csv(tmp_path / "coverage.tsv", sep="\t", index=False)
    cod[cod["site"] != "dar_es_salaam"].to_csv(tmp_path / "codings.tsv", sep="\t", index=False)
    before = pd.read_csv(res / "themes/theme_matrix.tsv", sep="\t", dtype=str, keep_default_na=False)
    with caplog.at_level("WARNING", logger="qualflow.themes"):
        path = _demo_stage(demo, tmp_path / "out", tmp_path / "coverage.tsv", tmp_path / "codings.tsv")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "dar_es_salaam.FG1, dar_es_salaam.FG2" in warnings[0]
    after = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    dar = after[after["site"] == "dar_es_salaam"]
    assert set(dar["status"]) == {"not coded"} and set(dar["coded_units"]) == {""}
    cols = ["coded_units", "transcripts", "transcripts_total", "participants", "participants_total",
            "fg_participants", "fg_participants_total", "focus_groups_total", "interviewees_total",
            "participant_words", "units_per_1000_words"]
    for theme in before["theme"].unique():
        low = after[(after["level"] == "setting") & (after["name"] == "low-income") & (after["theme"] == theme)].iloc[0]
        kampala = before[(before["site"] == "kampala") & (before["theme"] == theme)].iloc[0]
        assert [low[c] for c in cols] == [kampala[c] for c in cols], theme
        assert low["status"] == "partly coded (7 of 9)"
        high_b = before[(before["level"] == "setting") & (before["name"] == "high-income") & (before["theme"] == theme)]
        high_a = after[(after["level"] == "setting") & (after["name"] == "high-income") & (after["theme"] == theme)]
        assert list(high_a[cols].iloc[0]) == list(high_b[cols].iloc[0])
    # e.g. theme 1: Kampala's 32 focus-group participants are the low-income denominator (was 48)
    low1 = after[(after["level"] == "setting") & (after["name"] == "low-income")].iloc[0]
    assert low1["fg_participants_total"] == "32"
    summary = (tmp_path / "out/summary.md").read_text(encoding="utf-8")
    assert "dar_es_salaam.FG1, dar_es_salaam.FG2" in summary
