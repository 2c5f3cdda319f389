"""Identifying inputs never go into git by accident (issue 11, item 5).

A user's own roster, identifiers, gate decisions and transcripts, written where config/README.md tells
them to (top level, or a study folder), are ignored by `git add -A` and so by `git commit -a`; the two
demos' synthetic inputs, under data/synthetic/, are versioned as before.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import ROOT, write

ROSTER = ("site\ttranscript\tparticipant\tname\taliases\trole\tgender\tlabel\tcase_sensitive\n"
          "site1\tFG1\t1\tMaria Jose Rodriguez Perez\tMaria R.|Maria\tpsw\tfemale\t\t\n")
TRANSCRIPT = "---\nkind: focus_group\ndate: 2024-03-05\n---\nMaria R.: I work at Hospital San Rafael.\n"

USER_FILES = [
    "data/restricted/roster.tsv", "data/restricted/identifiers.tsv", "data/restricted/gate_decisions.tsv",
    "data/raw/site1/FG1.en.txt", "data/raw/site1/FG1.es.docx",
    "studies/my-study/data/restricted/roster.tsv", "studies/my-study/data/raw/site1/FG1.en.txt",
    "studies/my-study/restricted/pseudonym_key.tsv", "restricted/pseudonym_key.tsv",
]


def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_users_identifying_inputs_are_never_added_but_the_demos_are(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    for rel in USER_FILES:
        write(repo / rel, TRANSCRIPT if "/raw/" in rel else ROSTER)
    demo = ["data/synthetic/restricted/roster.tsv", "data/synthetic/raw/ulm/FG1.de.txt",
            "studies/key-informants/data/synthetic/restricted/roster.tsv",
            "studies/key-informants/data/synthetic/raw/pune/FG1.mr.txt", "data/codings/coder_a/ulm.FG1.tsv"]
    for rel in demo:
        write(repo / rel, ROSTER)
    _git(repo, "add", "-A")
    staged = _git(repo, "status", "--porcelain").splitlines()
    paths = {line[3:] for line in staged}
    assert paths == {".gitignore", *demo}, staged
    assert not [p for p in paths if p.startswith(("data/raw", "data/restricted", "restricted"))
                or "/data/raw/" in p or "/data/restricted/" in p]


def test_the_demos_point_at_their_versioned_synthetic_inputs():
    """Both demo configs read data/synthetic/, which holds every demo input and is not ignored."""
    import yaml
    for study in (ROOT, ROOT / "studies/key-informants"):
        config = yaml.safe_load((study / "config/config.yaml").read_text(encoding="utf-8"))
        for key in ("raw_dir", "roster", "identifiers"):
            assert config[key].startswith("data/synthetic/"), (study, key)
            assert (study / config[key]).exists()
        tracked = _git(ROOT, "ls-files", "--", str((study / config["roster"]).relative_to(ROOT)))
        assert tracked.strip(), f"{study / config['roster']} is not versioned"
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/synthetic/restricted/roster.tsv"], cwd=ROOT)
    assert ignored.returncode == 1   # not ignored
