"""The counted coder: one coder's codings per transcript for every theme count (issue 12 item 8)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import write
from qualflow.counting import counted_coders, counted_codings, lead_coder, primary_problems, read_assignments


def coverage(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"site": t.split(".")[0], "transcript": t, "coder": c} for t, c in rows])


COV = coverage(("ulm.FG1", "coder_a"), ("ulm.FG2", "coder_a"), ("ulm.FG2", "coder_b"),
               ("kampala.FG1", "coder_b"), ("kampala.FG2", "coder_b"), ("kampala.FG2", "coder_c"),
               ("kampala.FG3", "coder_c"))


def test_lead_coder_is_who_coded_most_ties_by_id() -> None:
    assert lead_coder(COV) == "coder_b"                       # 3 transcripts; coder_a 2, coder_c 2
    assert lead_coder(coverage(("a.FG1", "z"), ("a.FG2", "y"))) == "y"
    assert lead_coder(coverage()) == ""


def test_default_rule_without_primaries() -> None:
    got, problems = counted_coders(COV)
    assert problems == []
    by = got.set_index("transcript")
    assert by.loc["ulm.FG2", "counted_coder"] == "coder_b" and by.loc["ulm.FG2", "counted_by"] == "lead coder"
    assert by.loc["ulm.FG1", "counted_coder"] == "coder_a" and by.loc["ulm.FG1", "counted_by"] == "first coder by id"
    assert by.loc["kampala.FG2", "coders"] == "coder_b;coder_c"
    assert list(got["transcript"]) == list(dict.fromkeys(COV["transcript"]))


def test_primary_column_exact_beats_site_beats_all(tmp_path: Path) -> None:
    path = write(tmp_path / "data/coding_assignments.tsv",
                 "coder\ttranscript\tprimary\tnote\n"
                 "coder_a\t*\tyes\tlead\n"
                 "coder_b\t*\t\t\n"
                 "coder_c\tkampala.*\tyes\t\n"
                 "coder_b\tkampala.FG2\tyes\tsecond opinion\n")
    table = read_assignments(path)
    got, problems = counted_coders(COV, table, "data/coding_assignments.tsv")
    assert problems == []
    by = got.set_index("transcript")
    assert by.loc["ulm.FG2", ["counted_coder", "counted_by"]].tolist() == ["coder_a", "primary (data/coding_assignments.tsv:2)"]
    assert by.loc["kampala.FG2", "counted_coder"] == "coder_b"          # the exact row wins
    assert by.loc["kampala.FG3", "counted_coder"] == "coder_c"          # the site row
    # kampala.FG1: the site row's coder_c did not code it, coder_a's * row neither: the default rule
    assert by.loc["kampala.FG1", ["counted_coder", "counted_by"]].tolist() == ["coder_b", "lead coder"]


def test_old_assignments_files_stay_valid(tmp_path: Path) -> None:
    path = write(tmp_path / "a.tsv", "coder\ttranscript\tnote\ncoder_a\t*\tall\n")
    table = read_assignments(path)
    assert primary_problems(table, str(path), COV["transcript"]) == []
    got, problems = counted_coders(COV, table, str(path))
    assert problems == [] and got.set_index("transcript").loc["ulm.FG2", "counted_by"] == "lead coder"
    assert read_assignments(tmp_path / "missing.tsv") is None


def test_two_primaries_and_a_primary_who_did_not_code_are_errors(tmp_path: Path) -> None:
    p = "data/coding_assignments.tsv"
    path = write(tmp_path / p, "coder\ttranscript\tprimary\n"
                               "coder_a\tulm.FG2\tyes\n"
                               "coder_b\tulm.FG2\tyes\n"
                               "coder_a\tkampala.FG3\tyes\n"
                               "coder_c\tkampala.FG1\tmaybe\n")
    table = read_assignments(path)
    got, problems = counted_coders(COV, table, p)
    msgs = [str(x) for x in problems]
    assert msgs == [
        f"{p}:5: primary 'maybe' must be yes or no (empty means no)",
        f"{p}:3: two primary coders for ulm.FG2: coder_a (line 2, ulm.FG2) and coder_b (ulm.FG2): mark one "
        "of them primary, the other 'no'",
        f"{p}:4: coder coder_a is marked primary for kampala.FG3 but did not code it "
        "(results/codes/coverage.tsv lists coder_c): mark a coder of it primary, or deliver coder_a's codings",
    ]
    # the same two-primaries check without the coverage (at load): from the table alone
    assert [str(x) for x in primary_problems(table, p, ["ulm.FG2", "kampala.FG3"])] == msgs[:2]


def test_counted_codings_keep_one_coder_or_all() -> None:
    counted, _ = counted_coders(COV)
    codings = pd.DataFrame({"transcript": ["ulm.FG2", "ulm.FG2", "ulm.FG1", "hamburg.FG1"],
                            "coder": ["coder_a", "coder_b", "coder_a", "coder_a"], "turn": [1, 1, 2, 3]})
    kept, coded = counted_codings(codings, counted)
    assert list(zip(kept["transcript"], kept["coder"])) == [("ulm.FG2", "coder_b"), ("ulm.FG1", "coder_a")]
    assert "hamburg.FG1" not in coded
    union, _ = counted_codings(codings, counted, "union")
    assert len(union) == 3
    same, none = counted_codings(codings, None)
    assert none is None and len(same) == 4
    with pytest.raises(ValueError):
        counted_codings(codings, counted, "consensus")
