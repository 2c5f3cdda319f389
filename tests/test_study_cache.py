"""The load-time validation cache (qualflow.study_cache): an unchanged study is not parsed again, a
changed transcript is the only one parsed again, and every problem is still found by a full check."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from conftest import copy_project, snakemake, write
from qualflow import study_cache, transcripts
from qualflow.errors import InputError
from qualflow.validate import load_study, load_study_or_exit

CACHE = ".snakemake/qualflow/study.pickle"


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The transcripts actually parsed (the cache's reader calls transcripts.read_transcript)."""
    seen: list[str] = []
    real = transcripts.read_transcript

    def counting(path, site):
        seen.append(Path(path).relative_to(Path(path).parents[1]).as_posix())
        return real(path, site)

    monkeypatch.setattr(transcripts, "read_transcript", counting)
    return seen


def _config(study: Path) -> dict:
    return yaml.safe_load((study / "config/mini.yaml").read_text())


def _load(study: Path, config: dict | None = None, full: bool = True):
    return load_study_or_exit(config or _config(study), study, "config/mini.yaml", full, CACHE)


def _age(study: Path, seconds: float = 10) -> None:
    """Inputs written a while ago (a just-written file is hashed again on every load: same-tick writes)."""
    t = time.time() - seconds
    for p in study.rglob("*"):
        if p.is_file() and ".snakemake" not in p.parts:
            os.utime(p, (t, t))


def _as_tuple(study):
    return (list(study.sites.to_dict("records")), study.people, study.identifiers, study.sources,
            study.transcripts, study.design)


def test_an_unchanged_study_loads_from_the_cache_equal_to_a_full_check(mini_study, parses):
    _age(mini_study)
    first = _load(mini_study)
    assert len(parses) == 5
    assert (mini_study / CACHE).stat().st_mode & 0o077 == 0     # raw transcripts: the owner's only
    again = _load(mini_study)
    assert len(parses) == 5                                     # nothing parsed again
    assert _as_tuple(again) == _as_tuple(first) == _as_tuple(load_study(_config(mini_study), mini_study,
                                                                         "config/mini.yaml"))


def test_a_changed_transcript_is_the_only_one_parsed_again(mini_study, parses):
    _age(mini_study)
    _load(mini_study)
    f = mini_study / "data/raw/beta/FG1.en.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("True.", "Quite true."), encoding="utf-8")
    parses.clear()
    study = _load(mini_study)
    assert parses == ["beta/FG1.en.txt"]
    assert study.transcripts[str(f)].turns[-1].text == "Quite true."


def test_an_edit_that_keeps_the_modification_time_is_seen_by_its_size(mini_study, parses):
    """A tool that restores the old mtime (cp -p, rsync -t) cannot hide an edit that changes the size."""
    _age(mini_study)
    _load(mini_study)
    f = mini_study / "data/raw/beta/FG1.en.txt"
    st = f.stat()
    f.write_text(f.read_text(encoding="utf-8").replace("True.", "Right."), encoding="utf-8")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    parses.clear()
    assert _load(mini_study).transcripts[str(f)].turns[-1].text == "Right."
    assert parses == ["beta/FG1.en.txt"]


def test_the_config_and_the_code_version_invalidate_the_cache(mini_study, parses, monkeypatch):
    _age(mini_study)
    _load(mini_study)
    config = _config(mini_study) | {"english": "en", "study": "renamed"}
    parses.clear()
    assert _load(mini_study, config).config["study"] == "renamed"    # a miss: checked again ...
    assert parses == []                                               # ... from unchanged transcripts
    monkeypatch.setattr(study_cache, "code_version", lambda: "another qualflow")   # e.g. a parser fix
    assert _load(mini_study, config).config["study"] == "renamed"
    assert len(parses) == 5                                           # every transcript parsed again


def test_a_new_roster_problem_is_found_with_a_warm_cache(mini_study, capsys):
    """Only a load without problems is cached; every cross-file check runs on any change."""
    _age(mini_study)
    _load(mini_study)
    roster = mini_study / "data/restricted/roster.tsv"
    roster.write_text(roster.read_text(encoding="utf-8").replace("Denis Okello\tDenis O.|Okello",
                                                                 "Denis Okello\tDenny"), encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        _load(mini_study)
    assert e.value.code == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{mini_study / 'data/raw/beta/FG1.en.txt'}:") and "'Denis O.'" in err[0]
    with pytest.raises(InputError) as full:
        load_study(_config(mini_study), mini_study, "config/mini.yaml")
    assert err[:-1] == [str(p) for p in full.value.problems]


def test_a_job_uses_the_main_process_check_and_never_writes_the_cache(mini_study, parses):
    _age(mini_study)
    (mini_study / CACHE).parent.mkdir(parents=True, exist_ok=True)
    _load(mini_study, full=False)
    assert not (mini_study / CACHE).exists() and len(parses) == 5    # a job's partial check: not cached
    _load(mini_study)
    parses.clear()
    job = _load(mini_study, full=False)
    assert parses == [] and len(job.transcripts) == 5


def test_a_damaged_cache_file_only_costs_a_full_check(mini_study, parses):
    _age(mini_study)
    write(mini_study / CACHE, "not a pickle")
    assert len(_load(mini_study).transcripts) == 5 and len(parses) == 5


def test_warm_cache_and_a_bad_edit_give_the_same_one_line_exit_1_and_run_nothing(tmp_path):
    """Through Snakemake: a study checked once (cache warm), then a speaker typo in one transcript."""
    project = copy_project(tmp_path / "project")
    snakemake(project, "-n", "--quiet")
    assert (project / CACHE).exists()
    f = project / "data/synthetic/raw/kampala/FG2.lg.txt"
    text = f.read_text(encoding="utf-8")
    first = next(l for l in text.splitlines() if l.startswith("Denis O.:"))
    line = text.splitlines().index(first) + 1
    f.write_text(text.replace(first, first.replace("Denis O.:", "Nakato S.:"), 1), encoding="utf-8")
    cold = copy_project(tmp_path / "cold")
    shutil.copy2(f, cold / "data/synthetic/raw/kampala/FG2.lg.txt")
    outs = []
    for where in (project, cold):                      # warm cache, then no cache at all
        proc = snakemake(where, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout
        assert not (where / "results").exists() and not (where / "restricted/parsed").exists()
        outs.append([l for l in proc.stderr.splitlines() if l.startswith(("data/", "config/", "qualflow:"))])
    assert outs[0] == outs[1] and len(outs[0]) == 2
    assert outs[0][0].startswith(f"data/synthetic/raw/kampala/FG2.lg.txt:{line}: speaker 'Nakato S.' is not "
                                 "in the roster for kampala")
    assert outs[0][1] == "qualflow: 1 input problem(s); nothing was run or changed."


def test_the_codebook_is_parsed_again_only_when_it_changes(mini_study, monkeypatch):
    from conftest import ROOT
    from qualflow import codebook

    shutil.copy2(ROOT / "config/codebook.yaml", mini_study / "config/codebook.yaml")
    config = _config(mini_study) | {"codebook": "config/codebook.yaml"}
    loads: list[str] = []
    real = codebook.load_codebook
    monkeypatch.setattr(codebook, "load_codebook", lambda path: loads.append(str(path)) or real(path))
    _age(mini_study)
    first = _load(mini_study, config).codebook
    f = mini_study / "data/raw/beta/FG1.en.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("True.", "Quite true."), encoding="utf-8")
    assert _load(mini_study, config).codebook == first and len(loads) == 1     # a transcript edit
    book = mini_study / "config/codebook.yaml"
    book.write_text(book.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    _load(mini_study, config)
    assert len(loads) == 2


def test_files_the_load_does_not_read_are_never_read_but_new_names_are_seen(mini_study, parses, monkeypatch):
    """An audio file in a subfolder of a site is not hashed; a new transcript file is found."""
    write(mini_study / "data/raw/beta/audio/FG1.wav", "RIFF....")
    _age(mini_study)
    read: list[str] = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self.name) or real(self))
    _load(mini_study)
    assert "FG1.wav" not in read and "FG1.en.txt" in read
    roster = mini_study / "data/restricted/roster.tsv"
    roster.write_text(roster.read_text(encoding="utf-8").replace("alpha\tFG1\t1\t", "alpha\tFG1|FG2\t1\t"),
                      encoding="utf-8")
    write(mini_study / "data/raw/alpha/FG2.en.txt", "---\nkind: focus_group\ndate: 2018-10-02\n---\nAnna S.: Hello.\n")
    parses.clear()
    study = _load(mini_study)
    assert parses == ["alpha/FG2.en.txt"] and len(study.transcripts) == 6
