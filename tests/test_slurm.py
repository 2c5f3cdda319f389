"""The demo on a real single-node SLURM cluster (.ci/slurm-up) gives the local run's results.

Every job goes through sbatch and srun to `snakemake --executor slurm-jobstep`, which re-reads the
Snakefile; status is polled with squeue (no accounting database here: sacct cannot answer, and
MinJobAge=300 keeps finished jobs visible to squeue). Needs root (it installs and starts SLURM) or a
cluster already started by .ci/slurm-up.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, copy_project, snakemake

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def partition() -> str:
    up = ROOT / ".ci/slurm-up"
    if os.geteuid() != 0 and not shutil.which("sinfo"):
        pytest.skip("needs root to install and start SLURM (.ci/slurm-up)")
    proc = subprocess.run([str(up)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_demo_on_slurm_equals_the_local_run(demo, partition, tmp_path):
    project = copy_project(tmp_path / "slurm")
    proc = snakemake(project, "--workflow-profile", "profiles/slurm",
                     # this test cluster: its partition, no accounts, squeue for status, short waits
                     "--default-resources", f"slurm_partition={partition}", "mem_mb=1000", "runtime=30",
                     "--slurm-no-account", "--slurm-status-command", "squeue",
                     "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
                     "--jobs", "4", "--quiet", "rules")
    assert "SLURM jobid" in proc.stdout + proc.stderr    # the jobs really went through sbatch
    for folder in ("results", "restricted"):
        local, cluster = _digest(demo / folder), _digest(project / folder)
        assert local.keys() == cluster.keys(), folder
        differ = sorted(k for k in local if local[k] != cluster[k])
        assert not differ, f"{folder}: {differ}"
    table2 = (project / "results/tables/table2.tsv").read_text(encoding="utf-8")
    assert table2 == (demo / "results/tables/table2.tsv").read_text(encoding="utf-8")
