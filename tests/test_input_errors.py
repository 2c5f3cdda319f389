"""What a data manager meets on day one: inputs checked at load, one exact line per problem.

Each bad-input case runs ``snakemake -n`` on a copy of the project and asserts the exact line, the
exit code, no traceback, and that data/ and results/ are unchanged (issue 12, items 1, 3 and 4).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import copy_project, snakemake


def _digest(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("inputs") / "project")


def _copy(pristine: Path, tmp_path: Path) -> Path:
    import shutil
    dst = tmp_path / "project"
    shutil.copytree(pristine, dst)
    return dst


def _replace(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, l in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in l)


def _rejected(project: Path) -> list[str]:
    """Run ``snakemake -n``; it must fail at load: exit 1, no traceback, data/ and results/ untouched."""
    before = {d: _digest(project / d) for d in ("data", "results")}
    proc = snakemake(project, "--profile", "profiles/default", "-n", check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert {d: _digest(project / d) for d in ("data", "results")} == before
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    i = next(i for i, l in enumerate(lines) if l.startswith("qualflow: "))
    problems = lines[:i]
    # only the problems are printed before the count line (Snakemake prints nothing of its own first)
    return [l for l in problems if not l.startswith(("Using profile", "Assuming", "Building DAG"))]


def test_trailing_space_in_site_ids_is_ignored_everywhere(pristine, tmp_path, demo):
    """Item 1: `ulm ` in sites.tsv and the roster is `ulm`, for the load check and for the per-site jobs."""
    project = _copy(pristine, tmp_path)
    sites, roster = project / "config/sites.tsv", project / "data/synthetic/restricted/roster.tsv"
    _replace(sites, "\nulm\t", "\nulm \t")
    _replace(roster, "\nulm\t", "\nulm \t", count=3)
    proc = snakemake(project, "--profile", "profiles/default", "pseudonymise_ulm", check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    # the per-site slices hold ulm's rows, so ulm's pseudonymised transcripts equal a clean run's
    for f in ("FG1.en.txt", "FG1.de.txt", "FG2.en.tsv"):
        assert (project / "results/pseudonymised/ulm" / f).read_bytes() == \
            (demo / "results/pseudonymised/ulm" / f).read_bytes()
    slice_roster = (project / "restricted/inputs/ulm/roster.tsv").read_text(encoding="utf-8")
    assert slice_roster.count("\n") == roster.read_text(encoding="utf-8").count("\nulm") + 1


def test_a_language_without_markers_is_rejected_at_load(pristine, tmp_path):
    """Item 3: a study language needs its markers (else false marker_mismatch flags)."""
    project = _copy(pristine, tmp_path)
    sites = project / "config/sites.tsv"
    _replace(sites, "\tsecondary\tde\tnone", "\tsecondary\tde,es\tnone")
    line = _line_of(sites, "de,es")
    assert _rejected(project) == [
        f"config/sites.tsv:{line}: language es has no markers in config/config.yaml: add markers: es: with "
        "the bracketed forms its transcribers write for crosstalk, inaudible, laughter"]


def test_markers_with_other_names_than_english_are_rejected(pristine, tmp_path):
    project = _copy(pristine, tmp_path)
    _replace(project / "config/config.yaml", ', laughter: ["[kicheko]"]', "")
    assert _rejected(project) == [
        "config/config.yaml: markers for sw lacks laughter: give every language the same marker names as en "
        "(crosstalk, inaudible, laughter), or the translation check reports false marker_mismatch flags"]


def test_utf16_roster_gets_the_excel_steps(pristine, tmp_path):
    """Item 4: Excel's 'Unicode Text' is UTF-16; the hint says how to get UTF-8 from there."""
    project = _copy(pristine, tmp_path)
    roster = project / "data/synthetic/restricted/roster.tsv"
    roster.write_bytes(roster.read_text(encoding="utf-8").encode("utf-16"))
    assert _rejected(project) == [
        "data/synthetic/restricted/roster.tsv:1: is not UTF-8 (it looks like UTF-16): re-save it as UTF-8: in Excel, "
        "File > Save As > 'Unicode Text (*.txt)', then open that file in Notepad, File > Save As, Encoding "
        "'UTF-8', and name it .tsv again (in LibreOffice Calc: Save As 'Text CSV', Edit filter settings, "
        "character set 'Unicode (UTF-8)', field delimiter {Tab})"]


def test_cp1252_transcript_gets_the_word_steps(pristine, tmp_path):
    project = _copy(pristine, tmp_path)
    f = project / "data/synthetic/raw/ulm/FG1.de.txt"
    text = f.read_text(encoding="utf-8")
    f.write_bytes(text.encode("cp1252"))
    line = next(i for i, l in enumerate(text.splitlines(), 1) if any(ord(c) > 127 for c in l))
    assert _rejected(project) == [
        f"data/synthetic/raw/ulm/FG1.de.txt:{line}: is not UTF-8 (it looks like Windows-1252 / ISO-8859-1 (Western "
        "European)): re-save it as UTF-8: in Word, File > Save As > 'Plain Text (*.txt)', then in the File "
        "Conversion box choose 'Other encoding' > 'Unicode (UTF-8)' (Word's 'Unicode' is UTF-16); in Notepad "
        "or another editor, Save As with Encoding 'UTF-8'"]


def test_speaker_typo_gets_did_you_mean(pristine, tmp_path):
    project = _copy(pristine, tmp_path)
    f = project / "data/synthetic/raw/ulm/FG1.en.txt"
    line = _line_of(f, "Sabine K.: Yes, I'll start.")
    _replace(f, "Sabine K.: Yes, I'll start.", "Sabin K.: Yes, I'll start.")
    assert _rejected(project) == [
        f"data/synthetic/raw/ulm/FG1.en.txt:{line}: speaker 'Sabin K.' is not in the roster for ulm: did you mean "
        "'Sabine K.'? If it is someone else, add the person (or this spelling as an alias) to roster.tsv"]


def test_empty_required_cell_says_so(pristine, tmp_path):
    project = _copy(pristine, tmp_path)
    roster = project / "data/synthetic/restricted/roster.tsv"
    _replace(roster, "\tSabine Kieselbach\t", "\t\t")
    assert _rejected(project) == ["data/synthetic/restricted/roster.tsv:2: column name is empty (required)"]


def test_duplicate_site_is_a_line_not_a_traceback(pristine, tmp_path):
    project = _copy(pristine, tmp_path)
    sites = project / "config/sites.tsv"
    row = next(l for l in sites.read_text(encoding="utf-8").splitlines() if l.startswith("ulm\t"))
    sites.write_text(sites.read_text(encoding="utf-8") + row + "\n", encoding="utf-8")
    assert _rejected(project) == ["config/sites.tsv:7: site 'ulm' is listed twice: keep one row per site"]


def test_missing_roster_file_is_a_line_not_a_traceback(pristine, tmp_path):
    project = _copy(pristine, tmp_path)
    (project / "data/synthetic/restricted/roster.tsv").unlink()
    assert _rejected(project) == ["data/synthetic/restricted/roster.tsv: does not exist: create it, or fix its path in "
                                  "config/config.yaml"]


def test_two_primary_coders_for_a_transcript_are_rejected_at_load(pristine, tmp_path):
    """Issue 12 item 8: the coding assignments' optional ``primary`` column (the coder each theme
    count uses) is checked before any job: a bad value, and two primaries for one transcript at the
    same specificity (an exact row beats a <site>.* row, which beats *)."""
    project = _copy(pristine, tmp_path)
    # a first load passes and is cached: the edit below must still be seen (the table is in the key)
    assert snakemake(project, "--profile", "profiles/default", "-n", check=False).returncode == 0
    table = project / "data/coding_assignments.tsv"
    table.write_text("coder\ttranscript\tprimary\tnote\n"
                     "coder_a\t*\tyes\tcodes every transcript\n"
                     "coder_b\tkampala.FG2\tyes\tbeats the * row\n"
                     "coder_b\tdar_es_salaam.FG1\tperhaps\t\n"
                     "coder_b\tbeer_sheva.FG1\tyes\t\n"
                     "coder_a\tbeer_sheva.FG1\tyes\tsecond exact row\n"
                     "coder_b\tulm.FG2\t\t\n", encoding="utf-8")
    assert _rejected(project) == [
        "data/coding_assignments.tsv:4: primary 'perhaps' must be yes or no (empty means no)",
        "data/coding_assignments.tsv:6: two primary coders for beer_sheva.FG1: coder_b (line 5, beer_sheva.FG1) "
        "and coder_a (beer_sheva.FG1): mark one of them primary, the other 'no'"]
