"""The codes stage per site (issue 14): ``codes_<site>`` jobs and a small ``codes`` merge give exactly
what one study-wide call of the stage gives, and a one-site edit re-runs that site's share only."""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from conftest import snakemake  # noqa: E402
from qualflow.codes import codes_merge, codes_site, codes_stage, coding_file_site  # noqa: E402

OUTPUTS = ["codings.tsv", "codebook.tsv", "themes.tsv", "coverage.tsv", "unmapped_labels.tsv",
           "summary.md", "codebook.qdc", "coding_packet.qdpx", "project.qdpx", "turns.tsv",
           "reanchor_review.tsv"]
KEYS = {"codings.tsv": "codings", "codebook.tsv": "codebook", "themes.tsv": "themes",
        "coverage.tsv": "coverage", "unmapped_labels.tsv": "unmapped", "summary.md": "summary",
        "codebook.qdc": "qdc", "coding_packet.qdpx": "packet", "project.qdpx": "project",
        "turns.tsv": "turns", "reanchor_review.tsv": "reanchor"}


def _outputs(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    return {KEYS[name]: str(folder / name) for name in OUTPUTS}


def _english(project: Path, ext: str, site: str = "*") -> list[str]:
    return sorted(str(p.relative_to(project)) for p in project.glob(f"results/pseudonymised/{site}/*.en.{ext}"))


def _stage_args(project: Path) -> dict:
    """What the rules give the stage in the demo (config, the study's tables, each transcript's wave)."""
    config = yaml.safe_load((project / "config/config.yaml").read_text(encoding="utf-8"))
    coverage = pd.read_csv(project / "results/codes/coverage.tsv", sep="\t", dtype=str, keep_default_na=False)
    assignments = project / config.get("coding_assignments", "data/coding_assignments.tsv")
    return dict(sites=config["sites"], roster=config["roster"], site_waves=config.get("site_waves"),
                assignments=str(assignments.relative_to(project)) if assignments.exists() else None,
                waves=dict(zip(coverage["transcript"], coverage["wave"])), valence=config.get("valence", {}),
                unmapped=(config.get("codes") or {}).get("unmapped", "fail"))


def _per_site(project: Path, codings_dir: str, work: Path, args: dict) -> dict[str, str]:
    """Every site's job, then the merge, as the rules run them (qualflow.codes)."""
    sites = list(pd.read_csv(project / args["sites"], sep="\t", dtype=str)["site"])
    files = sorted(str(p.relative_to(project)) for p in (project / codings_dir).glob("*/*")
                   if p.suffix in (".tsv", ".qdpx"))
    parts, turns = [], []
    for site in sites:
        out = {"part": str(work / site / "codings.json"), "turns": str(work / site / "turns.tsv")}
        (work / site).mkdir(parents=True)
        codes_site(site, [f for f in files if coding_file_site(f, sites) in (site, None)],
                   _english(project, "tsv", site), _english(project, "txt", site), out)
        parts.append(out["part"])
        turns.append(out["turns"])
    outputs = _outputs(work / "merged")
    codes_merge("config/codebook.yaml", parts, turns, files, codings_dir, args["unmapped"], outputs,
                sites=args["sites"], roster=args["roster"], assignments=args["assignments"],
                site_waves=args["site_waves"], waves=args["waves"], valence=args["valence"])
    return outputs


def _single(project: Path, codings_dir: str, folder: Path, args: dict) -> dict[str, str]:
    outputs = _outputs(folder)
    files = sorted(str(p.relative_to(project)) for p in (project / codings_dir).glob("*/*")
                   if p.suffix in (".tsv", ".qdpx"))
    codes_stage("config/codebook.yaml", files, _english(project, "tsv"), _english(project, "txt"),
                codings_dir, args["unmapped"], outputs, sites=args["sites"], roster=args["roster"],
                assignments=args["assignments"], site_waves=args["site_waves"], waves=args["waves"],
                valence=args["valence"])
    return outputs



def _both_fail(project, demo, tmp_path, monkeypatch) -> list:
    """The single job and the per-site jobs both stop on the project's codings with the same problems."""
    from qualflow.errors import InputError

    monkeypatch.chdir(project)
    args = _stage_args(demo)
    with pytest.raises(InputError) as single:
        _single(project, "data/codings", tmp_path / "single", args)
    with pytest.raises(InputError) as merged:
        _per_site(project, "data/codings", tmp_path / "sites", args)
    assert [str(p) for p in merged.value.problems] == [str(p) for p in single.value.problems]
    return merged.value.problems

def test_the_pipelines_per_site_codes_equal_one_study_wide_call(demo, tmp_path, monkeypatch):
    """The demo's results/codes/ (written by codes_<site> jobs and the merge) byte for byte as one call
    of the stage over the whole study writes them: TSV coders, coder_b's .qdpx of four sites."""
    monkeypatch.chdir(demo)
    single = _single(demo, "data/codings", tmp_path / "single", _stage_args(demo))
    for name in OUTPUTS:
        assert (demo / "results/codes" / name).read_bytes() == Path(single[KEYS[name]]).read_bytes(), name
    codings = pd.read_csv(demo / "results/codes/codings.tsv", sep="\t", dtype=str)
    qdpx_sites = set(codings.loc[codings["source"] == "qdpx", "site"])
    assert len(qdpx_sites) == 4 and codings["site"].nunique() == 5          # one .qdpx, four sites' parts
    parts = sorted(p.parent.name for p in (demo / "restricted/codes").glob("*/codings.json"))
    assert parts == ["beer_sheva", "dar_es_salaam", "hamburg", "kampala", "ulm"]
    assert not (demo / "results/codes/kampala").exists()                  # per-site parts hold memos


def test_a_tsv_of_several_sites_and_a_study_wide_qdpx_split_by_site_give_the_same_outputs(demo, tmp_path,
                                                                                          monkeypatch):
    """A coder file named for no transcript (rows of two sites) is read by every site's job, each keeping
    its own rows; the merge puts every row back in its file's order, so nothing changes."""
    project = tmp_path / "project"
    for part in ("config", "data", "results/pseudonymised"):
        shutil.copytree(demo / part, project / part, symlinks=True)
    coder_a = project / "data/codings/coder_a"
    batch = [pd.read_csv(coder_a / f"{t}.tsv", sep="\t", dtype=str, keep_default_na=False)
             for t in ("ulm.FG2", "hamburg.FG1", "ulm.FG1")]
    for t in ("ulm.FG2", "hamburg.FG1", "ulm.FG1"):
        (coder_a / f"{t}.tsv").unlink()
    pd.concat(batch).to_csv(coder_a / "batch.tsv", sep="\t", index=False, lineterminator="\n")
    monkeypatch.chdir(project)
    args = _stage_args(demo)
    single = _single(project, "data/codings", tmp_path / "single", args)
    merged = _per_site(project, "data/codings", tmp_path / "sites", args)
    for name in OUTPUTS:
        assert Path(merged[KEYS[name]]).read_bytes() == Path(single[KEYS[name]]).read_bytes(), name
    codings = pd.read_csv(merged["codings"], sep="\t", dtype=str)
    from_batch = codings[(codings["coder"] == "coder_a") & codings["site"].isin(["ulm", "hamburg"])]
    assert set(from_batch["transcript"]) >= {"ulm.FG1", "ulm.FG2", "hamburg.FG1"}


def test_a_qdpx_source_no_site_places_is_one_error_from_the_merge(demo, tmp_path, monkeypatch):
    """A .qdpx source that is no study transcript: no site's job claims it, the merge says so once, in
    the words one study-wide job uses, and writes nothing."""
    from qualflow.refiqda import read_qdpx, write_qdpx

    project = tmp_path / "project"
    for part in ("config", "data", "results/pseudonymised"):
        shutil.copytree(demo / part, project / part, symlinks=True)
    qdpx = project / "data/codings/coder_b/coder_b.qdpx"
    proj = read_qdpx(qdpx)
    i = next(k for k, s in enumerate(proj.sources) if s.guid == proj.codings[0].source)
    proj.sources[i] = type(proj.sources[i])(proj.sources[i].guid, "nowhere.FG1", proj.sources[i].text + "x")
    write_qdpx(qdpx, proj)
    problems = _both_fail(project, demo, tmp_path, monkeypatch)
    assert "source 'nowhere.FG1' is not a transcript of this study" in str(problems[0])
    assert not (tmp_path / "sites/merged/codings.tsv").exists()


def test_an_edit_of_one_sites_coder_file_reruns_that_sites_codes_job_and_the_merge(demo, tmp_path):
    project = tmp_path / "incremental"
    shutil.copytree(demo, project, symlinks=True)            # copy2: outputs keep their times
    f = project / "data/codings/coder_a/hamburg.FG1.tsv"
    f.write_text(f.read_text(encoding="utf-8").replace("\tP2 Reciprocal\t\n", "\tP2 Reciprocal\tmutual help\n", 1),
                 encoding="utf-8")                        # a memo added: content, not only the time
    out = snakemake(project, "--profile", "profiles/default", "-n", "--quiet", "rules").stdout
    jobs = set(re.findall(r"^(\S+)\s+\d+$", out, flags=re.M)) - {"total"}
    assert {"codes_hamburg", "codes"} <= jobs
    assert not jobs & {"codes_ulm", "codes_kampala", "codes_dar_es_salaam", "codes_beer_sheva"}
    assert not any(j.startswith(("pseudonymise_", "translation_check_")) for j in jobs)


def test_a_row_naming_no_transcript_in_a_tsv_named_for_none_is_one_error_from_the_merge(demo, tmp_path,
                                                                                        monkeypatch):
    """Every site's job sees the row and none has its transcript: the merge, which knows the study,
    reports it once, in the words of one study-wide job."""
    project = tmp_path / "project"
    for part in ("config", "data", "results/pseudonymised"):
        shutil.copytree(demo / part, project / part, symlinks=True)
    (project / "data/codings/coder_a/batch.tsv").write_text(
        "transcript\tturn\tstart\tend\tcode\tmemo\nnowhere.FG1\t9\t\t\tP2 Reciprocal\t\n",
        encoding="utf-8")
    problems = _both_fail(project, demo, tmp_path, monkeypatch)
    assert [str(p) for p in problems] == [
        "data/codings/coder_a/batch.tsv:2: transcript 'nowhere.FG1' does not exist (known: beer_sheva.FG1, "
        "beer_sheva.FG2, dar_es_salaam.FG1, dar_es_salaam.FG2, hamburg.FG1, hamburg.FG2, ...): use "
        "<site>.<transcript> as in results/pseudonymised/<site>/<transcript>.en.tsv"]
