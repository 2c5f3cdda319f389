"""Tests for qualflow.codebook (stage 5, codes): the codebook, label mapping, spans to units, bad
input, the REFI-QDA exports (XSD + round trip) and the demo study's codings.

Unit tests build a tiny pseudonymised study in tmp_path (two transcripts with facilitator turns,
markers and multi-line turns); the demo tests read the committed codings and skip when the
pseudonymised transcripts have not been produced yet.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_rows
from lxml import etree

from qualflow.codebook import (
    Transcript,
    codes_stage,
    discover_codings,
    load_codebook,
    load_transcripts,
    map_labels,
    normalise_label,
    read_qdpx_codings,
    read_tsv_codings,
)
from qualflow.errors import InputError
from qualflow.refiqda import Code, Coding, Project, Source, User, read_qdc, read_qdpx, stable_guid, write_qdpx

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "refi-qda"
XSD = FIXTURES / "Project-mrt2019.xsd"
DOUBLE_CODED = ["kampala.FG2", "dar_es_salaam.FG1", "beer_sheva.FG1", "ulm.FG2"]


# =========================================================================== fixtures


MINI_CODEBOOK = """\
themes:
  - {id: attitudes, label: Attitudes, description: How people see PSWs.}
  - {id: resources, label: Resources}
framework:
  principles:
    - {id: mutual, label: Mutual, definition: PSWs have similar experiences to peer support users}
  influences: []
codes:
  - id: mutual
    label: Mutual
    origin: deductive
    theme: attitudes
    definition: PSWs have similar experiences to peer support users
    synonyms: [P1 Mutual, Mutuality]
  - id: community_stigma
    label: Community stigma
    origin: inductive
    theme: attitudes
    definition: Stigma in the community.
    synonyms: [Stigma - community]
  - id: airtime_transport
    label: Airtime and transport costs
    origin: inductive
    theme: resources
    definition: Money for airtime and transport.
    synonyms: [Airtime/transport]
    introduced_by: coder_b
"""

# (speaker, role, kind, text); text may span lines.
ALPHA_FG1 = [
    ("F01", "facilitator", "speech", "Welcome. What do you think about stigma?"),
    ("P01", "psw", "speech", "People call us mad. Nobody sits near us in the taxi."),
    ("P02", "mh_worker", "speech", "The peers have no money for airtime.\nThey walk to the villages."),
    ("", "", "marker", "[laughter]"),
    ("P01", "psw", "speech", "I was there too, so I understand them."),
]
BETA_FG1 = [
    ("F01", "facilitator", "speech", "Let us talk about resources."),
    ("P03", "psw", "speech", "Transport is the biggest problem for us."),
]


def make_transcript(root: Path, site: str, name: str, turns: list[tuple]) -> Path:
    """Write results/pseudonymised/<site>/<name>.en.{txt,tsv} with consistent offsets."""
    d = root / "results" / "pseudonymised" / site
    d.mkdir(parents=True, exist_ok=True)
    text = "---\nkind: focus_group\ndate: 2018-10-01\nlanguage: en\n---\n"
    rows = []
    for i, (speaker, role, kind, body) in enumerate(turns, start=1):
        if i > 1:
            text += "\n\n"
        prefix = f"{speaker}: " if speaker else ""
        start = len(text) + len(prefix)
        text += prefix + body
        rows.append({"turn": i, "speaker": speaker, "text": body, "line": i * 2, "kind": kind,
                     "timestamp": "", "role": role, "offset_start": start,
                     "offset_end": start + len(body)})
    text += "\n"
    (d / f"{name}.en.txt").write_bytes(text.encode("utf-8"))
    pd.DataFrame(rows).to_csv(d / f"{name}.en.tsv", sep="\t", index=False, lineterminator="\n")
    return d / f"{name}.en.tsv"


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A two-site pseudonymised study, a codebook and an empty codings folder."""
    make_transcript(tmp_path, "alpha", "FG1", ALPHA_FG1)
    make_transcript(tmp_path, "beta", "FG1", BETA_FG1)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "codebook.yaml").write_text(MINI_CODEBOOK, encoding="utf-8")
    (tmp_path / "config" / "sites.tsv").write_text(
        "site\tname\tcountry\tincome_group\tsetting\tcare_level\tlanguages\tpsw_experience\n"
        "beta\tBetatown\tUganda\tlow\tlow-income\tsecondary\tlg\testablished\n"
        "alpha\tAlphaville\tGermany\thigh\thigh-income\ttertiary\tde\tnone\n", encoding="utf-8")
    (tmp_path / "data" / "codings").mkdir(parents=True)
    return tmp_path


def transcripts_of(root: Path) -> dict[str, Transcript]:
    p = root / "results" / "pseudonymised"
    return load_transcripts(sorted(str(x) for x in p.glob("*/*.en.tsv")),
                            sorted(str(x) for x in p.glob("*/*.en.txt")))


def write_tsv(path: Path, rows: list[list], header=("transcript", "turn", "start", "end", "code", "memo")) -> Path:
    return write_rows(path, header, rows)


def b_project(ts: dict[str, Transcript], codings: list[tuple[str, int, int, str]],
              names: dict[str, str] | None = None, texts: dict[str, str] | None = None) -> Project:
    """coder_b's NVivo-like project: 'Stigma' > 'community' and a flat 'Airtime/transport' node."""
    user = User(stable_guid("u", "coder_b"), "coder_b")
    stigma = Code(stable_guid("c", "Stigma"), "Stigma")
    codes = [stigma, Code(stable_guid("c", "community"), "community", stigma.guid),
             Code(stable_guid("c", "Airtime/transport"), "Airtime/transport"),
             Code(stable_guid("c", "Mutuality"), "Mutuality")]
    guid = {c.name: c.guid for c in codes}
    sources = [Source(stable_guid("s", tid), (names or {}).get(tid, tid), (texts or {}).get(tid, t.text))
               for tid, t in sorted(ts.items())]
    sguid = {s.name: s.guid for s in sources}
    out = [Coding(sguid[(names or {}).get(tid, tid)], s, e, guid[code], "coder_b")
           for tid, s, e, code in codings]
    return Project("coder_b", users=[user], codes=codes, sources=sources, codings=out)


def offset(ts: dict[str, Transcript], tid: str, turn: int, needle: str) -> tuple[int, int]:
    """Offsets of ``needle`` inside a turn, in whole-source coordinates."""
    r = ts[tid].turn_row(turn)
    i = r["text"].index(needle)
    return int(r["offset_start"]) + i, int(r["offset_start"]) + i + len(needle)


def outputs(d: Path) -> dict[str, str]:
    names = {"codings": "codings.tsv", "codebook": "codebook.tsv", "unmapped": "unmapped_labels.tsv",
             "coverage": "coverage.tsv", "themes": "themes.tsv", "summary": "summary.md",
             "qdc": "codebook.qdc", "packet": "coding_packet.qdpx",
             "reanchor": "reanchor_review.tsv", "turns": "turns.tsv"}
    return {k: str(d / v) for k, v in names.items()}


def run_stage(root: Path, unmapped: str = "fail", out: Path | None = None) -> dict[str, str]:
    out = out or root / "results" / "codes"
    o = outputs(out)
    codings = sorted(str(p) for p in (root / "data" / "codings").glob("*/*")
                     if p.suffix in (".tsv", ".qdpx"))
    p = root / "results" / "pseudonymised"
    codes_stage(str(root / "config" / "codebook.yaml"), codings,
                sorted(str(x) for x in p.glob("*/*.en.tsv")), sorted(str(x) for x in p.glob("*/*.en.txt")),
                str(root / "data" / "codings"), unmapped, o, sites=str(root / "config" / "sites.tsv"))
    return o


def read(path: str) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


# =========================================================================== labels and codebook


@pytest.mark.parametrize("a,b", [
    ("Stigma - community", "stigma/COMMUNITY"),
    ("Airtime & transport", "airtime and transport"),
    ("  Role clarity / ToR ", "role-clarity-tor"),
    ("Stigma > community", "Stigma - community"),
])
def test_normalise_label_ignores_case_space_punctuation(a: str, b: str) -> None:
    assert normalise_label(a) == normalise_label(b)
    assert normalise_label("community stigma") != normalise_label("staff stigma")


def test_project_codebook_matches_the_paper() -> None:
    book = load_codebook(ROOT / "config" / "codebook.yaml")
    assert [t.id for t in book.themes] == [
        "community_staff_attitudes", "resource_availability", "organisational_culture",
        "role_definition", "training_support", "peer_support_network"]
    assert [t.label for t in book.themes][4] == "Training and support"
    assert [e["id"] for e in book.framework["principles"]] == [
        "mutual", "reciprocal", "non_directive", "recovery_focused", "strengths_based",
        "inclusive", "progressive", "safe"]
    assert len(book.framework["influences"]) == 5
    deductive = {c.id: c for c in book.codes if c.origin == "deductive"}
    assert len(deductive) == 13
    # Table 1 text, verbatim
    assert deductive["progressive"].definition == (
        "PSWs and users advance together towards recovery, this is not a befriending relationship "
        "that aims to maintain current progress")
    assert deductive["choice_of_relationship"].definition == (
        "Peer support pairs and groups can be formed by the organisation, but also by the peers "
        "themselves")
    per_theme = {t.id: (sum(c.origin == "deductive" for c in book.codes if c.theme == t.id),
                        sum(c.origin == "inductive" for c in book.codes if c.theme == t.id))
                 for t in book.themes}
    assert per_theme == {"community_staff_attitudes": (3, 7), "resource_availability": (0, 4),
                         "organisational_culture": (3, 5), "role_definition": (2, 3),
                         "training_support": (2, 5), "peer_support_network": (3, 3)}
    # the inductive codes the paper's Results describe, under their themes
    theme_of = {c.id: c.theme for c in book.codes}
    for code, theme in [("community_stigma", "community_staff_attitudes"),
                        ("religious_traditional_beliefs", "community_staff_attitudes"),
                        ("family_rejection", "community_staff_attitudes"),
                        ("staff_stigma", "community_staff_attitudes"),
                        ("psw_as_bridge", "community_staff_attitudes"),
                        ("airtime_transport", "resource_availability"),
                        ("budget_funding", "resource_availability"),
                        ("facilities", "resource_availability"),
                        ("indebtedness", "organisational_culture"),
                        ("workplace_accommodations", "organisational_culture"),
                        ("formal_informal_role", "organisational_culture"),
                        ("role_clarity", "role_definition"),
                        ("person_dependent_tasks", "role_definition"),
                        ("initial_training", "training_support"),
                        ("ongoing_training", "training_support"),
                        ("supervision", "training_support"),
                        ("buddies", "peer_support_network"),
                        ("peer_group_strength", "peer_support_network")]:
        assert theme_of[code] == theme
    assert book.code("hierarchy").introduced_by == ("coder_b",)
    assert book.code("role_drift").introduced_by == ("coder_a",)
    assert book.resolve("Stigma - community") == "community_stigma"
    assert book.resolve("AIRTIME/transport") == "airtime_transport"
    assert book.resolve("Extent to which rules govern the relationship") == "rules_govern_relationship"


def _codebook_error(tmp_path: Path, text: str) -> InputError:
    p = tmp_path / "codebook.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_codebook(p)
    return exc.value


def _line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i for i, ln in enumerate(text.splitlines(), start=1) if needle in ln]
    return hits[nth - 1]


def test_codebook_duplicate_code_id_names_its_line(tmp_path: Path) -> None:
    text = MINI_CODEBOOK + """\
  - id: community_stigma
    label: Stigma again
    origin: inductive
    theme: attitudes
    definition: A duplicate.
"""
    err = _codebook_error(tmp_path, text)
    [p] = err.problems
    assert p.line == _line_of(text, "- id: community_stigma", 2)
    assert "listed twice" in p.message and f"line {_line_of(text, '- id: community_stigma')}" in p.message


def test_codebook_duplicate_theme_id_is_an_error(tmp_path: Path) -> None:
    text = MINI_CODEBOOK.replace("  - {id: resources, label: Resources}\n",
                                 "  - {id: resources, label: Resources}\n  - {id: resources, label: Money}\n")
    problems = _codebook_error(tmp_path, text).problems
    assert any("theme id 'resources' is listed twice" in p.message for p in problems)


def test_codebook_unknown_theme_names_its_line(tmp_path: Path) -> None:
    text = MINI_CODEBOOK.replace("    theme: resources\n", "    theme: money\n")
    [p] = _codebook_error(tmp_path, text).problems
    assert p.line == _line_of(text, "theme: money")
    assert "'money'" in p.message and "attitudes, resources" in p.message


def test_codebook_synonym_of_two_codes_is_an_error(tmp_path: Path) -> None:
    text = MINI_CODEBOOK.replace("synonyms: [Airtime/transport]", "synonyms: [Airtime/transport, stigma-community]")
    [p] = _codebook_error(tmp_path, text).problems
    assert p.line == _line_of(text, "stigma-community")
    assert "'community_stigma'" in p.message and "one code only" in p.message


def test_codebook_schema_error_names_its_line(tmp_path: Path) -> None:
    text = MINI_CODEBOOK.replace("    origin: inductive\n    theme: resources\n",
                                 "    origin: emergent\n    theme: resources\n")
    [p] = _codebook_error(tmp_path, text).problems
    assert p.line == _line_of(text, "origin: emergent")
    assert "codes/2/origin" in p.message


def test_codebook_framework_needs_deductive_codes(tmp_path: Path) -> None:
    text = MINI_CODEBOOK.replace("  influences: []", "  influences:\n    - {id: rules, label: Rules, definition: R}")
    [p] = _codebook_error(tmp_path, text).problems
    assert p.line == _line_of(text, "id: rules")
    assert "framework entry 'rules' has no code" in p.message


def test_codebook_invalid_yaml_names_its_line(tmp_path: Path) -> None:
    text = MINI_CODEBOOK.replace("Money for airtime and transport.", "Money: for airtime")
    [p] = _codebook_error(tmp_path, text).problems
    assert p.line == _line_of(text, "Money: for airtime")
    assert "not valid YAML" in p.message


# =========================================================================== TSV codings


def test_tsv_codings_map_to_turns_and_codes(study: Path, caplog) -> None:
    ts = transcripts_of(study)
    f = write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [
        ["alpha.FG1", 2, 0, 19, "community STIGMA", "strong quote"],
        ["alpha.FG1", 3, "", "", "Airtime & transport", ""],      # not a synonym: unmapped
        ["alpha.FG1", 5, "", "", "P1 Mutual", ""],
        ["alpha.FG1", 1, "", "", "Stigma - community", ""],       # the facilitator: dropped
    ])
    with caplog.at_level(logging.INFO):
        cs = read_tsv_codings(f, "coder_a", ts)
    assert "facilitator turn (F01)" in caplog.text and "alpha.FG1.tsv:5" in caplog.text
    # the documented rule: logged, not a warning repeated on every run (issue 12)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "dropped" in r.getMessage()]
    assert cs.raw[["turn", "start", "end", "label"]].values.tolist() == [
        [2, 0, 19, "community STIGMA"], [3, 0, len(ALPHA_FG1[2][3]), "Airtime & transport"],
        [5, 0, len(ALPHA_FG1[4][3]), "P1 Mutual"]]
    assert cs.coverage == [("alpha.FG1", "coder_a", "tsv", str(f))]
    book = load_codebook(study / "config/codebook.yaml")
    with pytest.raises(InputError) as exc:
        map_labels(cs.raw, book, "fail")
    [p] = exc.value.problems
    assert (p.path, p.line) == (str(f), 3)
    assert "'Airtime & transport'" in p.message and "airtime_transport" in p.message
    mapped, um, cands = map_labels(cs.raw, book, "candidate")
    assert mapped["code"].tolist() == ["community_stigma", "airtime_and_transport", "mutual"]
    assert mapped["origin"].tolist() == ["inductive", "candidate", "deductive"]
    assert um.to_dict("records") == [{"coder": "coder_a", "label": "Airtime & transport", "n": 1,
                                      "first_file": str(f), "first_line": 3,
                                      "suggestion": "airtime_transport",
                                      "candidate": "airtime_and_transport"}]
    assert [c.id for c in cands] == ["airtime_and_transport"]


def test_tsv_turn_that_does_not_exist(study: Path) -> None:
    ts = transcripts_of(study)
    f = write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [["alpha.FG1", 2, "", "", "Mutual", ""],
                                                                 ["alpha.FG1", 9, "", "", "Mutual", ""]])
    with pytest.raises(InputError) as exc:
        read_tsv_codings(f, "coder_a", ts)
    [p] = exc.value.problems
    assert (p.path, p.line) == (str(f), 3)
    assert "turn 9 does not exist in alpha.FG1 (it has turns 1-5)" in p.message


def test_tsv_transcript_that_does_not_exist(study: Path) -> None:
    ts = transcripts_of(study)
    f = write_tsv(study / "data/codings/coder_a/all.tsv", [["alpha.FG1", 2, "", "", "Mutual", ""],
                                                           ["alpha.FG7", 2, "", "", "Mutual", ""]])
    with pytest.raises(InputError) as exc:
        read_tsv_codings(f, "coder_a", ts)
    [p] = exc.value.problems
    assert (p.path, p.line) == (str(f), 3)
    assert "transcript 'alpha.FG7' does not exist" in p.message
    g = write_tsv(study / "data/codings/coder_a/gamma.FG1.tsv", [])
    with pytest.raises(InputError, match="named for transcript 'gamma.FG1', which does not exist"):
        read_tsv_codings(g, "coder_a", ts)


def test_tsv_span_past_the_end_of_the_turn(study: Path) -> None:
    ts = transcripts_of(study)
    n = len(ALPHA_FG1[1][3])
    f = write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [["alpha.FG1", 2, 5, n + 1, "Mutual", ""]])
    with pytest.raises(InputError) as exc:
        read_tsv_codings(f, "coder_a", ts)
    [p] = exc.value.problems
    assert p.line == 2
    assert f"span 5-{n + 1}" in p.message and "past the end of the turn" in p.message
    assert f"{n} characters long" in p.message


def test_tsv_quoted_text_must_match_the_transcript(study: Path) -> None:
    """(changed: issue 13) words that are nowhere in the transcript any more: left out for review,
    not moved and not an error that stops the study."""
    ts = transcripts_of(study)
    f = write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv",
                  [["alpha.FG1", 2, 0, 19, "Mutual", "People call us bad."]],
                  header=("transcript", "turn", "start", "end", "code", "text"))
    cs = read_tsv_codings(f, "coder_a", ts)
    assert cs.raw.empty and cs.coverage == [("alpha.FG1", "coder_a", "tsv", str(f))]
    [a] = cs.anchors
    assert (a["status"], a["old_text"], a["new_turn"], a["new_text"]) == (
        "review", "People call us bad.", 2, "People call us mad.")


# =========================================================================== REFI-QDA codings


def test_qdpx_spans_map_to_every_overlapping_participant_turn(study: Path, caplog) -> None:
    ts = transcripts_of(study)
    t = ts["alpha.FG1"]
    s2, _ = offset(ts, "alpha.FG1", 2, "Nobody")
    _, e3 = offset(ts, "alpha.FG1", 3, "They walk")
    para5 = t.text.index("P01: I was there")            # the paragraph, speaker label included
    f1s, f1e = offset(ts, "alpha.FG1", 1, "Welcome")
    b1, b2 = offset(ts, "beta.FG1", 2, "Transport")
    proj = b_project(ts, [("alpha.FG1", s2, e3, "community"),          # turns 2-3 (+ nothing else)
                          ("alpha.FG1", para5, int(t.turns.at[4, "offset_end"]), "Mutuality"),
                          ("alpha.FG1", f1s, f1e, "Airtime/transport"),  # facilitator only
                          ("beta.FG1", b1, b2, "Airtime/transport")])
    path = study / "data/codings/coder_b/coder_b.qdpx"
    path.parent.mkdir(parents=True)
    write_qdpx(path, proj)
    with caplog.at_level(logging.INFO):
        cs = read_qdpx_codings(path, "coder_b", ts)
    assert "only facilitator or marker turns (1)" in caplog.text
    got = cs.raw[["transcript", "turn", "start", "end", "label", "coder"]].values.tolist()
    assert got == [
        ["alpha.FG1", 2, ALPHA_FG1[1][3].index("Nobody"), len(ALPHA_FG1[1][3]), "community", "coder_b"],
        ["alpha.FG1", 3, 0, ALPHA_FG1[2][3].index("They walk") + 9, "community", "coder_b"],
        ["alpha.FG1", 5, 0, len(ALPHA_FG1[4][3]), "Mutuality", "coder_b"],
        ["beta.FG1", 2, 0, len("Transport"), "Airtime/transport", "coder_b"],
    ]
    assert sorted(cs.coverage) == [("alpha.FG1", "coder_b", "qdpx", str(path)),
                                   ("beta.FG1", "coder_b", "qdpx", str(path))]
    mapped, um, _ = map_labels(cs.raw, load_codebook(study / "config/codebook.yaml"), "fail")
    # 'community' alone means nothing; under its parent node it is 'Stigma > community'
    assert mapped["code"].tolist() == ["community_stigma", "community_stigma", "mutual", "airtime_transport"]
    assert mapped["label"].tolist()[0] == "Stigma > community"
    assert um.empty


def test_qdpx_source_text_changed_is_reanchored(study: Path, caplog) -> None:
    """(changed: issue 13) a corrected transcript no longer refuses every coding: unchanged spans
    move, a span whose own words changed is left out for review."""
    ts = transcripts_of(study)
    old = ts["alpha.FG1"].text.replace("Nobody sits", "No one ever sits")
    s1, e1 = old.index("No one ever"), old.index("No one ever") + len("No one ever sits")
    s2, e2 = old.index("I was there"), old.index("I was there") + len("I was there")
    path = study / "b.qdpx"
    write_qdpx(path, b_project(ts, [("alpha.FG1", s1, e1, "community"), ("alpha.FG1", s2, e2, "Mutuality")],
                               names={"alpha.FG1": "alpha.FG1.en.txt"}, texts={"alpha.FG1": old}))
    with caplog.at_level(logging.WARNING):
        cs = read_qdpx_codings(path, "coder_b", ts)
    assert cs.raw[["transcript", "turn", "start", "end", "label"]].values.tolist() == [
        ["alpha.FG1", 5, 0, len("I was there"), "Mutuality"]]
    assert [(a["status"], a["old_text"], a["new_text"], a["new_turn"]) for a in cs.anchors] == [
        ("review", "No one ever sits", "Nobody sits", 2), ("moved", "I was there", "I was there", 5)]
    assert "1 coding(s) moved to the corrected text, 1 need review" in caplog.text


def test_qdpx_source_matched_by_identical_text_when_renamed(study: Path) -> None:
    ts = transcripts_of(study)
    s, e = offset(ts, "beta.FG1", 2, "Transport")
    path = study / "b.qdpx"
    write_qdpx(path, b_project(ts, [("beta.FG1", s, e, "Airtime/transport")],
                               names={"beta.FG1": "Interview Betatown (final)"}))
    cs = read_qdpx_codings(path, "coder_b", ts)
    assert cs.raw["transcript"].tolist() == ["beta.FG1"]


def test_qdpx_source_that_is_no_transcript(study: Path) -> None:
    ts = transcripts_of(study)
    path = study / "b.qdpx"
    write_qdpx(path, b_project(ts, [("beta.FG1", 0, 5, "Mutuality")],
                               names={"beta.FG1": "gamma.FG1"}, texts={"beta.FG1": "Something else entirely."}))
    with pytest.raises(InputError, match="source 'gamma.FG1' is not a transcript of this study"):
        read_qdpx_codings(path, "coder_b", ts)


def test_qdpx_that_is_not_a_zip(study: Path) -> None:
    p = study / "data/codings/coder_b/coder_b.qdpx"
    p.parent.mkdir(parents=True)
    p.write_text("<Project/>", encoding="utf-8")
    with pytest.raises(InputError, match=r"is not a \.qdpx \(zip\) file"):
        read_qdpx_codings(p, "coder_b", transcripts_of(study))


def test_qdpx_without_project_file(study: Path) -> None:
    p = study / "coder_b.qdpx"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("Sources/a.txt", "text")
    with pytest.raises(InputError, match="contains no project.qde"):
        read_qdpx_codings(p, "coder_b", transcripts_of(study))


def _tamper(path: Path, old: bytes, new: bytes) -> None:
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    assert old in entries["project.qde"]
    entries["project.qde"] = entries["project.qde"].replace(old, new, 1)
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)


def test_qdpx_code_reference_to_a_missing_code(study: Path) -> None:
    ts = transcripts_of(study)
    s, e = offset(ts, "beta.FG1", 2, "Transport")
    p = study / "b.qdpx"
    write_qdpx(p, b_project(ts, [("beta.FG1", s, e, "Airtime/transport")]))
    _tamper(p, stable_guid("c", "Airtime/transport").encode(), stable_guid("c", "deleted").encode())
    with pytest.raises(InputError) as exc:
        read_qdpx_codings(p, "coder_b", ts)
    assert "which is not in the project's CodeBook" in str(exc.value)
    assert exc.value.problems[0].line is not None


def test_qdpx_offsets_past_the_end_of_the_text(study: Path) -> None:
    ts = transcripts_of(study)
    s, e = offset(ts, "beta.FG1", 2, "Transport")
    p = study / "b.qdpx"
    write_qdpx(p, b_project(ts, [("beta.FG1", s, e, "Airtime/transport")]))
    _tamper(p, f'endPosition="{e}"'.encode(), b'endPosition="99999"')
    with pytest.raises(InputError, match="offsets past the end of the text"):
        read_qdpx_codings(p, "coder_b", ts)


def test_real_qc_export_imports_by_identical_text(tmp_path: Path) -> None:
    """The qc tool's export: sources without our names are matched by text; 205 codings, one user."""
    qc = FIXTURES / "qc-1.3.2_demo_158-selections.qdpx"
    if not qc.is_file():
        pytest.skip("REFI-QDA fixtures not found")
    proj = read_qdpx(qc)
    for k, s in enumerate(proj.sources, start=1):
        lines = s.text.split("\n")
        turns, pos = [], 0
        for ln in lines:
            if ln.strip():
                turns.append(("P01", "psw", "speech", ln, pos))
            pos += len(ln) + 1
        rows = [{"turn": i, "speaker": sp, "text": tx, "line": i, "kind": kd, "timestamp": "",
                 "role": rl, "offset_start": o, "offset_end": o + len(tx)}
                for i, (sp, rl, kd, tx, o) in enumerate(turns, start=1)]
        d = tmp_path / "results/pseudonymised/demo"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"FG{k}.en.txt").write_bytes(s.text.encode("utf-8"))
        pd.DataFrame(rows).to_csv(d / f"FG{k}.en.tsv", sep="\t", index=False, lineterminator="\n")
    ts = transcripts_of(tmp_path)
    cs = read_qdpx_codings(qc, "someone", ts)
    assert len(cs.raw) >= 205                       # one row per coding and line it touches
    assert set(cs.raw["coder"]) == {proj.users[0].name}
    # (changed: issue 13) the source without codings was exported, not coded
    assert {c[0] for c in cs.coverage} == {"demo.FG1"} and {c[0] for c in cs.delivered} == {"demo.FG2"}
    book = load_codebook(ROOT / "config" / "codebook.yaml")
    mapped, um, cands = map_labels(cs.raw, book, "candidate")
    assert len(um) == len(cands) > 10
    assert set(mapped["code"]) <= {c.id for c in cands} | {c.id for c in book.codes}
    assert (mapped["origin"] == "candidate").mean() > 0.9


def test_real_nvivo_export_imports_without_codings(tmp_path: Path, study: Path) -> None:
    nvivo = FIXTURES / "nvivo-mac-15_codes-users_qc-repo.qdpx"
    if not nvivo.is_file():
        pytest.skip("REFI-QDA fixtures not found")
    cs = read_qdpx_codings(nvivo, "coder_x", transcripts_of(study))
    assert cs.raw.empty and cs.coverage == []


# =========================================================================== coder folders


def test_empty_coder_folder_is_an_error(study: Path) -> None:
    (study / "data/codings/coder_c").mkdir()
    write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [])
    with pytest.raises(InputError) as exc:
        discover_codings(study / "data/codings")
    [p] = exc.value.problems
    assert p.path.endswith("coder_c") and "has no codings (it is empty)" in p.message


def test_coder_folder_with_only_other_files_is_an_error(study: Path) -> None:
    (study / "data/codings/coder_c").mkdir()
    (study / "data/codings/coder_c/project.nvp").write_bytes(b"x")
    with pytest.raises(InputError, match=r"has no codings \(found: project.nvp\)"):
        discover_codings(study / "data/codings")


def test_coding_file_outside_a_coder_folder(study: Path) -> None:
    write_tsv(study / "data/codings/alpha.FG1.tsv", [])
    with pytest.raises(InputError, match="cannot be attributed to a coder"):
        discover_codings(study / "data/codings")


# =========================================================================== the stage


def _two_coders(study: Path) -> None:
    ts = transcripts_of(study)
    write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [
        ["alpha.FG1", 2, 0, 19, "Community stigma", ""],
        ["alpha.FG1", 2, 20, 52, "community stigma", "same code, second span"],
        ["alpha.FG1", 5, "", "", "P1 Mutual", ""],
    ])
    write_tsv(study / "data/codings/coder_a/beta.FG1.tsv", [])   # read, nothing coded
    s, e = offset(ts, "alpha.FG1", 3, "no money for airtime")
    b1, b2 = offset(ts, "alpha.FG1", 2, "People call us mad.")
    path = study / "data/codings/coder_b/coder_b.qdpx"
    path.parent.mkdir(parents=True)
    write_qdpx(path, b_project({"alpha.FG1": ts["alpha.FG1"]},
                               [("alpha.FG1", s, e, "Airtime/transport"),
                                ("alpha.FG1", b1, b2, "community")]))


def test_stage_writes_codings_codebook_coverage(study: Path) -> None:
    _two_coders(study)
    o = run_stage(study)
    air = ALPHA_FG1[2][3].index("no money for airtime")
    c = read(o["codings"])
    assert list(c.columns) == ["site", "transcript", "turn", "coder", "code", "theme", "origin",
                               "label", "start", "end", "source", "valence"]
    assert set(c["valence"]) == {""}   # no valence column in these coders' files
    assert c[["transcript", "turn", "coder", "code", "label", "start", "end", "source"]].values.tolist() == [
        ["alpha.FG1", "2", "coder_a", "community_stigma", "Community stigma", "0", "19", "tsv"],
        ["alpha.FG1", "2", "coder_a", "community_stigma", "community stigma", "20", "52", "tsv"],
        ["alpha.FG1", "2", "coder_b", "community_stigma", "Stigma > community", "0", "19", "qdpx"],
        ["alpha.FG1", "3", "coder_b", "airtime_transport", "Airtime/transport", str(air), str(air + 20), "qdpx"],
        ["alpha.FG1", "5", "coder_a", "mutual", "P1 Mutual", "0", str(len(ALPHA_FG1[4][3])), "tsv"],
    ]
    book = read(o["codebook"]).set_index("code")
    assert list(book.index) == ["mutual", "community_stigma", "airtime_transport"]   # theme order
    assert book.loc["community_stigma", ["coders", "n_codings", "n_units", "n_transcripts", "n_sites",
                                         "first_seen", "introduced_by"]].tolist() == [
        "coder_a;coder_b", "3", "1", "1", "1", "alpha.FG1", "coder_a;coder_b"]
    assert book.loc["airtime_transport", "introduced_by"] == "coder_b"       # codebook.yaml wins
    assert book.loc["mutual", "introduced_by"] == ""                           # deductive
    assert book.loc["community_stigma", "labels_used"] == (
        "Community stigma (coder_a); community stigma (coder_a); Stigma > community (coder_b)")
    cov = read(o["coverage"])
    assert cov[["transcript", "coder", "source", "n_codings", "n_units"]].values.tolist() == [
        ["beta.FG1", "coder_a", "tsv", "0", "0"],           # beta first: sites.tsv order
        ["alpha.FG1", "coder_a", "tsv", "3", "2"],
        ["alpha.FG1", "coder_b", "qdpx", "2", "2"],
    ]
    th = read(o["themes"]).set_index("theme")
    assert th.loc["attitudes", ["n_deductive", "n_inductive", "deductive", "inductive"]].tolist() == [
        "1", "1", "mutual", "community_stigma (coder_a;coder_b)"]
    assert th.loc["resources", "inductive"] == "airtime_transport (coder_b)"
    assert read(o["unmapped"]).empty
    note = Path(o["summary"]).read_text(encoding="utf-8")
    assert "| Attitudes | 1 | 1 | community_stigma (coder_a;coder_b) |" in note
    assert "| coder_b | 1 | 2 | 2 |" in note
    # memos never reach results/
    assert "second span" not in Path(o["codings"]).read_text(encoding="utf-8")


def test_stage_is_deterministic(study: Path, tmp_path: Path) -> None:
    _two_coders(study)
    a, b = run_stage(study, out=tmp_path / "a"), run_stage(study, out=tmp_path / "b")
    for k in a:
        assert Path(a[k]).read_bytes() == Path(b[k]).read_bytes(), k


def test_stage_unmapped_fail_writes_nothing(study: Path) -> None:
    write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [["alpha.FG1", 2, "", "", "Team envy", ""]])
    out = study / "results" / "codes"
    with pytest.raises(InputError) as exc:
        run_stage(study, "fail", out=out)
    [p] = exc.value.problems
    assert p.path.endswith("alpha.FG1.tsv") and p.line == 2
    assert "label 'Team envy'" in p.message and "codes.unmapped: candidate" in p.message
    assert not out.exists() or not any(out.iterdir())


def test_stage_unmapped_candidate_becomes_a_candidate_code(study: Path) -> None:
    write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [["alpha.FG1", 2, "", "", "Team envy", ""],
                                                              ["alpha.FG1", 3, "", "", "team-envy", ""]])
    o = run_stage(study, "candidate")
    book = read(o["codebook"]).set_index("code")
    assert book.loc["team_envy", ["origin", "theme", "coders", "n_codings", "n_units"]].tolist() == [
        "candidate", "", "coder_a", "2", "2"]
    um = read(o["unmapped"])
    assert um[["coder", "label", "n", "first_line", "candidate"]].values.tolist() == [
        ["coder_a", "Team envy", "2", "2", "team_envy"]]
    assert set(read(o["codings"])["origin"]) == {"candidate"}


def test_stage_without_codings_still_writes_the_packet(study: Path) -> None:
    (study / "data" / "codings").rmdir()
    o = run_stage(study)
    assert read(o["codings"]).empty
    assert len(read_qdpx(o["packet"]).sources) == 2


# =========================================================================== REFI-QDA exports


@pytest.fixture(scope="module")
def xsd() -> etree.XMLSchema:
    if not XSD.is_file():
        pytest.skip("REFI-QDA XSD not found beside the project")
    return etree.XMLSchema(file=str(XSD))


def test_exports_validate_and_round_trip(study: Path, xsd: etree.XMLSchema) -> None:
    _two_coders(study)
    o = run_stage(study)
    ts = transcripts_of(study)
    with zipfile.ZipFile(o["packet"]) as zf:
        qde = etree.fromstring(zf.read("project.qde"))
    xsd.assertValid(qde)
    # the .qdc is a CodeBook: validate it as the CodeBook of a minimal project
    qdc = etree.parse(o["qdc"]).getroot()
    wrapper = etree.Element("{urn:QDA-XML:project:1.0}Project", name="qdc check")
    cb = etree.SubElement(wrapper, "{urn:QDA-XML:project:1.0}CodeBook")
    codes_el = etree.SubElement(cb, "{urn:QDA-XML:project:1.0}Codes")
    for el in qdc.iter("{urn:QDA-XML:codebook:1.0}Code", "{urn:QDA-XML:codebook:1.0}Description"):
        el.tag = el.tag.replace("urn:QDA-XML:codebook:1.0", "urn:QDA-XML:project:1.0")
    for c in qdc.find("{urn:QDA-XML:codebook:1.0}Codes"):
        codes_el.append(c)
    xsd.assertValid(wrapper)

    packet = read_qdpx(o["packet"])
    assert [s.name for s in packet.sources] == ["beta.FG1", "alpha.FG1"]
    assert {s.name: s.text for s in packet.sources} == {k: v.text for k, v in ts.items()}
    # (changed: issue 13) no users: QualCoder would make the first one every importer's coder name
    assert packet.users == []
    assert packet.codings == []
    themes = [c for c in packet.codes if c.parent is None]
    assert [(c.name, c.is_codable) for c in themes] == [("Attitudes", False), ("Resources", False)]
    under = {c.name: next(t.name for t in themes if t.guid == c.parent) for c in packet.codes if c.parent}
    assert under == {"Mutual": "Attitudes", "Community stigma": "Attitudes",
                     "Airtime and transport costs": "Resources"}
    qdc_codes = read_qdc(o["qdc"])
    assert [(c.guid, c.name, c.parent, c.is_codable) for c in qdc_codes] == \
        [(c.guid, c.name, c.parent, c.is_codable) for c in packet.codes]
    # writing what was read gives the same bytes
    again = Path(o["packet"]).with_name("again.qdpx")
    write_qdpx(again, packet)
    assert again.read_bytes() == Path(o["packet"]).read_bytes()
    # the exported code names are labels the stage maps back to the codes
    book = load_codebook(study / "config/codebook.yaml")
    assert [book.resolve(c.name) for c in packet.codes if c.parent] == ["mutual", "community_stigma",
                                                                        "airtime_transport"]


# =========================================================================== the demo study


@pytest.fixture(scope="module")
def pseudo(demo: Path) -> Path:
    """The demo's pseudonymised transcripts, from the session's end-to-end run (conftest.demo)."""
    return demo / "results" / "pseudonymised"


@pytest.fixture(scope="module")
def codes_out(tmp_path_factory, pseudo: Path) -> dict[str, str]:
    out = tmp_path_factory.mktemp("codes")
    o = outputs(out)
    codings = sorted(str(p) for p in (ROOT / "data/codings").glob("*/*") if p.suffix in (".tsv", ".qdpx"))
    codes_stage(str(ROOT / "config/codebook.yaml"), codings,
                sorted(str(p) for p in pseudo.glob("*/*.en.tsv")),
                sorted(str(p) for p in pseudo.glob("*/*.en.txt")),
                str(ROOT / "data/codings"), "fail", o, sites=str(ROOT / "config/sites.tsv"))
    return o


def _generator():
    spec = importlib.util.spec_from_file_location("make_codings", ROOT / "data/scripts/make_codings.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["make_codings"] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_demo_coders_and_transcripts(codes_out: dict[str, str], pseudo: Path) -> None:
    cov = read(codes_out["coverage"])
    by = cov.groupby("coder")["transcript"].apply(sorted).to_dict()
    assert len(by["coder_a"]) == 15
    assert by["coder_b"] == sorted(DOUBLE_CODED)
    assert set(cov[cov.coder == "coder_b"]["source"]) == {"qdpx"}
    assert read(codes_out["unmapped"]).empty                       # codes.unmapped: fail passes
    book = read(codes_out["codebook"]).set_index("code")
    assert book.loc["hierarchy", "coders"] == "coder_b"
    assert book.loc["role_drift", "coders"] == "coder_a"
    assert (book["n_codings"].astype(int) > 0).sum() >= 38
    c = read(codes_out["codings"])
    # coders spell labels differently for the same code
    labels = c[c.code == "community_stigma"].groupby("coder")["label"].agg(set).to_dict()
    assert "Stigma > community" in labels["coder_b"] and "Community stigma" in labels["coder_a"]


def test_demo_every_published_quote_is_coded_to_its_theme(codes_out: dict[str, str], pseudo: Path) -> None:
    gen = _generator()
    ts = load_transcripts(sorted(str(p) for p in pseudo.glob("*/*.en.tsv")),
                          sorted(str(p) for p in pseudo.glob("*/*.en.txt")))
    quotes = gen.locate_quotes(gen.read_quotes(ROOT / "tests/data/published_quotes.tsv"), ts)
    assert len(quotes) == 30
    theme_no = {c.id: c.theme for c in load_codebook(ROOT / "config/codebook.yaml").codes}
    paper = {int(r["quote"]): r["theme"] for r in gen.read_quotes(ROOT / "tests/data/published_quotes.tsv")}
    label = {t.id: t.label.lower() for t in load_codebook(ROOT / "config/codebook.yaml").themes}
    c = read(codes_out["codings"])
    c[["turn", "start", "end"]] = c[["turn", "start", "end"]].astype(int)
    both = 0
    for q in quotes:
        hit = c[(c.transcript == q.transcript) & (c.turn == q.turn) & (c.start <= q.start)
                & (c.end >= q.end)]
        hit = hit[hit.theme.map(label) == paper[q.quote]]
        assert len(hit), f"quote {q.quote} is not coded to {paper[q.quote]}"
        assert label[theme_no[q.code]] == paper[q.quote]
        both += hit.coder.nunique() == 2
    assert both >= 15        # both coders on most quotes of the double-coded transcripts


def test_demo_codings_are_realistic(codes_out: dict[str, str], pseudo: Path) -> None:
    """Agreement on the double-coded transcripts is good but imperfect, as in real teams."""
    import krippendorff
    import numpy as np
    c = read(codes_out["codings"])
    c = c[c.transcript.isin(DOUBLE_CODED)]
    units = []
    for tid in DOUBLE_CODED:
        site, name = tid.split(".")
        df = read(str(pseudo / site / f"{name}.en.tsv"))
        df = df[(df.kind == "speech") & (df.role != "facilitator") & (df.speaker != "")]
        units += [(tid, t) for t in df.turn]
    ix = {u: i for i, u in enumerate(units)}
    codes = sorted(set(c.code))
    m = np.zeros((len(codes), 2, len(units)))
    for r in c.itertuples():
        m[codes.index(r.code), ["coder_a", "coder_b"].index(r.coder), ix[(r.transcript, r.turn)]] = 1
    pooled = krippendorff.alpha(reliability_data=np.concatenate(list(m), axis=1),
                                level_of_measurement="nominal")
    assert 0.70 <= pooled <= 0.85
    per_code = []
    for i in range(len(codes)):
        if m[i].sum() and m[i].sum() < 2 * len(units):
            per_code.append(krippendorff.alpha(reliability_data=m[i], level_of_measurement="nominal"))
    assert sum(a < 0.667 for a in per_code) >= 3


def test_demo_generator_is_deterministic(tmp_path: Path, pseudo: Path) -> None:
    gen = _generator()
    for sub in ("config", "tests/data"):
        (tmp_path / sub).mkdir(parents=True)
    for f in ("config/codebook.yaml", "config/sites.tsv", "tests/data/published_quotes.tsv"):
        (tmp_path / f).write_bytes((ROOT / f).read_bytes())
    (tmp_path / "results").mkdir()
    (tmp_path / "results/pseudonymised").symlink_to(pseudo)
    gen.main(["--root", str(tmp_path)])
    made = sorted(p.relative_to(tmp_path) for p in (tmp_path / "data/codings").rglob("*")
                  if p.suffix in (".tsv", ".qdpx"))
    committed = sorted(p.relative_to(ROOT) for p in (ROOT / "data/codings").rglob("*")
                       if p.suffix in (".tsv", ".qdpx"))
    assert made == committed
    for rel in made:
        assert hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest() == \
            hashlib.sha256((ROOT / rel).read_bytes()).hexdigest(), \
            f"{rel} differs: re-run data/scripts/make_codings.py (the pseudonymised text changed?)"


def test_demo_coder_b_export_validates(xsd: etree.XMLSchema) -> None:
    p = ROOT / "data/codings/coder_b/coder_b.qdpx"
    if not p.is_file():
        pytest.skip("demo codings not generated")
    with zipfile.ZipFile(p) as zf:
        xsd.assertValid(etree.fromstring(zf.read("project.qde")))
    proj = read_qdpx(p)
    assert [u.name for u in proj.users] == ["coder_b"]
    assert sorted(s.name for s in proj.sources) == sorted(DOUBLE_CODED)
    assert all(c.coder == "coder_b" for c in proj.codings)
