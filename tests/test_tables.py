"""Input-table validation: the column-at-a-time schema check gives exactly jsonschema's messages."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import write

from qualflow import tables
from qualflow.errors import InputError
from qualflow.validate import load_study


def _messages(df: pd.DataFrame, schema: dict) -> list[str]:
    try:
        tables.validate_frame(df, schema, "roster.tsv")
    except InputError as e:
        return [str(p) for p in e.problems]
    return []


def test_column_check_reports_what_row_by_row_jsonschema_reports(monkeypatch):
    schema = tables.load_schema("roster.schema.yaml")
    rows = [
        ["ulm", "FG1", "1", "Ann Ax", "", "psw", "female", "", ""],            # fine
        ["Ulm", "FG1", "2", "Ben Bx", "", "psw", "male", "", ""],              # site pattern
        ["ulm", "FG1|", "3", "Cy Cx", "", "psw", "man", "", ""],               # transcript, gender enum
        ["ulm", "FG1", "F0", "", "", "facilitator", "female", "", "maybe"],    # participant, name, case
        ["ulm", "FG2", "4", "Di Dx", "", "psw", "", "", ""],                   # required gender empty
    ]
    cols = ["site", "transcript", "participant", "name", "aliases", "role", "gender", "label", "case_sensitive"]
    df = pd.DataFrame(rows, columns=cols)
    df["_line"] = range(2, 2 + len(df))
    fast = _messages(df.copy(), schema)
    monkeypatch.setattr(tables, "_rows_passing", lambda df, schema: None)   # the plain jsonschema loop
    slow = _messages(df.copy(), schema)
    assert fast == slow
    assert [m.split(":")[1] for m in fast] == ["3", "4", "4", "5", "5", "5", "6"]
    assert "roster.tsv:4: column gender: \"man\" is not valid (allowed:" in "\n".join(fast)


def test_a_schema_with_other_keywords_goes_row_by_row():
    df = pd.DataFrame({"x": ["a"], "_line": [2]})
    assert tables._rows_passing(df, {"type": "object", "properties": {"x": {"type": "string", "maxLength": 3}}}) is None
    assert tables._rows_passing(df, {"type": "object", "properties": {"x": {"type": "string", "pattern": "^a$"}}}).all()


def test_a_cluster_job_does_not_check_again_what_the_main_process_checked(mini_study):
    """full=False is what a job re-reading the Snakefile does; the main process checked everything."""
    config = yaml.safe_load((mini_study / "config/mini.yaml").read_text())
    f = mini_study / "data/raw/beta/FG1.en.txt"
    write(f, f.read_text(encoding="utf-8").replace("Denis O.:", "Nobody Here:"))
    with pytest.raises(InputError, match="speaker 'Nobody Here' is not in the roster"):
        load_study(config, mini_study)
    job = load_study(config, mini_study, full=False)
    assert sorted((s.site, s.transcript, s.lang) for s in job.sources) == [
        ("alpha", "FG1", "de"), ("alpha", "FG1", "en"), ("beta", "FG1", "en"), ("beta", "FG1", "lg"),
        ("beta", "INT1", "en")]
    assert len(job.transcripts) == 5      # still read: each transcript's wave is a param of the jobs
