"""The audit notebooks: committed clean, and executed headless on results/.

Each notebook runs twice: on a hand-made results/ tree (always; some optional files missing on
purpose, so the "not found" path is exercised) and on the demo study's results/ once the workflow
has built them (skipped before). Execution uses nbclient with the ``python3`` kernel; jupyter_client
starts it with the current interpreter, so the kernel sees the same packages as the tests.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from conftest import ROOT, write
from test_themes import project, run_stage  # noqa: F401  (the hand-made study as files)

NOTEBOOKS = ROOT / "notebooks"
AUDIT, AGREEMENT = "01_quote_audit_trail.ipynb", "02_agreement_and_flags.ipynb"


def execute(path: Path, cwd: Path, out_dir: Path) -> nbformat.NotebookNode:
    """Run a notebook headless with ``cwd`` as its working folder; keep the executed copy in out_dir."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    return nb


def stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


# ----------------------------------------------------------------------------------------------
# the committed files
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [AUDIT, AGREEMENT])
def test_committed_notebook_is_clean(name: str) -> None:
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert path.stat().st_size < 30_000
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear the outputs"
            # notebooks read the shareable results only
            assert "restricted" not in cell.source and "data/" not in cell.source
    assert len({c.get("id") for c in nb.cells}) == len(nb.cells)


# ----------------------------------------------------------------------------------------------
# a hand-made results/ tree
# ----------------------------------------------------------------------------------------------

BY_THEME = ("theme\tlabel\torigin\tscope\tn_units\tn_coders\talpha\tci_low\tci_high\tq_below_800\t"
            "q_below_667\tpct_agreement\tprevalence_coder_a\tprevalence_coder_b\tkappa_nvivo\tundefined\tmethod\n"
            "T1\tCommunity and staff attitudes\tinductive\tall\t3\t2\t0.75\t0.4\t1\t0.6\t0.3\t0.9\t0.5\t0.4\t0.7\t\tunit bootstrap\n"
            "T2\tResource availability\tinductive\tall\t3\t2\t\t\t\t\t\t1\t0\t0\t\tno variation\tunit bootstrap\n")
BY_CODE = ("code\tlabel\ttheme\torigin\tscope\tn_units\tn_coders\talpha\tci_low\tci_high\tq_below_800\t"
           "q_below_667\tpct_agreement\tprevalence_coder_a\tprevalence_coder_b\tkappa_nvivo\tundefined\tmethod\n"
           "(pooled)\tall codes, pooled\t\t\tall\t3\t2\t0.612\t0.2\t0.9\t0.8\t0.5\t0.8\t0.3\t0.3\t0.6\t\tunit bootstrap\n"
           "c_stigma\tStigma\tT1\tinductive\tall\t3\t2\t0.75\t0.4\t1\t0.6\t0.3\t0.9\t0.5\t0.4\t0.7\t\tunit bootstrap\n"
           "c_stigma\tStigma\tT1\tinductive\tsite:beta\t2\t2\t0.5\t0.1\t1\t0.6\t0.3\t0.9\t0.5\t0.4\t0.7\t\tunit bootstrap\n")
SUMMARY = ("site\tlang_pair\tflag\tseverity\tflags\topen\tresolved\n"
           "alpha\tde-en\tempty_translation\terror\t0\t0\t0\n"
           "beta\tlg-en\tempty_translation\terror\t2\t1\t1\n"
           "beta\tlg-en\tnumber_mismatch\twarning\t1\t1\t0\n")
FLAGS = ("transcript\tlang_pair\tturn\tturn_en\tspeaker\tflag\tseverity\tdetail\tstatus\tdecision\tnote\n"
         "FG1\tlg-en\t2\t2\tP09\tlength_ratio_outlier\twarning\tratio 0.2\topen\t\t\n"
         "FG1\tlg-en\t3\t3\tP12\tnumber_mismatch\twarning\t2 vs 4\topen\t\t\n")


@pytest.fixture
def results_tree(project: Path) -> Path:  # noqa: F811
    """The hand-made study's results/, plus agreement and translation tables (no disagreements.tsv)."""
    run_stage(project)
    write(project / "results/agreement/by_theme.tsv", BY_THEME)
    write(project / "results/agreement/by_code.tsv", BY_CODE)
    write(project / "results/translation/summary.tsv", SUMMARY)
    write(project / "results/translation/beta/FG1.flags.tsv", FLAGS)
    shutil.copytree(NOTEBOOKS, project / "notebooks")
    return project


def test_audit_notebook_on_hand_made_results(results_tree: Path, tmp_path: Path) -> None:
    nb = execute(results_tree / "notebooks" / AUDIT, results_tree / "notebooks", tmp_path / "out")
    out = stdout(nb)
    # "When it comes to class" is beta.FG1 turn 2, coded by both coders (merged spans)
    assert "unit: beta.FG1 turn 2\n" in out
    assert "attribution: [#9, Betatown, PSW]" in out
    assert "3 coding(s) of this unit by 2 coder(s)" in out          # c_stigma, c_class, p_mutual
    assert "  coder_b: c_class\n" in out
    assert "note: results/agreement/disagreements.tsv not found" in out
    assert "lg, turn 2, speaker P09 (aligned by the translation check):\n[lg] When it comes to class" in out
    assert "1 translation flag(s) for beta.FG1 English turn 2" in out and "length_ratio_outlier" in out


def test_audit_notebook_follows_quote_parameter(results_tree: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUALFLOW_QUOTE", "no budget for peer workers")
    (results_tree / "results/translation/alpha").mkdir(parents=True, exist_ok=True)
    out = stdout(execute(results_tree / "notebooks" / AUDIT, results_tree / "notebooks", tmp_path / "out"))
    assert "unit: alpha.FG2 turn 2\n" in out
    assert "attribution: [#3, Alphaville, Manager]" in out
    assert "note: results/translation/alpha/FG2.flags.tsv not found" in out
    assert "de, turn 2, speaker P03 (same turn number and speaker):" in out


def test_agreement_notebook_on_hand_made_results(results_tree: Path, tmp_path: Path) -> None:
    nb = execute(results_tree / "notebooks" / AGREEMENT, results_tree / "notebooks", tmp_path / "out")
    out = stdout(nb)
    assert "pooled alpha (all codes, all units): 0.612" in out
    assert "translation flags: 3 (open: 2)" in out
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1


def test_agreement_notebook_without_agreement_or_translation(results_tree: Path, tmp_path: Path) -> None:
    shutil.rmtree(results_tree / "results/agreement")
    (results_tree / "results/translation/summary.tsv").unlink()
    out = stdout(execute(results_tree / "notebooks" / AGREEMENT, results_tree / "notebooks", tmp_path / "out"))
    assert "note: results/agreement/by_theme.tsv not found" in out
    assert "note: results/translation/summary.tsv not found" in out


# ----------------------------------------------------------------------------------------------
# the demo study, after the workflow has run
# ----------------------------------------------------------------------------------------------

def test_audit_notebook_on_demo_results(demo: Path, tmp_path: Path) -> None:
    quotes = sorted((demo / "results/themes/quotes").glob("kampala/*.md"))
    line = next(l for q in quotes for l in q.read_text(encoding="utf-8").splitlines()
                if l.startswith("- ") and "When it comes to class" in l)
    transcript, turn = re.search(r"\((\S+), turn (\d+);", line).groups()
    out = stdout(execute(demo / "notebooks" / AUDIT, demo / "notebooks", tmp_path))
    assert f"unit: {transcript} turn {turn}\n" in out
    assert "attribution: [#9, Kampala, PSW]" in out


def test_agreement_notebook_on_demo_results(demo: Path, tmp_path: Path) -> None:
    by_code = pd.read_csv(demo / "results/agreement/by_code.tsv", sep="\t", dtype=str, keep_default_na=False)
    pooled = by_code[(by_code["scope"] == "all") & (by_code["code"] == "(pooled)") & (by_code["origin"] == "")]
    assert len(pooled) == 1 and pooled["alpha"].iloc[0] != ""
    out = stdout(execute(demo / "notebooks" / AGREEMENT, demo / "notebooks", tmp_path))
    assert f"pooled alpha (all codes, all units): {float(pooled['alpha'].iloc[0]):.3f}" in out
