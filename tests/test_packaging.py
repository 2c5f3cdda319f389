"""pyproject.toml is the one list of dependencies: environment.yml and the rule env must agree."""
from __future__ import annotations

import re
import tomllib

import yaml

from conftest import ROOT


def _names(specs) -> dict[str, str]:
    out = {}
    for spec in specs:
        if spec.startswith("-e"):
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", spec.strip())
        out[m.group(1).lower()] = m.group(3).replace(" ", "")
    return out


def _pip_section(path):
    deps = yaml.safe_load(path.read_text(encoding="utf-8"))["dependencies"]
    return next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert _names(_pip_section(ROOT / "environment.yml")) == _names(project["dependencies"])


def test_rule_environment_has_every_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {k: v for k, v in _names(project["dependencies"]).items()
               if k not in {"nbconvert", "nbclient", "ipykernel", "nbformat",   # notebooks only, not rules
                            "snakemake-executor-plugin-slurm"}}                # the main process only
    env = _names(_pip_section(ROOT / "workflow/envs/qualflow.yaml"))
    assert env == runtime


def test_license_is_gpl3_or_later_as_krippendorff_requires():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "GPL-3.0-or-later"
    assert "GNU GENERAL PUBLIC LICENSE" in (ROOT / "LICENSE").read_text()[:200]


def test_readme_first_screen_gives_the_two_commands():
    first = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:25])
    assert "make run" in first and "make test" in first
    assert "make test" in (ROOT / ".ci/run").read_text()
