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
           assignments: Path | None = None) -> dict[str, str]:
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
                assignments=str(assignments) if assignments else None)
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
