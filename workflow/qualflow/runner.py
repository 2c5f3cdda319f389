"""How a workflow script runs a library call: logging to the rule's log, and user errors as one line.

Scripts stay thin: ``run(main, snakemake.log[0])``. An :class:`InputError` prints
``path:line: message`` per problem (to stderr and the log) and exits 1 without a traceback; any other
exception is a bug and keeps its traceback in the log.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from .errors import InputError

log = logging.getLogger("qualflow")


def setup_logging(log_path: str | None) -> None:
    """Log progress to the rule's log file and to stderr, with timestamps for long steps."""
    console = logging.StreamHandler(sys.stderr)
    # Errors reach the console once, as the plain `path:line: message` lines run() prints.
    console.addFilter(lambda record: record.levelno < logging.ERROR)
    handlers: list[logging.Handler] = [console]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run(main: Callable[[], None], log_path: str | None = None,
        settle: tuple[Sequence[str], str] | None = None) -> None:
    """Run one step; turn a user's input error into one line per problem and exit status 1.

    ``settle=(files, root)``: after the step succeeds, copy each of ``files`` to ``root/<file>`` where
    the bytes differ (:func:`settle_copies`; a checkpoint's settled copies, docs/DESIGN.md "What re-runs").
    """
    setup_logging(log_path)
    try:
        main()
        if settle:
            changed = settle_copies(*settle)
            log.info("settled copies: %d of %d changed", changed, len(settle[0]))
    except InputError as e:
        for problem in e.problems:
            log.error("%s", problem)
            print(problem, file=sys.stderr)
        sys.exit(1)
    except Exception:
        log.exception("unexpected error (a bug in qualflow: please report it with this log)")
        raise


def settle_copies(files: Sequence[str], root: str | Path) -> int:
    """Copy each of ``files`` to ``root/<file>`` only where the copy is missing or its bytes differ;
    return how many were written. An unchanged copy keeps its modification time: that is the point.

    Snakemake touches every output of a job it ran, so a job that rewrote the same bytes still looks
    new to the jobs that read it. Those jobs read the settled copies instead (through a checkpoint,
    which makes Snakemake look at their inputs again once this job has finished), and are skipped when
    the bytes they read did not change. Each copy is written to a temporary file and renamed, so a
    reader never sees half a copy.
    """
    import filecmp
    import os
    import shutil

    written = 0
    for f in files:
        src, dst = Path(f), Path(root) / f
        if dst.exists() and filecmp.cmp(src, dst, shallow=False):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.settling")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        written += 1
    return written


def job_input_errors(log_dir: str | Path, since: float) -> list[str]:
    """The user-input problems the failed jobs of this run logged (``run`` logs each as one ERROR
    line), oldest log first: what the Snakefile's ``onerror`` prints last, alone, so they are not
    buried in Snakemake's exception report. ``since``: the run's start (older logs are stale)."""
    marker = " ERROR qualflow: "
    out: list[str] = []
    logs = [p for p in Path(log_dir).rglob("*.log") if p.is_file() and p.stat().st_mtime >= since]
    for p in sorted(logs, key=lambda p: (p.stat().st_mtime, str(p))):
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            if marker in line and "unexpected error" not in line:
                msg = line.split(marker, 1)[1]
                if msg not in out:
                    out.append(msg)
    return out


def local_scheduling(workflow) -> bool:
    """Switch Snakemake's job-rate limiter off for a local run with the default limit; True if it was.

    The limiter (100 jobs per 1 s) re-evaluates the schedule 1 s after every scheduling pass that
    leaves a job waiting, and each such pass starts another 1 s timer, so the timers pile up with every
    finished job (snakemake/snakemake PR #3744). With two cores and a wide DAG a job is nearly always
    waiting: at 1,000 transcripts Snakemake's own process ran ~4,900 passes, each checking the size of
    every input of every waiting job, 136 of the run's 609 s CPU, taken from the jobs' two cores. A
    local run never starts 100 jobs a second, so there the limiter only costs. A cluster run, or one
    given its own ``--max-jobs-per-timespan``, keeps it. The Snakefile's ``onstart`` calls this: the
    scheduler exists by then, before its first pass. Duck-typed on Snakemake's ``Workflow`` (9.x).
    """
    scheduler = getattr(workflow, "scheduler", None)
    settings = getattr(workflow, "scheduling_settings", None)
    limit = getattr(settings, "max_jobs_per_timespan", None)
    default = limit is not None and (limit.max_jobs, limit.timespan) == (100, 1)
    if getattr(workflow, "local_exec", False) and default and getattr(scheduler, "job_rate_limiter", None):
        scheduler.job_rate_limiter = None
        return True
    return False
