"""Whether results/ is one whole run: the STALE marker and the manifest.

Snakemake deletes the outputs of a job that fails and leaves every other output in place, so after a
failed run results/ mixes this run's outputs, older ones and gaps, and nothing in the files says so.
qualflow's rule (docs/DESIGN.md, "A failed run"): the moment a run starts executing jobs, results/ is
marked invalid — ``results/STALE.md`` written, ``results/manifest.tsv`` (the certificate of a whole
run) and ``results/report.html`` (built from a whole run) removed — and only a run that ends with
the manifest rebuilt removes the marker. A run stopped by a kill or a power cut leaves the marker,
too. Called from the Snakefile's ``onstart``/``onsuccess``/``onerror`` handlers.
"""
from __future__ import annotations

import os
from pathlib import Path

from .tables import write_text

MARKER = "STALE.md"
CERTIFIED = ("manifest.tsv", "report.html")

_HEAD = "# results/ is not one whole run: do not use or share these files\n\n"
_TAIL = ("\nFix the problem and run `make run` again (or `snakemake`, then `snakemake --report "
         "results/report.html`); this file is removed when a run finishes with `results/manifest.tsv` "
         "rebuilt. See results/README.md.\n")
RUNNING = (_HEAD + "A run of the workflow started and has not finished: it is running now, or it was "
           "stopped before the end. Outputs of this run and of earlier runs are mixed here, and some may "
           "be missing; `results/manifest.tsv` and `results/report.html` were removed so that nothing "
           "here passes for a complete run.\n" + _TAIL)
PARTIAL = (_HEAD + "The last run finished, but it built only some of the outputs (a target or rule was "
           "named), so `results/manifest.tsv` was not rebuilt and outputs of different runs are mixed "
           "here. Run the whole workflow to make results/ whole again.\n" + _TAIL)


def failed_text(log: str | list[str] | None) -> str:
    if isinstance(log, (list, tuple)):          # Snakemake passes its log files as a list
        log = log[0] if log else None
    where = f" The run's log: `{_relative(log)}`." if log else ""
    return (_HEAD + "The last run **failed**. Snakemake deleted the outputs of the job that failed and "
            "kept every other output, so results/ mixes outputs of that run and of earlier runs, with "
            "gaps; `results/manifest.tsv` and `results/report.html` were removed so that nothing here "
            f"passes for a complete run. The error is printed at the end of the run's output.{where}\n"
            + _TAIL)


def _relative(path: str) -> str:
    """A log path relative to the project (an absolute path could name the user's home folder)."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return Path(path).name


def run_started(results: str | Path = "results") -> None:
    """onstart: mark results/ invalid until the run succeeds, and drop what certifies a whole run."""
    results = Path(results)
    write_text(RUNNING, results / MARKER)
    for name in CERTIFIED:
        (results / name).unlink(missing_ok=True)


def run_succeeded(results: str | Path = "results") -> None:
    """onsuccess: whole again only if the manifest was rebuilt (a targeted run leaves it missing)."""
    results = Path(results)
    if not (results / MARKER).exists():
        return          # nothing was run ("Nothing to be done"): results/ is as the last run left it
    if (results / "manifest.tsv").exists():
        (results / MARKER).unlink()
    else:
        write_text(PARTIAL, results / MARKER)


def run_failed(log: str | list[str] | None = None, results: str | Path = "results") -> None:
    """onerror: say the run failed, where its log is, and that results/ is not to be used."""
    results = Path(results)
    write_text(failed_text(log), results / MARKER)
    for name in CERTIFIED:
        (results / name).unlink(missing_ok=True)


def is_stale(results: str | Path = "results") -> bool:
    return (Path(results) / MARKER).exists()
