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


def test_settled_copies_are_rewritten_only_when_the_bytes_change(tmp_path, monkeypatch):
    """A checkpoint's settled copy (docs/DESIGN.md, "What re-runs") keeps its modification time while
    its bytes are the same: that is what lets Snakemake skip the jobs that read it."""
    import os

    from qualflow.runner import settle_copies
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/t").mkdir(parents=True)
    for name, text in (("a.tsv", "x\n1\n"), ("b.md", "# b\n")):
        (tmp_path / "results/t" / name).write_text(text, encoding="utf-8")
    files = ["results/t/a.tsv", "results/t/b.md"]
    assert settle_copies(files, "settled") == 2
    copies = [tmp_path / "settled" / f for f in files]
    for c in copies:
        os.utime(c, (1_000_000, 1_000_000))
    (tmp_path / "results/t/a.tsv").write_text("x\n1\n", encoding="utf-8")        # rewritten, same bytes
    (tmp_path / "results/t/b.md").write_text("# b, changed\n", encoding="utf-8")
    assert settle_copies(files, "settled") == 1
    assert copies[0].stat().st_mtime == 1_000_000 and copies[1].stat().st_mtime > 1_000_000
    assert copies[1].read_text(encoding="utf-8") == "# b, changed\n"
    assert not list((tmp_path / "settled").rglob(".*.settling"))


def test_run_settles_only_after_the_step_succeeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.tsv").write_text("x\n", encoding="utf-8")

    def failing():
        raise InputError.collect([Problem("a.tsv", 2, "bad")])

    with pytest.raises(SystemExit):
        run(failing, str(tmp_path / "f.log"), settle=(["out.tsv"], "settled"))
    assert not (tmp_path / "settled").exists()
    run(lambda: None, str(tmp_path / "ok.log"), settle=(["out.tsv"], "settled"))
    assert (tmp_path / "settled/out.tsv").read_text(encoding="utf-8") == "x\n"
