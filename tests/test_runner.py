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


def _workflow(local: bool, limit: str):
    from types import SimpleNamespace

    from snakemake.settings.types import MaxJobsPerTimespan

    return SimpleNamespace(
        local_exec=local,
        scheduling_settings=SimpleNamespace(max_jobs_per_timespan=MaxJobsPerTimespan.parse_choice(limit)),
        scheduler=SimpleNamespace(job_rate_limiter=object()),
    )


def test_local_scheduling_drops_the_default_rate_limiter_of_a_local_run_only():
    from qualflow.runner import local_scheduling

    local = _workflow(True, "100/1s")
    assert local_scheduling(local) and local.scheduler.job_rate_limiter is None
    cluster = _workflow(False, "100/1s")          # a cluster run keeps its submission limit
    assert not local_scheduling(cluster) and cluster.scheduler.job_rate_limiter is not None
    chosen = _workflow(True, "10/1s")             # so does a limit the user gave
    assert not local_scheduling(chosen) and chosen.scheduler.job_rate_limiter is not None


def test_local_scheduling_still_matches_snakemakes_scheduler_and_default():
    """The switch is duck-typed on Snakemake's internals: fail here, not silently, when they change."""
    import inspect

    from snakemake.cli import get_argument_parser
    from snakemake.scheduling.job_scheduler import JobScheduler
    from snakemake.workflow import Workflow

    assert "self.job_rate_limiter = (" in inspect.getsource(JobScheduler.__init__)
    assert "self._schedule_reevalutation(self.job_rate_limiter.timespan)" in inspect.getsource(JobScheduler.schedule)
    assert isinstance(Workflow.local_exec, property)
    default = get_argument_parser().parse_args([]).max_jobs_per_timespan
    assert (default.max_jobs, default.timespan) == (100, 1)
