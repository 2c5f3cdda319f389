"""Shared test fixtures: paths to the project, the shared reference folder, and a tiny study."""
from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT / "workflow"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared (reference papers and REFI-QDA fixtures) is not beside the project")
    return SHARED


def chromium() -> str:
    """Debian's headless Chromium for the browser tests; CI must have it (make browser installs it)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium is not installed, and CI must run the browser test: apt-get install -y chromium")
    pytest.skip("chromium not installed (apt-get install -y chromium); the browser test runs in CI")


def write_rows(path: Path, header, rows) -> Path:
    """A tab-separated table as a user's tool would write it (header, then rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def mini_study(tmp_path: Path) -> Path:
    """A two-site study small enough to reason about by hand, laid out like the real project."""
    write(tmp_path / "config/sites.tsv",
          "site\tname\tcountry\tincome_group\tsetting\tcare_level\tlanguages\tpsw_experience\n"
          "alpha\tAlphaville\tGermany\thigh\thigh-income\ttertiary\tde\tnone\n"
          "beta\tBetatown\tUganda\tlow\tlow-income\tsecondary\tlg,en\testablished\n")
    write(tmp_path / "data/restricted/roster.tsv",
          "site\ttranscript\tparticipant\tname\taliases\trole\tgender\tlabel\tcase_sensitive\n"
          "alpha\tFG1\t1\tAnna Schmidt\tAnna S.|Anna\tpsw\tfemale\t\t\n"
          "alpha\tFG1\t2\tBernd Berg\tBernd B.\tmh_worker\tmale\t\t\n"
          "alpha\tFG1\tF1\tFranz Frei\tFranz F.\tfacilitator\tmale\t\t\n"
          "beta\tFG1\t1\tSarah Nakato\tSarah N.|Nakato\tpsw\tfemale\t\t\n"
          "beta\tFG1\t2\tDenis Okello\tDenis O.|Okello\tmh_manager\tmale\tManager\t\n"
          "beta\tINT1\t3\tMercy Kitaka\tMercy K.\tpolicy_maker\tfemale\t\t\n"
          "beta\tFG1|INT1\tF1\tIsaac Mulindwa\tIsaac M.\tfacilitator\tmale\t\t\n")
    write(tmp_path / "data/restricted/identifiers.tsv",
          "site\tterm\taliases\tcategory\tcase_sensitive\n"
          "alpha\tKlinik Buchenhain\tBuchenhain\thospital\t\n"
          "beta\tKisoboka Hill Hospital\tKisoboka\thospital\t\n")
    fm = "---\nkind: focus_group\ndate: 2018-10-01\n---\n"
    write(tmp_path / "data/raw/alpha/FG1.de.txt",
          fm + "Franz F.: Willkommen. Was denken Sie?\n\nAnna S.: Ich arbeite in der Klinik Buchenhain.\n"
               "Das ist gut.\n\n[Lachen]\n\nBernd B.: Anna hat recht.\n")
    write(tmp_path / "data/raw/alpha/FG1.en.txt",
          fm + "Franz F.: Welcome. What do you think?\n\nAnna S.: I work at Klinik Buchenhain.\n"
               "That is good.\n\n[laughter]\n\nBernd B.: Anna is right.\n")
    write(tmp_path / "data/raw/beta/FG1.lg.txt",
          fm + "Isaac M.: Mwasuze mutya.\n\nSarah N.: Nkola e Kisoboka.\n\nDenis O.: Kituufu.\n")
    write(tmp_path / "data/raw/beta/FG1.en.txt",
          fm + "Isaac M.: Good morning.\n\nSarah N.: I work at Kisoboka.\n\nDenis O.: True.\n")
    write(tmp_path / "data/raw/beta/INT1.en.txt",
          "---\nkind: interview\ndate: 2018-11-02\n---\nIsaac M.: Tell me.\n\nMercy K.: Policy matters.\n")
    config = {"study": "mini", "sites": "config/sites.tsv", "roster": "data/restricted/roster.tsv",
              "identifiers": "data/restricted/identifiers.tsv", "raw_dir": "data/raw", "english": "en"}
    import yaml
    write(tmp_path / "config/mini.yaml", yaml.safe_dump(config))
    return tmp_path


PROJECT_PARTS = ["Snakefile", "config", "data", "workflow", "profiles", "notebooks"]


def copy_project(dst: Path) -> Path:
    """A copy of the project's inputs and code, so a test run never touches the checkout."""
    dst.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for part in PROJECT_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=ignore)
        else:
            shutil.copy2(src, dst / part)
    return dst


def snakemake(project: Path, *args: str, check: bool = True):
    """Run the venv's snakemake in ``project``; return the CompletedProcess."""
    import subprocess
    exe = Path(sys.executable).parent / "snakemake"
    proc = subprocess.run([str(exe), *args], cwd=project, capture_output=True, text=True, timeout=1200)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """The demo study run end to end once per test session, in a temporary copy of the project."""
    project = copy_project(tmp_path_factory.mktemp("demo") / "project")
    snakemake(project, "--profile", "profiles/default", "--quiet")
    return project
