"""Incremental runs: a one-word edit in one site's English transcript, against a cold run.

Copies the project's inputs and code to a temporary folder, runs the whole workflow from nothing (the
cold run), changes one word in ``data/synthetic/raw/<site>/<T>.en.txt`` (the demo) and runs again (the incremental run).
Both are timed in the same process on the same machine, so the figure that matters is the ratio of
the two walls; the jobs each run executed are listed from Snakemake's own summary.

    .venv/bin/python benchmarks/bench_incremental.py [--site ulm] [--transcript FG1] [--repeat 1] [--copies 1] [--coded]

The default edit is in the transcript's last turn (the facilitator's closing words in the demo: no
coding points at it); ``--coded`` edits the last turn a coding points at instead, which re-runs the
stages that quote coded turns too (docs/DESIGN.md, "What re-runs").

``--copies 4`` runs the same edit in a 20-site study (every demo site four times), where the per-site
work a cold run repeats for every site dominates Snakemake's and the aggregates' fixed costs.

(`make benchmark-incremental`; the target in docs/DESIGN.md is an incremental wall of at most 40 % of
the cold one.)
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ["Snakefile", "config", "data", "workflow", "profiles"]


def copy_project(dst: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    dst.mkdir(parents=True)
    for part in PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=ignore)
        else:
            shutil.copy2(src, dst / part)


def replicate_sites(project: Path, copies: int) -> int:
    """A larger study from the demo: every site ``copies`` times (``ulm``, ``ulm_2``, ...), each copy
    with its own rows in sites.tsv, the roster and the identifiers, its transcripts and its TSV codings.
    Returns the number of sites."""
    def rows(path: Path) -> tuple[str, list[str]]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return lines[0], [l for l in lines[1:] if l.strip()]

    tables = {"sites": project / "config/sites.tsv", "roster": project / "data/synthetic/restricted/roster.tsv",
              "identifiers": project / "data/synthetic/restricted/identifiers.tsv"}
    header, site_rows = rows(tables["sites"])
    ids = [r.split("\t")[0] for r in site_rows]
    for kind, path in tables.items():
        head, body = rows(path)
        extra = []
        for i in range(2, copies + 1):
            for r in body:
                cells = r.split("\t")
                if cells[0] in ids:
                    cells[0] = f"{cells[0]}_{i}"
                    if kind == "sites":
                        cells[1] = f"{cells[1]} {i}"
                    extra.append("\t".join(cells))
        path.write_text("\n".join([head, *body, *extra]) + "\n", encoding="utf-8")
    for i in range(2, copies + 1):
        for site in ids:
            raw = project / "data/synthetic/raw"
            shutil.copytree(raw / site, raw / f"{site}_{i}")
            for f in sorted((project / "data/codings").glob(f"*/{site}.*.tsv")):
                text = f.read_text(encoding="utf-8").replace(f"\n{site}.", f"\n{site}_{i}.")
                (f.parent / f.name.replace(f"{site}.", f"{site}_{i}.", 1)).write_text(text, encoding="utf-8")
    return len(ids) * copies


def job_times(project: Path, since: float) -> dict[str, tuple[float, float]]:
    """Each rule's (start, end) in the run that began at ``since`` (seconds after it), from Snakemake's
    own records (.snakemake/metadata: one JSON per output file, with the job's start and end)."""
    import json
    out: dict[str, tuple[float, float]] = {}
    for f in (project / ".snakemake/metadata").iterdir():
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue
        if d.get("starttime") and d.get("endtime") and d["starttime"] >= since:
            s, e = d["starttime"] - since, d["endtime"] - since
            a, b = out.get(d["rule"], (s, e))
            out[d["rule"]] = (min(a, s), max(b, e))
    return out


def run(project: Path) -> tuple[float, float, dict[str, int], dict[str, tuple[float, float]]]:
    """Run the workflow; return its wall time, the CPU time of it and its jobs, the jobs it ran and
    planned, and each rule's (start, end) in seconds after the run started.

    CPU time is reported beside the wall because a busy machine stretches the wall of both runs
    unevenly; the CPU time of the same work barely moves."""
    import resource
    exe = Path(sys.executable).parent / "snakemake"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    since = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe)], cwd=project,   # profiles/default: the workflow's own profile
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    # The jobs that ran: Snakemake's last "N of M steps" line. Its "Job stats" table is the plan made
    # before the run, and the plan shrinks when a checkpoint finishes with its settled copies unchanged.
    table = proc.stderr.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    planned = sum(int(v) for k, v in re.findall(r"^(\S+)\s+(\d+)$", table, flags=re.M) if k != "total")
    done = re.findall(r"^(\d+) of (\d+) steps \(100%\) done", proc.stderr, flags=re.M)
    ran = int(done[-1][0]) if done else planned
    return wall, cpu, {"ran": ran, "planned": planned}, job_times(project, since)


def breakdown(wall: float, times: dict[str, tuple[float, float]]) -> str:
    """Where a run's wall went: Snakemake's start and the workflow load (to the first job), the jobs
    (busy: at least one running), the gaps between them, and the end (after the last job)."""
    if not times:
        return f"no jobs; {wall:.1f} s"
    spans = sorted(times.values())
    first, last = spans[0][0], max(e for _, e in spans)
    busy, cur_s, cur_e = 0.0, *spans[0]
    for s, e in spans[1:]:
        if s > cur_e:
            busy, cur_s, cur_e = busy + cur_e - cur_s, s, e
        else:
            cur_e = max(cur_e, e)
    busy += cur_e - cur_s
    return (f"to first job {first:.1f} s, jobs running {busy:.1f} s, gaps {last - first - busy:.1f} s, "
            f"after last job {wall - last:.1f} s; outside jobs {(wall - busy) / wall:.0%} of the wall")


def slurm_probe_seconds() -> float:
    """Seconds the SLURM executor plugin spends at every Snakemake start (it is imported whether or not
    it is used, and asks ``scontrol show config``, which waits ~9 s when slurm.conf names a
    controller that is not running). Reported so that a machine in that state is recognised."""
    import shutil
    if not shutil.which("sinfo") or not shutil.which("scontrol"):
        return 0.0
    t0 = time.perf_counter()
    subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=30)
    return time.perf_counter() - t0


def coded_lines(project: Path, site: str, transcript: str) -> set[int]:
    """The source lines where the turns a coding points at start (restricted/codes/turns_read.tsv and
    the pseudonymised turn table's ``line``, after the cold run)."""
    import csv
    with (project / "restricted/codes/turns_read.tsv").open(encoding="utf-8") as fh:
        coded = {int(r["turn"]) for r in csv.DictReader(fh, delimiter="\t")
                 if r["transcript"] == f"{site}.{transcript}" and r["coded_sha"]}
    with (project / f"results/pseudonymised/{site}/{transcript}.en.tsv").open(encoding="utf-8") as fh:
        return {int(r["line"]) for r in csv.DictReader(fh, delimiter="\t") if int(r["turn"]) in coded}


def one_word_edit(path: Path, lines_allowed: set[int] | None = None) -> str:
    """Change one word of the last speech turn (a typo fixed: the word reversed, so the turn keeps its
    word count), keeping everything else; with ``lines_allowed``, of the last turn starting on one of
    those lines."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    for i in range(len(lines) - 1, -1, -1):
        if lines_allowed is not None and i + 1 not in lines_allowed:
            continue
        m = re.search(r"\b(\w{4,})\b", lines[i].split(":", 1)[-1]) if ":" in lines[i] else None
        if m:
            word = m.group(1)
            lines[i] = lines[i].replace(word, word[::-1] if word[::-1] != word else word + "s", 1)
            path.write_text("".join(lines), encoding="utf-8")
            return f"line {i + 1}: {word!r}"
    sys.exit(f"{path}: no word to edit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--site", default="ulm")
    ap.add_argument("--transcript", default="FG1")
    ap.add_argument("--coded", action="store_true",
                    help="edit a turn a coding points at (the stages that quote it re-run), not the last turn")
    ap.add_argument("--repeat", type=int, default=1, help="cold+incremental pairs (the median is reported)")
    ap.add_argument("--copies", type=int, default=1,
                    help="run a larger study: every demo site this many times (5 x copies sites)")
    args = ap.parse_args()
    pairs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="qualflow-bench-") as tmp:
            project = Path(tmp) / "project"
            copy_project(project)
            n_sites = replicate_sites(project, args.copies) if args.copies > 1 else 5
            cold, cold_cpu, cold_jobs, cold_times = run(project)
            lines = coded_lines(project, args.site, args.transcript) if args.coded else None
            edited = one_word_edit(project / "data/synthetic/raw" / args.site / f"{args.transcript}.en.txt", lines)
            time.sleep(1.0)   # a later mtime than every output, as a real edit would have
            inc, inc_cpu, inc_jobs, inc_times = run(project)
            pairs.append((inc / cold, cold, inc, cold_jobs, inc_jobs, edited, cold_cpu, inc_cpu, cold_times,
                          inc_times))
    pairs.sort(key=lambda p: p[0])
    ratio, cold, inc, cold_jobs, inc_jobs, edited, cold_cpu, inc_cpu, cold_times, inc_times = pairs[len(pairs) // 2]
    probe = slurm_probe_seconds()
    print(f"study: {n_sites} sites; cpus={os.cpu_count()}, 1-minute load average {os.getloadavg()[0]:.2f}; edit: "
          f"data/synthetic/raw/{args.site}/{args.transcript}.en.txt {edited}" + (" (a coded turn)" if args.coded else ""))
    if probe > 1:
        print(f"note: `scontrol show config` took {probe:.1f} s here; the SLURM executor plugin asks it at every "
              "Snakemake start (a slurm.conf naming a controller that is not running): both runs include it")
    print(f"cold run:        {cold:6.1f} s wall, {cold_cpu:6.1f} s CPU, {cold_jobs['ran']} jobs; "
          f"{breakdown(cold, cold_times)}")
    print(f"incremental run: {inc:6.1f} s wall, {inc_cpu:6.1f} s CPU, {inc_jobs['ran']} jobs "
          f"({inc_jobs['planned']} planned before the checkpoints settled); {breakdown(inc, inc_times)}")
    print("incremental jobs (s): " + ", ".join(f"{r} {e - s:.1f}" for r, (s, e) in
                                               sorted(inc_times.items(), key=lambda kv: kv[1])))
    print(f"incremental / cold: {ratio:.0%} of the wall, {inc_cpu / cold_cpu:.0%} of the CPU time"
          + (f" (median of {len(pairs)}: {', '.join(f'{p[0]:.0%}' for p in pairs)})" if len(pairs) > 1 else ""))


if __name__ == "__main__":
    main()
