"""How scripts report a user's mistake: one line per problem on stderr, the log keeps it, exit 1."""
from __future__ import annotations

import pytest

from qualflow.errors import InputError, Problem
from qualflow.runner import run


def test_input_error_is_one_line_per_problem_and_exit_1(tmp_path, capsys):
    def step():
        raise InputError.collect([Problem("a.tsv", 3, "bad role"), Problem("b.txt", None, "empty")])

    with pytest.raises(SystemExit) as exc:
        run(step, str(tmp_path / "step.log"))
    assert exc.value.code == 1
    assert capsys.readouterr().err.splitlines() == ["a.tsv:3: bad role", "b.txt: empty"]
    log = (tmp_path / "step.log").read_text()
    assert "ERROR qualflow: a.tsv:3: bad role" in log and "Traceback" not in log


def test_a_bug_keeps_its_traceback_in_the_log(tmp_path):
    with pytest.raises(ZeroDivisionError):
        run(lambda: 1 / 0, str(tmp_path / "step.log"))
    assert "Traceback" in (tmp_path / "step.log").read_text()
