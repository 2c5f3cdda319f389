"""The synthetic-study generator of the scale benchmark: deterministic, valid, and runs end to end."""
from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT, snakemake

sys.path.insert(0, str(ROOT / "benchmarks"))
from synthetic_study import generate  # noqa: E402

from qualflow.codebook import load_codebook  # noqa: E402
from qualflow.transcripts import read_transcript  # noqa: E402
from qualflow.validate import load_study  # noqa: E402


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("syn") / "a", sites=3, transcripts=2, turns=30, coders=3)


def test_same_seed_same_bytes_other_seed_other_text(study, tmp_path):
    again = generate(tmp_path / "b", sites=3, transcripts=2, turns=30, coders=3)
    assert _digest(study) == _digest(again)
    other = generate(tmp_path / "c", sites=3, transcripts=2, turns=30, coders=3, seed=1)
    assert _digest(other)["data/raw/site01/FG1.en.txt"] != _digest(study)["data/raw/site01/FG1.en.txt"]


def test_generated_study_passes_validation(study):
    config = yaml.safe_load((study / "config/config.yaml").read_text(encoding="utf-8"))
    s = load_study(config, study)
    assert s.site_ids == ["site01", "site02", "site03"]
    assert len(s.sources) == 3 * 2 * 2                 # local + English per focus group
    assert {src.lang for src in s.sources} == {"en", "de", "lg", "he"}
    assert len(s.people) == 3 * (2 * 8 + 1)            # 8 participants per group + one facilitator


def test_identifying_words_sit_identically_in_local_and_english_text(study):
    roster = pd.read_csv(study / "data/restricted/roster.tsv", sep="\t", dtype=str, keep_default_na=False)
    idents = pd.read_csv(study / "data/restricted/identifiers.tsv", sep="\t", dtype=str, keep_default_na=False)
    terms = sorted({n.split()[0] for n in roster["name"]} | set(idents["term"]), key=len, reverse=True)
    rx = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, terms)) + r")(?!\w)")
    words = hits = 0
    for en in sorted(study.glob("data/raw/*/*.en.txt")):
        local = next(p for p in en.parent.glob(en.name.replace(".en.", ".*.")) if p != en)
        a, b = read_transcript(str(local), en.parent.name), read_transcript(str(en), en.parent.name)
        assert len(a.turns) == len(b.turns)
        for x, y in zip(a.turns, b.turns):
            assert rx.findall(x.text) == rx.findall(y.text)
            assert x.speaker == y.speaker
            words += len(y.text.split())
            hits += len(rx.findall(y.text))
    assert 0.01 < hits / words < 0.04, hits / words     # ~2 % of the words identify someone


def test_codings_use_the_codebooks_labels_two_coders_per_transcript(study):
    book = load_codebook(study / "config/codebook.yaml")
    text = (study / "config/codebook.yaml").read_text(encoding="utf-8")
    coders_of: dict[str, set[str]] = {}
    for f in sorted(study.glob("data/codings/*/*.tsv")):
        df = pd.read_csv(f, sep="\t", dtype=str, keep_default_na=False)
        assert len(df) > 0 and set(df["transcript"]) == {f.stem}
        coders_of.setdefault(f.stem, set()).add(f.parent.name)
        for label in set(df["code"]):
            assert label in text, label
    assert book is not None and len(coders_of) == 6
    assert all(len(c) == 2 for c in coders_of.values())


@pytest.mark.workflow
def test_smallest_synthetic_study_runs_clean_through_the_workflow(tmp_path):
    """What `make benchmark-scale` runs, at the smallest size: no leak, every transcript coded twice."""
    from conftest import copy_project
    project = copy_project(tmp_path / "p")
    generate(project, sites=2, transcripts=2, turns=24, coders=3, words=40)
    snakemake(project, "--profile", "profiles/default", "--quiet")
    assert (project / "results/leak_check.tsv").read_text() == "file\tline\tkey\tcategory\n"
    coverage = pd.read_csv(project / "results/codes/coverage.tsv", sep="\t", dtype=str)
    assert coverage.groupby("transcript")["coder"].nunique().eq(2).all()
    table2 = pd.read_csv(project / "results/tables/table2.tsv", sep="\t", dtype=str)
    assert table2.iloc[-1, 1:3].tolist() == ["4", "32"]     # 4 focus groups, 32 participants
    en = (project / "results/pseudonymised/site01/FG1.en.txt").read_text(encoding="utf-8")
    assert re.search(r"\bP\d{2}\b", en) and "[HOSPITAL_01]" in en
