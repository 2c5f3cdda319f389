"""Coders' exports in without silent misattribution or shifts (issue 13): line endings and a BOM,
one coder in two files, files in another coder's folder, sources without codings, and codings
re-anchored across a corrected transcript.

Builds on the tiny pseudonymised study of test_codebook (two sites, facilitator and marker turns).
"""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest

from qualflow.anchors import align, line_ending_positions, newline_map, reanchor
from qualflow.codebook import discover_codings, read_codings, read_qdpx_codings
from qualflow.errors import InputError
from qualflow.refiqda import write_qdpx
from test_codebook import (  # noqa: F401  (study is a fixture)
    ALPHA_FG1, b_project, offset, read, run_stage, study, transcripts_of, write_tsv,
)


def _coded(cs) -> list[list]:
    return cs.raw[["transcript", "turn", "start", "end", "label", "coder"]].values.tolist()


def _rezip(path: Path, edit) -> None:
    """Rewrite a .qdpx's entries through ``edit(name, data) -> (name, data)``."""
    with zipfile.ZipFile(path) as zf:
        entries = [(n, zf.read(n)) for n in zf.namelist()]
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in entries:
            zf.writestr(*edit(n, data))


# =========================================================================== line endings and BOM


def test_newline_map_positions() -> None:
    raw = "\ufeffab\r\ncd\re\r\n"
    norm, pos = newline_map(raw)
    assert norm == "ab\ncd\ne\n"
    # every raw offset lands on the same character in the normalised text
    for k, ch in enumerate(raw):
        if ch not in "\ufeff\r":
            assert norm[pos[k]] == ("\n" if ch == "\r" else ch)
    assert pos[len(raw)] == len(norm)


@pytest.mark.parametrize("count_crlf_as", ["two (code points)", "one (QualCoder for MAXQDA)"])
def test_crlf_export_is_the_same_text(study: Path, count_crlf_as: str) -> None:
    """QualCoder's "line endings for MAXQDA" export: CRLF text, positions of the LF text; a spec
    tool (NVivo on Windows) counts both characters. Either way the codings are the LF export's."""
    ts = transcripts_of(study)
    spans = [("alpha.FG1", *offset(ts, "alpha.FG1", 2, "Nobody sits"), "community"),
             ("alpha.FG1", *offset(ts, "alpha.FG1", 3, "They walk"), "Airtime/transport"),
             ("alpha.FG1", *offset(ts, "alpha.FG1", 5, "I understand them"), "Mutuality")]
    lf = study / "lf.qdpx"
    write_qdpx(lf, b_project({"alpha.FG1": ts["alpha.FG1"]}, spans))
    expected = _coded(read_qdpx_codings(lf, "coder_b", ts))
    text = ts["alpha.FG1"].text
    crlf = text.replace("\n", "\r\n")
    if count_crlf_as.startswith("two"):
        spans = [(tid, s + text.count("\n", 0, s), e + text.count("\n", 0, e), c)
                 for tid, s, e, c in spans]
    path = study / "crlf.qdpx"
    write_qdpx(path, b_project({"alpha.FG1": ts["alpha.FG1"]}, spans, texts={"alpha.FG1": crlf}))
    cs = read_qdpx_codings(path, "coder_b", ts)
    assert _coded(cs) == expected and len(expected) == 3
    assert cs.coverage == [("alpha.FG1", "coder_b", "qdpx", str(path))]
    assert cs.anchors == []                         # nothing to review: it is the same text


def test_bom_in_stored_source_is_the_same_text(study: Path) -> None:
    ts = transcripts_of(study)
    spans = [("beta.FG1", *offset(ts, "beta.FG1", 2, "Transport"), "Airtime/transport")]
    path = study / "bom.qdpx"
    write_qdpx(path, b_project({"beta.FG1": ts["beta.FG1"]}, spans))
    _rezip(path, lambda n, d: (n, b"\xef\xbb\xbf" + d.replace(b"\n", b"\r\n"))
           if n.startswith("sources/") else (n, d))
    cs = read_qdpx_codings(path, "coder_b", ts)
    assert _coded(cs) == [["beta.FG1", 2, 0, 9, "Airtime/transport", "coder_b"]]


def test_line_ending_reading_is_chosen_by_the_words() -> None:
    lf = "a\nb\nPeople call us mad.\n"
    raw = lf.replace("\n", "\r\n")
    s = lf.index("mad")
    assert line_ending_positions(raw, [(s, s + 3)]) == ("one per line break", [(s, s + 3)])
    s = raw.index("mad")
    assert line_ending_positions(raw, [(s, s + 3)]) == ("code points", [(lf.index("mad"), lf.index("mad") + 3)])


# =========================================================================== who coded what


def test_same_coder_and_transcript_from_two_files_is_an_error(study: Path, caplog) -> None:
    """A third coder who kept QualCoder's imported name: their export says coder_a."""
    ts = transcripts_of(study)
    tsv = write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [["alpha.FG1", 2, "", "", "P1 Mutual", ""]])
    qdpx = study / "data/codings/coder_c/coder_c.qdpx"
    qdpx.parent.mkdir(parents=True)
    proj = b_project({"alpha.FG1": ts["alpha.FG1"]},
                     [("alpha.FG1", *offset(ts, "alpha.FG1", 2, "Nobody"), "community")])
    proj.users[0] = type(proj.users[0])(proj.users[0].guid, "coder_a")
    proj.codings[:] = [type(c)(c.source, c.start, c.end, c.code, "coder_a") for c in proj.codings]
    write_qdpx(qdpx, proj)
    files = discover_codings(study / "data/codings")
    with caplog.at_level(logging.WARNING), pytest.raises(InputError) as exc:
        read_codings(files, ts)
    assert [str(p) for p in exc.value.problems] == [
        f"{qdpx}: coder coder_a coded alpha.FG1 here and in {tsv} too: a coder codes a transcript "
        "once, so one of the two files is someone else's or an old copy. If another person coded "
        "it (QualCoder names the coder after the first user of the project it imported), set "
        "their own coder name in the tool, export again and put the file in "
        "data/codings/<their id>/; otherwise remove the old file"]
    assert (f"{qdpx}: LOOK: this file is in coder_c's folder but its codings are by coder_a "
            "(their creatingUser), so they are counted as coder_a's.") in caplog.text
    assert "set the coder name to coder_c in the tool and export again" in caplog.text


def test_file_in_another_coders_folder_is_a_loud_warning(study: Path, caplog) -> None:
    ts = transcripts_of(study)
    qdpx = study / "data/codings/coder_c/coder_c.qdpx"
    qdpx.parent.mkdir(parents=True)
    write_qdpx(qdpx, b_project({"beta.FG1": ts["beta.FG1"]},
                               [("beta.FG1", *offset(ts, "beta.FG1", 2, "Transport"), "Mutuality")]))
    with caplog.at_level(logging.WARNING):
        cs = read_codings(discover_codings(study / "data/codings"), ts)
    assert set(cs.raw["coder"]) == {"coder_b"}
    [rec] = [r for r in caplog.records if "LOOK" in r.getMessage()]
    assert rec.levelno == logging.WARNING
    assert "move the file to data/codings/coder_b/" in rec.getMessage()


def test_neutral_user_is_the_folders_coder(study: Path) -> None:
    ts = transcripts_of(study)
    proj = b_project({"beta.FG1": ts["beta.FG1"]},
                     [("beta.FG1", *offset(ts, "beta.FG1", 2, "Transport"), "Mutuality")])
    proj.users[0] = type(proj.users[0])(proj.users[0].guid, "qualflow")
    proj.codings[:] = [type(c)(c.source, c.start, c.end, c.code, "qualflow") for c in proj.codings]
    path = study / "n.qdpx"
    write_qdpx(path, proj)
    assert set(read_qdpx_codings(path, "coder_c", ts).raw["coder"]) == {"coder_c"}


def test_source_without_codings_is_not_counted_as_coded(study: Path) -> None:
    """A coder who exports every source but codes one has coded one, not two with nothing found."""
    ts = transcripts_of(study)
    path = study / "b.qdpx"
    write_qdpx(path, b_project(ts, [("beta.FG1", *offset(ts, "beta.FG1", 2, "Transport"), "Mutuality")]))
    cs = read_qdpx_codings(path, "coder_b", ts)
    assert cs.coverage == [("beta.FG1", "coder_b", "qdpx", str(path))]
    assert cs.delivered == [("alpha.FG1", "coder_b", "qdpx", str(path))]


# =========================================================================== re-anchoring


OLD = ("---\nkind: focus_group\n---\n"
       "P01: People call us mad. Nobody sits near us.\n\n"
       "P02: The peers have no money for airtime.\n\n"
       "P03: I understand them.\n")


def _spans(text: str, *needles: str) -> list[tuple[int, int]]:
    return [(text.index(n), text.index(n) + len(n)) for n in needles]


@pytest.mark.parametrize("edit,moved,review", [
    # an edit before the spans: both move
    (lambda t: t.replace("People call", "Folks call"), 2, 0),
    # an edit inside the first span: it needs review, the other moves
    (lambda t: t.replace("Nobody sits", "No one sits"), 1, 1),
    # an edit after the spans: nothing shifts, nothing to review
    (lambda t: t.replace("understand them", "understand them well"), 2, 0),
    # a whole turn inserted before both spans
    (lambda t: t.replace("P01:", "P09: A new first turn.\n\nP01:"), 2, 0),
    # the turn with the second span deleted: that coding cannot move
    (lambda t: t.replace("P02: The peers have no money for airtime.\n\n", ""), 1, 1),
])
def test_reanchor_edits(edit, moved: int, review: int) -> None:
    spans = _spans(OLD, "Nobody sits near us", "no money for airtime")
    new = edit(OLD)
    got = reanchor(OLD, new, spans)
    assert sum(a.status == "moved" for a in got) == moved
    assert sum(a.status == "review" for a in got) == review
    for (s, e), a in zip(spans, got):
        if a.status == "moved":                 # never on the wrong text
            assert new[a.start:a.end] == OLD[s:e]


def test_reanchor_never_finds_a_deleted_turns_words_elsewhere() -> None:
    old = "P01: Yes.\n\nP02: We walk.\n\nP03: Yes.\n"
    new = "P01: Yes.\n\nP02: We walk.\n"
    [a] = reanchor(old, new, [(old.rindex("Yes."), old.rindex("Yes.") + 4)])
    assert a.status == "review"
    assert align(old, old) == [type(align(old, old)[0])(0, 0, len(old))]


# =========================================================================== the project export


import pandas as pd  # noqa: E402
from lxml import etree  # noqa: E402

from qualflow.codebook import codes_stage  # noqa: E402
from qualflow.refiqda import read_qdpx  # noqa: E402
from test_codebook import XSD, _two_coders, outputs  # noqa: E402

ROSTER = ("site\ttranscript\tparticipant\tname\taliases\trole\tgender\tlabel\tcase_sensitive\n"
          "alpha\tFG1\t1\tAnna Synthetic\t\tpsw\tfemale\tPeer worker\t\n"
          "alpha\tFG1\t2\tBernd Synthetic\t\tmh_worker\tmale\t\t\n"
          "alpha\tFG1\tF1\tFranz Synthetic\t\tfacilitator\tmale\t\t\n"
          "beta\tFG1\t3\tSarah Synthetic\t\tpsw\tfemale\t\t\n"
          "beta\tFG1\tF1\tIsaac Synthetic\t\tfacilitator\tmale\t\t\n")


def _stage(root: Path, out: Path, codings_dir: Path | None = None, unmapped: str = "fail",
           assignments: Path | None = None, decisions: Path | None = None) -> dict[str, str]:
    o = outputs(out)
    o["project"] = str(out / "project.qdpx")
    d = codings_dir or root / "data" / "codings"
    p = root / "results" / "pseudonymised"
    (root / "data/restricted").mkdir(parents=True, exist_ok=True)
    (root / "data/restricted/roster.tsv").write_text(ROSTER, encoding="utf-8")
    codes_stage(str(root / "config/codebook.yaml"),
                sorted(str(x) for x in d.glob("*/*") if x.suffix in (".tsv", ".qdpx")),
                sorted(str(x) for x in p.glob("*/*.en.tsv")), sorted(str(x) for x in p.glob("*/*.en.txt")),
                str(d), unmapped, o, sites=str(root / "config/sites.tsv"),
                roster=str(root / "data/restricted/roster.tsv"),
                assignments=str(assignments) if assignments else None,
                decisions=str(decisions) if decisions else None)
    return o


def _with_memo(study: Path) -> None:
    _two_coders(study)   # coder_a: TSV (one row with a memo); coder_b: .qdpx


def test_project_has_every_coders_codings_and_validates(study: Path, tmp_path: Path) -> None:
    _with_memo(study)
    a = _stage(study, tmp_path / "a")
    b = _stage(study, tmp_path / "b")
    assert Path(a["project"]).read_bytes() == Path(b["project"]).read_bytes()      # deterministic
    with zipfile.ZipFile(a["project"]) as zf:
        names = zf.namelist()
        qde = etree.fromstring(zf.read("project.qde"))
    assert names[0] == "project.qde" and all(n.startswith("sources/") for n in names[1:])
    etree.XMLSchema(file=str(XSD)).assertValid(qde)
    proj = read_qdpx(a["project"])
    assert [u.name for u in proj.users] == ["qualflow", "coder_a", "coder_b"]   # neutral user first
    ts = transcripts_of(study)
    got = sorted((c.coder, proj.sources[[s.guid for s in proj.sources].index(c.source)].name,
                  ts["alpha.FG1"].text[c.start:c.end], next(k.name for k in proj.codes if k.guid == c.code),
                  c.memo) for c in proj.codings)
    assert got == [
        ("coder_a", "alpha.FG1", "I was there too, so I understand them.", "Mutual", ""),
        ("coder_a", "alpha.FG1", "Nobody sits near us in the taxi.", "Community stigma", "same code, second span"),
        ("coder_a", "alpha.FG1", "People call us mad.", "Community stigma", ""),
        ("coder_b", "alpha.FG1", "People call us mad.", "Community stigma", ""),
        ("coder_b", "alpha.FG1", "no money for airtime", "Airtime and transport costs", ""),
    ]
    themes = {c.guid: c.name for c in proj.codes if c.parent is None}
    assert {c.name: themes[c.parent] for c in proj.codes if c.parent} == {
        "Mutual": "Attitudes", "Community stigma": "Attitudes", "Airtime and transport costs": "Resources"}
    # cases: sites and participants (pseudonyms, never names), attributes as variables
    ns = {"q": "urn:QDA-XML:project:1.0"}
    var = {v.get("guid"): v.get("name") for v in qde.iterfind("q:Variables/q:Variable", ns)}
    cases = {c.get("name"): {var[vv.find("q:VariableRef", ns).get("targetGUID")]: vv.findtext("q:TextValue", "", ns)
                             for vv in c.iterfind("q:VariableValue", ns)}
             for c in qde.iterfind("q:Cases/q:Case", ns)}
    assert list(cases) == ["Betatown", "Alphaville", "alpha.P01", "alpha.P02", "beta.P03"]
    assert cases["Alphaville"]["setting"] == "high-income" and cases["Betatown"]["income_group"] == "low"
    assert cases["alpha.P01"] == {"site": "alpha", "role": "psw", "gender": "female", "label": "Peer worker",
                                  "wave": ""}
    assert b"Synthetic" not in Path(a["project"]).read_bytes()     # no roster name anywhere


def test_project_rereads_to_the_same_codings(study: Path, tmp_path: Path) -> None:
    """Our own reader gives back codings.tsv from project.qdpx (labels become the codebook's)."""
    _with_memo(study)
    first = _stage(study, tmp_path / "first")
    lead = tmp_path / "codings"
    (lead / "lead").mkdir(parents=True)
    (lead / "lead" / "project.qdpx").write_bytes(Path(first["project"]).read_bytes())
    again = _stage(study, tmp_path / "again", codings_dir=lead)
    key = ["site", "transcript", "turn", "coder", "code", "theme", "origin", "start", "end"]
    a, b = read(first["codings"]), read(again["codings"])
    assert len(a) == 5 and a[key].values.tolist() == b[key].values.tolist()
    assert set(b["source"]) == {"qdpx"}


# =========================================================================== coding assignments


def _b_codes_one_of_two(study: Path) -> Path:
    ts = transcripts_of(study)
    path = study / "data/codings/coder_b/coder_b.qdpx"
    path.parent.mkdir(parents=True)
    write_qdpx(path, b_project(ts, [("alpha.FG1", *offset(ts, "alpha.FG1", 2, "Nobody"), "community")]))
    write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [["alpha.FG1", 2, "", "", "Community stigma", ""]])
    write_tsv(study / "data/codings/coder_a/beta.FG1.tsv", [])
    return path


def test_without_assignments_only_coded_sources_count(study: Path, tmp_path: Path, caplog) -> None:
    _b_codes_one_of_two(study)
    with caplog.at_level(logging.WARNING):
        o = _stage(study, tmp_path / "o")
    cov = read(o["coverage"])
    assert cov[["transcript", "coder"]].values.tolist() == [["beta.FG1", "coder_a"], ["alpha.FG1", "coder_a"],
                                                            ["alpha.FG1", "coder_b"]]
    note = Path(o["summary"]).read_text(encoding="utf-8")
    assert ("Counted as coded: a transcript a coder delivered as a TSV (even header-only) or one holding "
            "at least one of their .qdpx codings (no coding assignments table).") in note
    assert ("Coder coder_b: 1 source(s) in their .qdpx have none of their codings and are not counted as "
            "coded (beta.FG1); if they read them and found nothing, list them in the coding assignments "
            "table.") in note
    assert "coder coder_b: 1 source(s) in their .qdpx have none of their codings" in caplog.text


def test_assignments_count_a_delivered_source_without_codings(study: Path, tmp_path: Path) -> None:
    _b_codes_one_of_two(study)
    table = write_tsv(study / "data/coding_assignments.tsv",
                      [["coder_a", "*"], ["coder_b", "alpha.*"], ["coder_b", "beta.FG1"]],
                      header=("coder", "transcript"))
    o = _stage(study, tmp_path / "o", assignments=table)
    cov = read(o["coverage"])
    assert cov[["transcript", "coder", "n_codings"]].values.tolist() == [
        ["beta.FG1", "coder_a", "0"], ["beta.FG1", "coder_b", "0"],
        ["alpha.FG1", "coder_a", "1"], ["alpha.FG1", "coder_b", "1"]]
    note = Path(o["summary"]).read_text(encoding="utf-8")
    assert f"Counted as coded: the transcripts {table} assigns to coder_a, coder_b." in note
    assert "not counted as coded" not in note


def test_assignment_without_a_delivery_or_codings_without_assignment(study: Path, tmp_path: Path) -> None:
    _b_codes_one_of_two(study)
    (study / "data/codings/coder_a/beta.FG1.tsv").unlink()
    table = write_tsv(study / "data/coding_assignments.tsv",
                      [["coder_a", "beta.FG1"], ["coder_b", "alpha.FG1"], ["coder_b", "gamma.FG1"]],
                      header=("coder", "transcript"))
    out = tmp_path / "o"
    with pytest.raises(InputError) as exc:
        _stage(study, out, assignments=table)
    assert [str(p) for p in exc.value.problems] == [
        f"{table}:2: coder coder_a is assigned beta.FG1 but delivered nothing for it (no "
        "data/codings/coder_a/beta.FG1.tsv and no source for it in their .qdpx): add their file, or "
        "remove the row",
        f"{table}: coder coder_a coded alpha.FG1 ({study}/data/codings/coder_a/alpha.FG1.tsv) but the "
        "table does not assign it to them: add the row 'coder_a\talpha.FG1', or remove those codings",
        f"{table}:4: transcript 'gamma.FG1' of coder coder_b matches no transcript of the study: use "
        "<site>.<transcript>, <site>.* or *",
    ]
    assert not out.exists() or not any(out.iterdir())


# =========================================================================== checked at load


def test_codings_problems_stop_snakemake_n_before_any_job(tmp_path: Path) -> None:
    """Issue 12 item 2: an unknown label, a turn that does not exist and a coder coding one
    transcript twice are reported by `snakemake -n`, one line each, before any job."""
    from conftest import copy_project, snakemake
    project = copy_project(tmp_path / "p")
    f = project / "data/codings/coder_a/ulm.FG1.tsv"
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("P1 Mutual", "Stafff acceptance")     # line 2: a typo'd label
    lines[2] = "ulm.FG1\t999\t\t\tP1 Mutual\t"                          # line 3: no such turn
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # coder_b's .qdpx has ulm.FG2; a TSV of theirs for it too is the same coder x transcript twice
    dup = project / "data/codings/coder_b/ulm.FG2.tsv"
    dup.write_text("transcript\tturn\tcode\nulm.FG2\t4\tP1 Mutual\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in (project / "data").rglob("*") if p.is_file()}
    proc = snakemake(project, "-n", check=False)
    assert proc.returncode == 1
    err = [l for l in proc.stderr.splitlines() if l.startswith("data/")]
    assert err[0] == ("data/codings/coder_a/ulm.FG1.tsv:3: turn 999 does not exist in ulm.FG1 (it has "
                      "turns 1-89): check the turn number against results/pseudonymised/ulm/FG1.en.tsv")
    assert err[1] == (
        "data/codings/coder_b/ulm.FG2.tsv: coder coder_b coded ulm.FG2 here and in "
        "data/codings/coder_b/coder_b.qdpx too: a coder codes a transcript once, so one of the two files is "
        "someone else's or an old copy. If another person coded it (QualCoder names the coder after the first "
        "user of the project it imported), set their own coder name in the tool, export again and put the "
        "file in data/codings/<their id>/; otherwise remove the old file")
    assert err[2] == (
        "data/codings/coder_a/ulm.FG1.tsv:2: coder coder_a: label 'Stafff acceptance' (1 coding(s)) matches "
        "no code in config/codebook.yaml: did you mean 'Staff acceptance' (staff_acceptance)? add "
        "'Stafff acceptance' to its synonyms, or add a new code for it to the codebook, or set "
        "codes.unmapped: candidate to keep it as a candidate code")
    assert len(err) == 3
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "qualflow: 3 input problem(s); nothing was run or changed." in proc.stderr
    assert not (project / "results").exists() or not any((project / "results").rglob("*.tsv"))
    assert {p: p.read_bytes() for p in (project / "data").rglob("*") if p.is_file()} == before


def test_a_coding_rows_transcript_is_checked_at_load(tmp_path: Path) -> None:
    """A row naming a transcript that does not exist, or another file's transcript, is one line at
    load, worded as the codes job words it (one function for both)."""
    from conftest import copy_project, snakemake
    project = copy_project(tmp_path / "p")
    f = project / "data/codings/coder_a/ulm.FG1.tsv"
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[1] = "ulm.FG9\t4\t\t\tP1 Mutual\t"                              # line 2: no such transcript
    lines[2] = "ulm.FG2\t4\t\t\tP1 Mutual\t"                              # line 3: another file's
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = snakemake(project, "-n", check=False)
    assert proc.returncode == 1
    err = [l for l in proc.stderr.splitlines() if l.startswith("data/")]
    assert err == [
        "data/codings/coder_a/ulm.FG1.tsv:2: transcript 'ulm.FG9' does not exist (known: "
        "beer_sheva.FG1, beer_sheva.FG2, dar_es_salaam.FG1, dar_es_salaam.FG2, hamburg.FG1, hamburg.FG2, "
        "...): use <site>.<transcript> as in results/pseudonymised/<site>/<transcript>.en.tsv",
        "data/codings/coder_a/ulm.FG1.tsv:3: the row names transcript 'ulm.FG2' but the file is "
        "ulm.FG1's: move the row to ulm.FG2.tsv or correct the transcript",
    ]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_a_jobs_input_problems_are_the_runs_last_lines(tmp_path: Path) -> None:
    """What only the codes job can check (a span against the pseudonymised turn) ends the run with
    its one line, after Snakemake's report of the failed job."""
    from conftest import copy_project, snakemake
    project = copy_project(tmp_path / "p")
    f = project / "data/codings/coder_a/ulm.FG1.tsv"
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[1] = "ulm.FG1\t9\t0\t99999\tP1 Mutual\t"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = snakemake(project, "--profile", "profiles/default", check=False)
    assert proc.returncode == 1
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    at = lines.index("qualflow: 1 input problem(s) stopped the run:")
    assert lines[at + 1] == (
        "data/codings/coder_a/ulm.FG1.tsv:2: coder coder_a: span 0-99999 in ulm.FG1 turn 9 is past the end of "
        "the turn (the turn text is 198 characters long; end is exclusive): the transcript changed after "
        "coding, or the offsets are wrong; re-check the coding against the current transcript")
    # after them only Snakemake's own closing lines (log path, time, "did not complete")
    assert all(l.startswith(("Complete log", "Elapsed time", "WorkflowError", "At least one job"))
               for l in lines[at + 2:]), lines[at + 2:]
    assert "Traceback" not in proc.stderr


# =========================================================================== TSV anchors


from qualflow.coding_checks import turn_sha  # noqa: E402
from test_codebook import make_transcript  # noqa: E402


def test_tsv_codings_follow_a_corrected_transcript(study: Path, tmp_path: Path) -> None:
    """A site corrects alpha.FG1: two turns inserted at the start, a word fixed inside one coded
    span, the turn with another coding deleted. TSV codings anchored with turn_sha and/or text."""
    old = transcripts_of(study)["alpha.FG1"]
    t2, t3, t5 = (old.turn_row(k)["text"] for k in (2, 3, 5))
    write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [
        ["alpha.FG1", 2, 0, 19, "Community stigma", "People call us mad.", turn_sha(t2)],   # word fixed
        ["alpha.FG1", 2, 20, 52, "Community stigma", "Nobody sits near us in the taxi.", ""],  # words kept
        ["alpha.FG1", 3, "", "", "Airtime/transport", "", turn_sha(t3)],                    # turn deleted
        ["alpha.FG1", 5, "", "", "P1 Mutual", "", turn_sha(t5)],                            # renumbered
        ["alpha.FG1", 5, 0, 5, "P1 Mutual", "I was", ""],                                   # renumbered, by text
        ["alpha.FG1", 1, "", "", "P1 Mutual", "", turn_sha(old.turn_row(1)["text"])],       # unchanged: no row
    ], header=("transcript", "turn", "start", "end", "code", "text", "turn_sha"))
    corrected = [ALPHA_FG1[0], ("P02", "mh_worker", "speech", "A new first answer."),
                 ("P02", "mh_worker", "speech", "And a second one."),
                 ("P01", "psw", "speech", "People call us crazy. Nobody sits near us in the taxi."),
                 ALPHA_FG1[3], ALPHA_FG1[4]]
    make_transcript(study, "alpha", "FG1", corrected)
    o = _stage(study, tmp_path / "o")
    c = read(o["codings"])
    got = c[c["coder"] == "coder_a"][["turn", "start", "end", "code"]].values.tolist()
    assert got == [["4", "22", "54", "community_stigma"], ["6", "0", "5", "mutual"],
                   ["6", "0", str(len(t5)), "mutual"]]
    new = transcripts_of(study)["alpha.FG1"]
    assert new.turn_row(4)["text"][22:54] == "Nobody sits near us in the taxi."    # the same words
    assert new.turn_row(6)["text"] == t5
    rv = read(o["reanchor"])
    assert rv["status"].value_counts().to_dict() == {"moved": 3, "review": 2}
    for r in rv[rv["status"] == "moved"].itertuples():                          # never the wrong words
        assert new.turn_row(int(r.new_turn))["text"][int(r.new_start):int(r.new_end)] == r.new_text
        assert r.old_text in ("", r.new_text)
    review = rv[rv["status"] == "review"]
    assert review[["old_turn", "old_text", "new_turn", "new_text"]].values.tolist() == [
        ["2", "People call us mad.", "2", "A new first answer."],     # what the stated place holds now
        ["3", "", "3", "And a second one."],
    ]
    note = Path(o["summary"]).read_text(encoding="utf-8")
    assert "3 coding(s) were made on an older version of their transcript and moved" in note
    assert "2 need review" in note
    turns = read(o["turns"])
    assert turns[turns["transcript"] == "alpha.FG1"]["turn_sha"].tolist() == \
        [turn_sha(x[3]) for x in corrected]


def test_valence_is_co_coded_in_the_project_and_read_back(study: Path, tmp_path: Path) -> None:
    write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv", [
        ["alpha.FG1", 2, 0, 19, "Community stigma", "barrier"],
        ["alpha.FG1", 5, "", "", "P1 Mutual", "facilitator"],
        ["alpha.FG1", 3, "", "", "Airtime/transport", ""],
    ], header=("transcript", "turn", "start", "end", "code", "valence"))
    first = _stage(study, tmp_path / "first")
    proj = read_qdpx(first["project"])
    valence = {c.guid: c.name for c in proj.codes if c.parent and
               next(p.name for p in proj.codes if p.guid == c.parent) == "Valence"}
    assert sorted(valence.values()) == ["barrier", "facilitator", "mixed"]
    by_sel: dict[str, list[str]] = {}
    for c in proj.codings:
        by_sel.setdefault(c.selection_guid, []).append(valence.get(c.code, "code"))
    assert sorted(sorted(v) for v in by_sel.values()) == [["barrier", "code"], ["code"], ["code", "facilitator"]]
    lead = tmp_path / "codings"
    (lead / "lead").mkdir(parents=True)
    (lead / "lead" / "project.qdpx").write_bytes(Path(first["project"]).read_bytes())
    again = _stage(study, tmp_path / "again", codings_dir=lead)
    key = ["transcript", "turn", "coder", "code", "start", "end", "valence"]
    assert read(first["codings"])[key].values.tolist() == read(again["codings"])[key].values.tolist()
    assert read(again["codings"])["valence"].tolist() == ["barrier", "", "facilitator"]


def test_project_transcripts_carry_their_wave_and_per_wave_groups(study: Path) -> None:
    import dataclasses

    from qualflow.codebook import CODINGS_COLUMNS, export_codes, load_codebook
    from qualflow.project_export import study_project
    from qualflow.refiqda import stable_guid
    ts = transcripts_of(study)
    ts["alpha.FG1"] = dataclasses.replace(ts["alpha.FG1"], text=ts["alpha.FG1"].text.replace(
        "---\nkind:", "---\nwave: post\nkind:", 1))
    sites = pd.DataFrame({"site": ["beta", "alpha"], "name": ["Betatown", "Alphaville"]})
    waves = pd.DataFrame({"site": ["alpha", "alpha"], "wave": ["pre", "post"],
                          "income_group": ["low", "lower-middle"]})
    proj = study_project(export_codes(load_codebook(study / "config/codebook.yaml")), ts,
                         {"beta.FG1": 0, "alpha.FG1": 1}, pd.DataFrame(columns=CODINGS_COLUMNS + ["memo"]),
                         sites, [], {t: stable_guid("s", t) for t in ts}, waves)
    names = {v.guid: v.name for v in proj.variables}
    alpha = next(s for s in proj.sources if s.name == "alpha.FG1")
    assert {names[g]: x for g, x in alpha.values} == {
        "transcript site": "alpha", "transcript kind": "focus_group", "transcript date": "2018-10-01",
        "transcript wave": "post", "transcript income_group": "lower-middle"}
    assert [u.name for u in proj.users] == ["qualflow"] and proj.codings == []


def test_qdpx_codings_follow_inserted_and_deleted_turns(study: Path, tmp_path: Path) -> None:
    """coder_b coded the old alpha.FG1; the site then inserted a turn at the start and deleted the
    turn with the airtime passage. The stage moves two codings, sends one to review, and reports it."""
    old = transcripts_of(study)
    spans = [("alpha.FG1", *offset(old, "alpha.FG1", 2, "Nobody sits near us"), "community"),
             ("alpha.FG1", *offset(old, "alpha.FG1", 3, "no money for airtime"), "Airtime/transport"),
             ("alpha.FG1", *offset(old, "alpha.FG1", 5, "I understand them"), "Mutuality")]
    path = study / "data/codings/coder_b/coder_b.qdpx"
    path.parent.mkdir(parents=True)
    write_qdpx(path, b_project({"alpha.FG1": old["alpha.FG1"]}, spans))
    make_transcript(study, "alpha", "FG1", [ALPHA_FG1[0], ("P02", "mh_worker", "speech", "An added turn."),
                                            ALPHA_FG1[1], ALPHA_FG1[3], ALPHA_FG1[4]])
    o = _stage(study, tmp_path / "o")
    new = transcripts_of(study)["alpha.FG1"]
    c = read(o["codings"])
    got = [(int(r.turn), new.turn_row(int(r.turn))["text"][int(r.start):int(r.end)], r.code)
           for r in c.itertuples()]
    assert got == [(3, "Nobody sits near us", "community_stigma"), (5, "I understand them", "mutual")]
    rv = read(o["reanchor"])
    assert rv[["status", "old_text"]].values.tolist() == [
        ["review", "no money for airtime"], ["moved", "Nobody sits near us"], ["moved", "I understand them"]]
    assert read(o["coverage"])[["transcript", "coder", "n_codings"]].values.tolist() == [
        ["alpha.FG1", "coder_b", "2"]]


def test_demo_project_export(demo: Path) -> None:
    """The workflow's project.qdpx on the demo: valid, every codings.tsv row once, by its coder."""
    p = demo / "results/codes/project.qdpx"
    with zipfile.ZipFile(p) as zf:
        qde = etree.fromstring(zf.read("project.qde"))
    etree.XMLSchema(file=str(XSD)).assertValid(qde)
    proj = read_qdpx(p)
    codings = read(str(demo / "results/codes/codings.tsv"))
    assert len(proj.codings) == len(codings)
    assert sorted(pd.Series([c.coder for c in proj.codings]).value_counts().items()) == \
        sorted(codings["coder"].value_counts().items())
    assert [u.name for u in proj.users] == ["qualflow", "coder_a", "coder_b"]
    ns = {"q": "urn:QDA-XML:project:1.0"}
    cases = [c.get("name") for c in qde.iterfind("q:Cases/q:Case", ns)]
    assert cases[:5] == ["Ulm", "Hamburg", "Kampala", "Dar es Salaam", "Be\u2019er Sheva"]
    assert len(cases) == 5 + 86 + 3              # sites, focus-group participants, interviewees
    assert len(proj.sources) == 15 and all(s.name.count(".") == 1 for s in proj.sources)


def test_reanchor_never_matches_a_short_phrase_of_a_removed_turn_in_a_changed_one() -> None:
    """P01's turn deleted and P02's edited in one block: P01's "Yes." is not P02's new "Yes."."""
    old = "P01: Yes.\n\nP02: We walk to the villages every single day.\n"
    new = "P02: Yes. We walk to the villages every single day!\n"
    s = old.index("Yes.")
    [a, b] = reanchor(old, new, [(s, s + 4), (old.index("walk"), old.index("walk") + 4)])
    assert a.status == "review"
    assert b.status == "moved" and new[b.start:b.end] == "walk"


def test_a_person_accepts_or_rejects_codings_held_for_review(study: Path, tmp_path: Path, caplog) -> None:
    """The review table's rows, copied with a decision: accept takes the proposed span, reject drops."""
    ts = transcripts_of(study)
    old = ts["alpha.FG1"].text.replace("Nobody sits", "No one ever sits")
    s1 = old.index("No one ever sits")
    s2 = old.index("They walk")
    path = study / "data/codings/coder_b/coder_b.qdpx"
    path.parent.mkdir(parents=True)
    write_qdpx(path, b_project({"alpha.FG1": ts["alpha.FG1"]},
                               [("alpha.FG1", s1, s1 + 16, "community"),
                                ("alpha.FG1", s2, s2 + 9, "Airtime/transport")],
                               texts={"alpha.FG1": old}))
    tsv = write_tsv(study / "data/codings/coder_a/alpha.FG1.tsv",
                    [["alpha.FG1", 2, 0, 19, "Community stigma", "People call us bad."]],
                    header=("transcript", "turn", "start", "end", "code", "text"))
    first = _stage(study, tmp_path / "first")
    rv = read(first["reanchor"])
    assert rv["status"].tolist() == ["review", "review", "moved"]
    decisions = write_tsv(study / "data/reanchor_decisions.tsv", [
        list(rv.loc[0, ["coder", "transcript", "label", "old_turn", "old_start", "old_end"]]) + ["accept"],
        list(rv.loc[1, ["coder", "transcript", "label", "old_turn", "old_start", "old_end"]]) + ["reject"],
        ["coder_b", "alpha.FG1", "Mutuality", "", "1", "2", "accept"],        # matches nothing
    ], header=("coder", "transcript", "label", "old_turn", "old_start", "old_end", "decision"))
    with caplog.at_level(logging.WARNING):
        o = _stage(study, tmp_path / "o", decisions=decisions)
    rv = read(o["reanchor"])
    assert rv["status"].tolist() == ["accepted", "rejected", "moved"]
    c = read(o["codings"])
    new = transcripts_of(study)["alpha.FG1"]
    got = [(r.coder, new.turn_row(int(r.turn))["text"][int(r.start):int(r.end)]) for r in c.itertuples()]
    accepted = rv.loc[0]
    assert (accepted["coder"], accepted["new_text"]) in got                 # the proposed span
    assert ("coder_b", "They walk") in got and len(got) == 2
    assert f"{decisions}:4: this decision matches no coding held for review" in caplog.text
    note = Path(o["summary"]).read_text(encoding="utf-8")
    assert "By decision, 1 took their proposed span and 1 were dropped." in note
    del tsv
