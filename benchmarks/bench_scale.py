"""Cold runs of the whole workflow on synthetic studies of growing size (`make benchmark-scale`).

    python benchmarks/bench_scale.py                     # 60, 240 and 1,000 transcripts (20 sites)
    python benchmarks/bench_scale.py --sizes 60 --keep   # one size, keep the run folder

For each size: a study from benchmarks/synthetic_study.py (20 sites, 60 turns, 3 coders, 2 per
transcript) in a fresh copy of the project, then `snakemake` (profiles/default) from nothing.
Printed per size: wall, jobs, time to first job, orchestration (wall minus the time any job ran:
start-up, DAG building, gaps between jobs), and per stage (per-site rules folded into their stage):
jobs, summed job wall, slowest job, peak RSS of one job process; then the growth exponent between
sizes, log(t2/t1)/log(n2/n1), of the wall and of every stage (1.0 = linear).

Also printed: the CPU time of Snakemake's own process (scheduling and job records; it shares the two
cores with the jobs) and of everything the run started. Where SLURM's client tools are installed but no
controller answers, the SLURM executor plugin waits up to 10 s for `scontrol show config` at every
Snakemake start; the benchmark says so (start the controller with .ci/slurm-up, or compare ratios).

Job times come from Snakemake's own records (.snakemake/metadata: start and end of every job); peak
RSS from sampling every job process (psutil, every 0.2 s, so a very short peak can be missed). The
machine's other load shows in absolute times: compare ratios between sizes of one run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_study import generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PARTS = ["Snakefile", "workflow", "profiles"]


def stage(rule: str) -> str:
    """A per-site rule folded into its stage: parse_site01 -> parse (the generator's site ids)."""
    return re.sub(r"_site\d+$", "", rule)


class RssSampler(threading.Thread):
    """Peak resident memory of every job process under the Snakemake process, by script name."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root, self.peak, self.stop = psutil.Process(pid), defaultdict(int), threading.Event()
        self.rules: dict[int, str] = {}
        self.main_cpu = 0.0   # Snakemake's own process (scheduling, job records), sampled

    def rule_of(self, pid: int, script: str) -> str:
        """The job's stage: its rule name, from the pickled job object in Snakemake's script file
        (several rules share a script: leak_scan_<part> and leak_check), folded like ``stage``."""
        if pid not in self.rules:
            name = Path(script).name.split(".", 1)[1].removesuffix(".py")
            try:
                found = re.findall(rb"(leak_scan_\w+)", Path(script).read_bytes()[:200000])
            except OSError:
                found = []
            self.rules[pid] = "leak_scan" if found and re.fullmatch(rb"leak_scan_site\d+", found[0]) else (
                found[0].decode() if found else name)
        return self.rules[pid]

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                t = self.root.cpu_times()
                self.main_cpu = t.user + t.system
            except psutil.Error:
                pass
            try:
                children = self.root.children(recursive=True)
            except psutil.Error:
                return
            for p in children:
                try:
                    cmd = p.cmdline()
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                script = next((c for c in cmd if ".snakemake/scripts/" in c and "." in Path(c).name), None)
                if script:
                    rule = self.rule_of(p.pid, script)
                    self.peak[rule] = max(self.peak[rule], rss)
            self.stop.wait(0.2)


def jobs_from_metadata(project: Path) -> dict[str, list[tuple[float, float]]]:
    """(start, end) of every job, by rule, from Snakemake's per-output metadata records."""
    seen: dict[tuple[str, int], tuple[float, float]] = {}
    for f in (project / ".snakemake/metadata").iterdir():
        try:
            m = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if m.get("starttime") and m.get("endtime"):   # one record per output; one job_hash per job
            key = (m["rule"], m["job_hash"])
            s, e = seen.get(key, (m["starttime"], m["endtime"]))
            seen[key] = (min(s, m["starttime"]), max(e, m["endtime"]))
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for (rule, _), interval in seen.items():
        out[rule].append(interval)
    return out


def busy_time(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of the intervals: the time at least one job ran."""
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            total += (cur_e - cur_s) if cur_e is not None else 0.0
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return total + ((cur_e - cur_s) if cur_e is not None else 0.0)


def run_size(n: int, sites: int, turns: int, workdir: Path) -> dict:
    per_site = max(1, n // sites)
    project = workdir / f"study_{n}"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    for part in PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, project / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, project / part)
    generate(project, sites=sites, transcripts=per_site, turns=turns, coders=3)
    exe = Path(sys.executable).parent / "snakemake"
    t0 = time.time()
    proc = subprocess.Popen([str(exe), "--quiet"], cwd=project,   # profiles/default: the workflow profile
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = RssSampler(proc.pid)
    sampler.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, _ = proc.communicate()
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    all_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    sampler.stop.set()
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed at {n} transcripts:\n{out[-3000:]}")
    jobs = jobs_from_metadata(project)
    intervals = [iv for ivs in jobs.values() for iv in ivs]
    stages: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "sum": 0.0, "max": 0.0, "rss": 0})
    for rule, ivs in jobs.items():
        st = stages[stage(rule)]
        st["jobs"] += len(ivs)
        st["sum"] += sum(e - s for s, e in ivs)
        st["max"] = max([st["max"]] + [e - s for s, e in ivs])
    for script, rss in sampler.peak.items():   # a job's rule, folded into its stage
        if script in stages:
            stages[script]["rss"] = max(stages[script]["rss"], rss)
    first = min(s for s, _ in intervals) - t0
    return {"n": per_site * sites, "wall": wall, "jobs": len(intervals), "first": first,
            "orchestration": wall - busy_time(intervals), "stages": dict(stages),
            "main_cpu": sampler.main_cpu, "all_cpu": all_cpu,
            "peak_rss": max(sampler.peak.values(), default=0), "project": project}


def report(results: list[dict]) -> str:
    lines = ["| transcripts | wall s | jobs | first job s | orchestration | Snakemake's CPU | all CPU s "
             "| peak RSS (one process) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['n']} | {r['wall']:.1f} | {r['jobs']} | {r['first']:.1f} | "
                     f"{r['orchestration']:.1f} s ({100 * r['orchestration'] / r['wall']:.0f} %) | "
                     f"{r['main_cpu']:.1f} s ({100 * r['main_cpu'] / max(r['all_cpu'], 1e-9):.0f} % of all) | "
                     f"{r['all_cpu']:.1f} | {r['peak_rss'] / 2**30:.2f} GiB |")
    names = sorted({s for r in results for s in r["stages"]},
                   key=lambda s: -max(r["stages"].get(s, {}).get("sum", 0) for r in results))
    head = " | ".join(f"{r['n']}: jobs, sum s, max s, RSS MiB" for r in results)
    lines += ["", f"| stage | {head} |" + ("" if len(results) < 2 else " exponent |"),
              "|---|" + "---|" * len(results) + ("" if len(results) < 2 else "---|")]
    for name in names:
        cells = []
        for r in results:
            st = r["stages"].get(name)
            cells.append("" if st is None else
                         f"{st['jobs']}, {st['sum']:.1f}, {st['max']:.1f}, {st['rss'] / 2**20:.0f}")
        row = f"| {name} | " + " | ".join(cells) + " |"
        if len(results) >= 2:
            a, b = results[-2], results[-1]
            sa, sb = a["stages"].get(name, {}).get("sum"), b["stages"].get(name, {}).get("sum")
            row += f" {exponent(sa, sb, a['n'], b['n'])} |"
        lines.append(row)
    if len(results) >= 2:
        lines.append("")
        for a, b in zip(results, results[1:]):
            lines.append(f"growth exponent of the wall, {a['n']} -> {b['n']}: "
                         f"{exponent(a['wall'], b['wall'], a['n'], b['n'])}")
    return "\n".join(lines)


def exponent(ta, tb, na, nb) -> str:
    if not ta or not tb or na == nb:
        return ""
    return f"{math.log(tb / ta) / math.log(nb / na):.2f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="60,240,1000", help="transcripts per run, comma-separated")
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--turns", type=int, default=60)
    ap.add_argument("--workdir", default=None, help="where the runs go (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the run folders")
    a = ap.parse_args(argv)
    workdir = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="qualflow-scale-"))
    results = []
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    if shutil.which("scontrol"):
        try:
            subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=3, check=True)
        except (subprocess.SubprocessError, OSError):
            print("note: scontrol is installed but no SLURM controller answers: every Snakemake start waits "
                  "~10 s for it (the SLURM executor plugin); start one with .ci/slurm-up", flush=True)
    for n in (int(x) for x in a.sizes.split(",")):
        print(f"running {n} transcripts in {workdir} ...", flush=True)
        results.append(run_size(n, a.sites, a.turns, workdir))
        print(f"  wall {results[-1]['wall']:.1f} s", flush=True)
        if not a.keep:
            shutil.rmtree(results[-1]["project"], ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    print(report(results))
    if not a.keep and not a.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
