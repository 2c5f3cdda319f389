"""A site in a language the project was never shown (Finnish), added as a user would (issue 11).

Finnish writes case endings onto names (Ainolle "to Aino", Ainon "Aino's"). Without affix rules for
`fi` the pseudonymiser replaces only the bare name and the leak gate must stop on the inflected
forms, by file and key id, saying how to resolve it; with the endings added under `affixes: fi:` in
the config, the same run replaces them and passes the gate.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from conftest import copy_project, snakemake

pytestmark = pytest.mark.workflow

FM = "---\nkind: focus_group\ndate: 2019-05-14\n---\n"


def _add_finnish_site(project):
    with open(project / "config/sites.tsv", "a", encoding="utf-8") as fh:
        fh.write("oulu\tOulu\tFinland\thigh\thigh-income\tsecondary\tfi\tsome\n")
    with open(project / "data/synthetic/restricted/roster.tsv", "a", encoding="utf-8") as fh:
        fh.write("oulu\tFG1\t1\tAino Vuorijärvi\tAino V.|Aino\tpsw\tfemale\t\t\n"
                 "oulu\tFG1\t2\tTapio Kelokallio\tTapio K.|Tapio\tmh_worker\tmale\t\t\n"
                 "oulu\tFG1\tF1\tSirkka Lummelahti\tSirkka L.\tfacilitator\tfemale\t\t\n")
    raw = project / "data/synthetic/raw/oulu"
    raw.mkdir(parents=True)
    (raw / "FG1.fi.txt").write_text(
        FM + "Sirkka L.: Tervetuloa. Mitä mieltä olette vertaistuesta?\n\n"
             "Aino V.: Kerroin Tapiolle, että vertaistuki antaa toivoa.\n\n"
             "Tapio K.: Ainon kokemus auttaa meitä kaikkia, ja Aino tietää sen.\n", encoding="utf-8")
    (raw / "FG1.en.txt").write_text(
        FM + "Sirkka L.: Welcome. What do you think about peer support?\n\n"
             "Aino V.: I told Tapio that peer support gives hope.\n\n"
             "Tapio K.: Aino's experience helps all of us, and Aino knows it.\n", encoding="utf-8")
    config = yaml.safe_load((project / "config/config.yaml").read_text(encoding="utf-8"))
    config["markers"]["fi"] = {"inaudible": ["[epäselvä]"], "crosstalk": ["[päällekkäin]"], "laughter": ["[naurua]"]}
    return config


def _gate(project):
    return subprocess.run([sys.executable, "-m", "qualflow.leaks", "results/pseudonymised/oulu"],
                          cwd=project, capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(project / "workflow"), "PATH": "/usr/bin:/bin"})


def test_a_site_in_a_new_language_fails_safe_then_passes_with_its_affixes(tmp_path):
    project = copy_project(tmp_path / "fi")
    config = _add_finnish_site(project)
    (project / "config/config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    target = "results/pseudonymised/oulu/FG1.fi.txt"
    snakemake(project, "--profile", "profiles/default", "--quiet", "all", "--", target)
    text = (project / target).read_text(encoding="utf-8")
    assert "Tapiolle" in text and "Ainon" in text          # no rules for fi: the inflected forms stay
    proc = _gate(project)
    assert proc.returncode == 1
    lines = [l for l in proc.stderr.splitlines() if l.startswith("results/")]
    assert any(l.startswith("results/pseudonymised/oulu/FG1.fi.txt:") and "(roster:oulu:2, participant;" in l
               and "affixes: fi: suffixes" in l for l in lines), proc.stderr
    assert not any(name in proc.stderr for name in ("Tapio", "Aino"))
    # The user adds Finnish endings to the config, as config/README.md says, and re-runs.
    config["affixes"] = {"fi": {"suffixes": ["n", "lle", "lta", "lla", "ssa", "sta", "a", "ä"]}}
    (project / "config/config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    snakemake(project, "--profile", "profiles/default", "--quiet", "all", "--", target)
    text = (project / target).read_text(encoding="utf-8")
    assert "P02lle" in text and "P01n kokemus" in text and "Aino" not in text and "Tapio" not in text
    proc = _gate(project)
    assert proc.returncode == 0, proc.stderr
