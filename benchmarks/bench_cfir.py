"""Benchmark: the CFIR rating, change and framework-matrix stages on a synthetic study.

100 sites × 2 waves × 40 constructs (5 domains, 8 constructs each, 2 subcodes per construct), one
focus group per site and wave with 60 informant turns, each construct coded on 0–6 turns of each
transcript by one of two coders with a random valence: about 60,000 codings. The stages are run
through their entry points on files, as the workflow runs them (`ratings_stage`, `change_stage`,
`framework_stage` including the HTML page and the .xlsx workbook), and timed against a baseline in
the same run: reading the synthetic codings.tsv with pandas.

Run: `make benchmark-cfir` (or `python benchmarks/bench_cfir.py [n_sites]`).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from qualflow.cfir_change import change_stage  # noqa: E402
from qualflow.cfir_ratings import ratings_stage  # noqa: E402
from qualflow.framework import framework_stage  # noqa: E402

N_DOMAINS, PER_DOMAIN, SUBS, TURNS = 5, 8, 2, 60
VALENCES = np.array(["facilitator", "barrier", "mixed"])


def make_study(root: Path, n_sites: int, seed: int = 15) -> dict:
    rng = np.random.default_rng(seed)
    themes = [{"id": f"d{d}", "label": f"Domain {d}"} for d in range(N_DOMAINS)]
    codes = []
    for d in range(N_DOMAINS):
        for k in range(PER_DOMAIN):
            c = f"c{d}_{k}"
            codes.append({"id": c, "label": f"Construct {d}.{k}", "theme": f"d{d}", "parent": "", "origin": "deductive"})
            codes += [{"id": f"{c}_s{j}", "label": f"Subcode {d}.{k}.{j}", "theme": f"d{d}", "parent": c,
                       "origin": "inductive"} for j in range(SUBS)]
    code_ids = np.array([c["id"] for c in codes])
    sites = [f"s{i:03d}" for i in range(n_sites)]
    (root / "config").mkdir(parents=True)
    pd.DataFrame({"site": sites, "name": [f"Site {i}" for i in range(n_sites)], "country": "X", "languages": "en",
                  "resources": np.where(np.arange(n_sites) % 2, "high-resource", "lower-resource")}).to_csv(
        root / "config/sites.tsv", sep="\t", index=False)
    roster, turn_files, waves, frames = [], [], {}, []
    for s in sites:
        roster += [[s, "FG1|FG2", str(p), f"Person {s} {p}", "", "mh_worker", "female", "", ""] for p in range(1, 9)]
        for w, t in (("pre", "FG1"), ("post", "FG2")):
            tid = f"{s}.{t}"
            waves[tid] = w
            d = root / "results/pseudonymised" / s
            d.mkdir(parents=True, exist_ok=True)
            speakers = [f"P{(i % 8) + 1:02d}" for i in range(TURNS)]
            pd.DataFrame({"turn": np.arange(1, TURNS + 1), "speaker": speakers,
                          "text": [f"Turn {i} of {tid}, where an informant talks about peer support at some length."
                                   for i in range(1, TURNS + 1)], "kind": "speech"}).to_csv(
                d / f"{t}.en.tsv", sep="\t", index=False)
            turn_files.append(str(d / f"{t}.en.tsv"))
            n = rng.integers(0, 7, size=len(code_ids)) * (rng.random(len(code_ids)) < 0.5)
            code = np.repeat(code_ids, n)
            frames.append(pd.DataFrame({
                "site": s, "transcript": tid, "turn": rng.integers(1, TURNS + 1, size=len(code)),
                "coder": np.where(rng.random(len(code)) < 0.5, "coder_a", "coder_b"), "code": code,
                "theme": "", "origin": "", "label": code, "start": 0, "end": 40, "source": "tsv",
                "valence": VALENCES[rng.integers(0, 3, size=len(code))]}))
    pd.concat(frames, ignore_index=True).to_csv(root / "codings.tsv", sep="\t", index=False)
    (root / "data/restricted").mkdir(parents=True)
    pd.DataFrame(roster, columns=["site", "transcript", "participant", "name", "aliases", "role", "gender",
                                  "label", "case_sensitive"]).to_csv(root / "data/restricted/roster.tsv",
                                                                      sep="\t", index=False)
    return {"codes": codes, "themes": themes, "sites": sites, "turns": turn_files, "waves": waves}


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(n_sites: int = 100) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        st = make_study(root, n_sites)
        n_codings = len(pd.read_csv(root / "codings.tsv", sep="\t", usecols=["code"]))
        print(f"synthetic study: {n_sites} sites x 2 waves x {N_DOMAINS * PER_DOMAIN} constructs "
              f"({N_DOMAINS * PER_DOMAIN * SUBS} subcodes), {n_codings:,} codings "
              f"(made in {time.perf_counter() - t0:.1f} s)")
        base = timed(lambda: pd.read_csv(root / "codings.tsv", sep="\t", dtype=str, keep_default_na=False))
        out = root / "results"
        rating = timed(lambda: ratings_stage(str(root / "codings.tsv"), st["turns"], str(root / "config/sites.tsv"),
                                             None, [], st["codes"], st["themes"], ["pre", "post"], st["waves"], {},
                                             [], str(out / "ratings.tsv"), str(out / "rater_agreement.tsv")))
        change = timed(lambda: change_stage(str(out / "ratings.tsv"), ["pre", "post"], str(out / "change.tsv")))
        groups = [{"id": "resources", "label": "Resources", "values": ["lower-resource", "high-resource"],
                   "value_labels": ["Lower-resource sites", "High-resource sites"]}]
        site_groups = [{"site": s, "wave": w, "resources": "high-resource" if i % 2 else "lower-resource"}
                       for i, s in enumerate(st["sites"]) for w in ("pre", "post")]
        matrix = timed(lambda: framework_stage(
            str(root / "codings.tsv"), st["turns"], str(root / "config/sites.tsv"),
            str(root / "data/restricted/roster.tsv"), st["codes"], st["themes"], "construct",
            [{"id": "pre", "label": "Pre"}, {"id": "post", "label": "Post"}], st["waves"], groups, site_groups,
            {"mh_worker": "MHW"}, "bench", str(out / "m.tsv"), str(out / "m.html"), str(out / "m.xlsx")))
        n_cells = len(pd.read_csv(out / "ratings.tsv", sep="\t", usecols=["site"]))
        n_segs = len(pd.read_csv(out / "m.tsv", sep="\t", usecols=["site"]))
        print(f"baseline (read codings.tsv): {base:.2f} s")
        for name, t, what in (("cfir_ratings", rating, f"{n_cells:,} cells"),
                              ("cfir_change", change, f"{n_cells // 2:,} changes"),
                              ("framework_matrix", matrix, f"{n_segs:,} segments, TSV + HTML "
                               f"{(out / 'm.html').stat().st_size / 1e6:.1f} MB + xlsx "
                               f"{(out / 'm.xlsx').stat().st_size / 1e6:.1f} MB")):
            print(f"{name:17s} {t:6.2f} s  ({t / base:5.1f} x baseline)  {what}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
