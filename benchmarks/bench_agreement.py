"""Benchmark: the vectorised bootstrap of qualflow.agreement against a per-replicate krippendorff loop.

Workload: 100 codes x 10,000 units x 3 coders, presence with prevalence 5-30% per code, each coder
wrong on ~4-10% of units, 5% of (coder, unit) values missing; 2,000 replicates per code.

Ours: one ``bootstrap_alpha`` call over the stacked codes (per-unit coincidences once, then
weights @ contributions for all replicates and codes). The loop: resample the units and call
``krippendorff.alpha`` once per replicate -- timed on a subset (1 code x 20 replicates) and
extrapolated to 100 codes x 2,000 replicates (linear in both; printed as an extrapolation).

Run:  cd /work/main && .venv/bin/python benchmarks/bench_agreement.py
(numpy's BLAS does the matrix product; OPENBLAS_CORETYPE, if set on the machine, is left alone.)
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import krippendorff
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from qualflow.alpha import bootstrap_alpha  # noqa: E402

N_CODES, N_UNITS, N_CODERS, N_BOOT, SEED = 100, 10_000, 3, 2_000, 20181017
LOOP_CODES, LOOP_REPS = 1, 20


def make_data(seed: int = 1) -> np.ndarray:
    """codes x coders x units presence (1/0/NaN) with realistic prevalence, error and missingness."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.05, 0.30, size=(N_CODES, 1, 1))
    truth = rng.random((N_CODES, 1, N_UNITS)) < prevalence
    error = rng.uniform(0.04, 0.10, size=(1, N_CODERS, 1))
    flip = rng.random((N_CODES, N_CODERS, N_UNITS)) < error
    data = np.where(flip, ~truth, truth).astype(float)
    missing = rng.random((N_CODERS, N_UNITS)) < 0.05          # a coder did not code that unit
    data[:, missing] = np.nan
    return data


def ours(data: np.ndarray) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    boot = bootstrap_alpha(data, n_boot=N_BOOT, seed=SEED, value_domain=[0, 1])
    return time.perf_counter() - t0, boot.replicates


def loop(data: np.ndarray) -> tuple[float, np.ndarray]:
    """What one would write without the coincidence trick: resample, call the package, repeat."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    out = np.empty((LOOP_CODES, LOOP_REPS))
    t0 = time.perf_counter()
    for k in range(LOOP_CODES):
        for r in range(LOOP_REPS):
            idx = rng.integers(0, N_UNITS, size=N_UNITS)
            out[k, r] = krippendorff.alpha(reliability_data=data[k][:, idx],
                                           level_of_measurement="nominal")
    return time.perf_counter() - t0, out


def main() -> None:
    data = make_data()
    from importlib.metadata import version
    print(f"workload: {N_CODES} codes x {N_UNITS:,} units x {N_CODERS} coders, {N_BOOT:,} replicates; "
          f"numpy {np.__version__}, krippendorff {version('krippendorff')}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; cpus={os.cpu_count()}")
    ours(data[:2])                                                  # warm-up (BLAS threads, imports)
    runs = [ours(data) for _ in range(3)]
    times = sorted(t for t, _ in runs)
    t_ours, reps = times[1], runs[0][1]                              # median of three runs
    assert all(np.array_equal(reps, r) for _, r in runs)            # seeded: identical every run
    t_loop, _ = loop(data)
    per_call = t_loop / (LOOP_CODES * LOOP_REPS)
    t_loop_full = per_call * N_CODES * N_BOOT
    print(f"1-minute load average during the run: {os.getloadavg()[0]:.2f}")
    print(f"ours: {t_ours:.2f} s (median of 3 runs: {', '.join(f'{t:.2f}' for t in times)} s) for all "
          f"{N_CODES} codes x {N_BOOT:,} replicates ({np.isfinite(reps).mean():.1%} of replicates defined)")
    print(f"krippendorff.alpha loop: {t_loop:.2f} s for {LOOP_CODES} code x {LOOP_REPS} replicates "
          f"= {per_call * 1000:.1f} ms per call; extrapolated to {N_CODES} codes x {N_BOOT:,} "
          f"replicates: {t_loop_full:,.0f} s (extrapolation, not measured)")
    print(f"speed-up: {t_loop_full / t_ours:,.0f}x over the extrapolated loop (targets in docs/DESIGN.md: "
          f">= 30x, <= 2 s)")


if __name__ == "__main__":
    main()
