"""Parsing transcripts: the three formats, and every kind of bad input as one clear error."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import write
from qualflow.errors import InputError
from qualflow.transcripts import parse_txt, read_transcript
from qualflow.validate import load_study

FM = "---\nkind: focus_group\ndate: 2018-10-01\n---\n"


def test_txt_turns_markers_continuations_and_lines():
    meta, turns = parse_txt(FM + "A B.: Hello there.\nsecond line\n\n[crosstalk]\n\nC D.: At 10:00 we met.\n"
                                 "\nE F.:\n", "x.txt")
    assert meta == {"kind": "focus_group", "date": "2018-10-01"}
    assert [(t.turn, t.speaker, t.text, t.line, t.kind) for t in turns] == [
        (1, "A B.", "Hello there.\nsecond line", 5, "speech"),
        (2, "", "[crosstalk]", 8, "marker"),
        (3, "C D.", "At 10:00 we met.", 10, "speech"),
        (4, "E F.", "", 12, "speech"),
    ]


def _err(fn, *args) -> str:
    with pytest.raises(InputError) as exc:
        fn(*args)
    lines = str(exc.value).splitlines()
    assert len(lines) >= 1
    return lines[0]


@pytest.mark.parametrize("text, expect", [
    ("", "x.txt:1: the file is empty"),
    ("A B.: hello\n", "x.txt:1: no YAML front matter"),
    ("---\nkind: focus_group\ndate: 2018-10-01\n", "x.txt:1: front matter is not closed"),
    ("---\nkind: [focus\ndate: 2018\n---\nA: b\n", "x.txt:3: front matter is not valid YAML"),
    ("---\nkind: meeting\ndate: 2018-10-01\n---\nA: b\n", "x.txt:2: front matter 'kind' is 'meeting'"),
    ("---\nkind: focus_group\n---\nA: b\n", "x.txt:2: front matter 'date' is None"),
    (FM + "no speaker here\n", "x.txt:5: text with no speaker before it"),
])
def test_txt_bad_input(text, expect):
    assert _err(parse_txt, text, "x.txt").startswith(expect)


def test_non_utf8_names_the_encoding(tmp_path):
    p = tmp_path / "FG1.de.txt"
    p.write_bytes((FM + "Anna S.: Grüße aus Ulm\n").encode("cp1252"))
    msg = _err(read_transcript, p, "alpha")
    assert msg.startswith(f"{p}:5: is not UTF-8 (it looks like Windows-1252")
    assert p.read_bytes() == (FM + "Anna S.: Grüße aus Ulm\n").encode("cp1252")  # input unchanged


def test_hebrew_cp1255_is_recognised(tmp_path):
    p = tmp_path / "FG1.he.txt"
    p.write_bytes((FM + "מיכל: שלום לכולם\n").encode("cp1255"))
    assert "Windows-1255 (Hebrew)" in _err(read_transcript, p, "x")


def test_docx_that_is_not_a_docx(tmp_path):
    p = write(tmp_path / "FG1.de.docx", "I am plain text pretending")
    assert _err(read_transcript, p, "x") == f"{p}: is not a .docx file (not a zip archive; maybe an old .doc " \
                                            "or a renamed text file): save it from Word as 'Word Document (.docx)'"


def test_docx_headings_tables_and_runs(tmp_path):
    import docx
    d = docx.Document()
    for line in ["---", "kind: focus_group", "date: 2018-10-02", "---"]:
        d.add_paragraph(line)
    d.add_heading("Anna S.", level=2)
    p = d.add_paragraph("Ich arbeite ")
    p.add_run("in der Klinik ")
    p.add_run("Buchen").bold = True
    p.add_run("hain.")
    d.add_paragraph("Bernd B.: Genau.")
    t = d.add_table(rows=1, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "Anna S.", "In der Tabelle."
    d.add_paragraph("[Lachen]")
    path = tmp_path / "FG1.de.docx"
    d.save(path)
    tr = read_transcript(path, "alpha")
    assert tr.meta["date"] == "2018-10-02"
    assert [(t.speaker, t.text, t.kind) for t in tr.turns] == [
        ("Anna S.", "Ich arbeite in der Klinik Buchenhain.", "speech"),
        ("Bernd B.", "Genau.", "speech"),
        ("Anna S.", "In der Tabelle.", "speech"),
        ("", "[Lachen]", "marker"),
    ]


def test_vtt_voices_merge_consecutive_cues(tmp_path):
    p = write(tmp_path / "INT1.en.vtt",
              "WEBVTT\n\nNOTE\nkind: interview\ndate: 2018-11-21\n\n"
              "00:00:01.000 --> 00:00:04.000\n<v Isaac M.>Tell me about it.\n\n"
              "00:00:04.500 --> 00:00:08.000\n<v Mercy K.>Well, um, policy\n\n"
              "00:00:08.000 --> 00:00:11.000\n<v Mercy K.>matters a lot.\n\n"
              "00:00:11.000 --> 00:00:12.000\n<v Isaac M.>Thanks.\n")
    tr = read_transcript(p, "beta")
    assert tr.kind == "interview"
    assert [(t.speaker, t.text, t.timestamp, t.line) for t in tr.turns] == [
        ("Isaac M.", "Tell me about it.", "00:00:01.000", 7),
        ("Mercy K.", "Well, um, policy matters a lot.", "00:00:04.500", 10),
        ("Isaac M.", "Thanks.", "00:00:11.000", 16),
    ]


def _load(study: Path):
    return load_study(yaml.safe_load((study / "config/mini.yaml").read_text()), study)


def test_mini_study_loads(mini_study):
    s = _load(mini_study)
    assert sorted((x.site, x.transcript, x.lang) for x in s.sources) == [
        ("alpha", "FG1", "de"), ("alpha", "FG1", "en"), ("beta", "FG1", "en"), ("beta", "FG1", "lg"),
        ("beta", "INT1", "en")]


def _problems(study: Path) -> list[str]:
    with pytest.raises(InputError) as exc:
        _load(study)
    return [str(p) for p in exc.value.problems]


def test_speaker_not_in_roster(mini_study):
    f = mini_study / "data/raw/beta/FG1.en.txt"
    f.write_text(f.read_text().replace("Denis O.: True.", "Nakato S.: True."))
    assert _problems(mini_study) == [f"{f}:9: speaker 'Nakato S.' is not in the roster for beta: did you mean "
                                     "'Nakato'? If it is someone else, add the person (or this spelling as an "
                                     "alias) to roster.tsv"]


def test_transcript_for_unknown_site(mini_study):
    write(mini_study / "data/raw/gamma/FG1.en.txt", FM + "A: b\n")
    assert _problems(mini_study) == [f"{mini_study / 'data/raw/gamma'}: transcripts for site 'gamma', which is "
                                     "not in the sites table: add a row to config/sites.tsv or move the folder"]


def test_local_without_english(mini_study):
    (mini_study / "data/raw/alpha/FG1.en.txt").unlink()
    (problem,) = _problems(mini_study)
    assert problem.startswith(f"{mini_study / 'data/raw/alpha/FG1.de.txt'}: has no English translation")


def test_duplicate_participant_numbers(mini_study):
    r = mini_study / "data/restricted/roster.tsv"
    r.write_text(r.read_text() + "alpha\tFG1\t2\tBerta Bach\tBerta B.\tpsw\tfemale\t\t\n")
    assert _problems(mini_study) == [f"{r}:9: participant 2 appears twice for alpha (also line 3): give each "
                                     "person one row and a unique number"]


@pytest.mark.parametrize("column, bad, expect", [
    # roles are the config's (default: the first demo's four and facilitator), checked against the roster
    ("role", "nurse", "role 'nurse' is not declared in config roles (psw, mh_worker, mh_manager, policy_maker, "
                      "facilitator): fix the role or declare it under roles"),
    ("gender", "f", "column gender: \"f\" is not valid (allowed: female, male, other, not_recorded)"),
])
def test_role_or_gender_outside_schema(mini_study, column, bad, expect):
    r = mini_study / "data/restricted/roster.tsv"
    old = "alpha\tFG1\t1\tAnna Schmidt\tAnna S.|Anna\tpsw\tfemale"
    new = old.replace("\tpsw\t", f"\t{bad}\t") if column == "role" else old.replace("\tfemale", f"\t{bad}")
    r.write_text(r.read_text().replace(old, new))
    assert _problems(mini_study) == [f"{r}:2: {expect}"]


def test_problems_from_several_files_are_all_reported(mini_study):
    r = mini_study / "data/restricted/roster.tsv"
    r.write_text(r.read_text().replace("\tpsw\tfemale", "\tpsw\tf", 1))
    f = mini_study / "data/raw/alpha/FG1.en.txt"
    f.write_text(f.read_text().replace("Bernd B.:", "Bert B.:"))
    problems = _problems(mini_study)
    assert len(problems) == 1 and "column gender" in problems[0]  # roster errors stop speaker checks
