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
