"""The whole workflow on the demo study: Table 2, the leak gate, determinism, jobs per site, errors."""
from __future__ import annotations

import csv
import hashlib
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, SHARED, copy_project, snakemake


def test_table2_equals_the_published_table(demo, shared):
    ours = (demo / "results/tables/table2.tsv").read_text(encoding="utf-8")
    published = (shared / "reference/table2_published.tsv").read_text(encoding="utf-8")
    assert ours.strip().splitlines() == published.strip().splitlines()


def test_table2_markdown_and_html_carry_the_same_numbers(demo):
    md = (demo / "results/tables/table2.md").read_text(encoding="utf-8")
    assert "| **Total** | **12** | **86** | **26** | **49** | **9** | **2** | **30** | **56** |" in md
    html = (demo / "results/tables/table2.html").read_text(encoding="utf-8")
    assert "<td>Kampala</td><td>4</td><td>32</td><td>16</td><td>14</td><td>1</td><td>1</td><td>10</td><td>22</td>" in html


def _forms() -> list[tuple[str, bool]]:
    """Every synthetic roster and identifier name and alias, with its case sensitivity."""
    out = []
    for name, cols in (("roster.tsv", ("name", "aliases")), ("identifiers.tsv", ("term", "aliases"))):
        with open(ROOT / "data/synthetic/restricted" / name, encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                cs = row.get("case_sensitive") == "yes"
                for col in cols:
                    out += [(f.strip(), cs) for f in row[col].split("|") if f.strip()]
    return out


def test_no_roster_or_identifier_name_anywhere_under_results(demo):
    """An independent check of the gate: a plain regex search of every form over every file."""
    assert (demo / "results/leak_check.tsv").read_text() == "file\tline\tkey\tcategory\n"
    texts = {}
    for p in (demo / "results").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            if p.suffix == ".qdpx":
                import zipfile
                with zipfile.ZipFile(p) as z:
                    data = b"\n".join(z.read(n) for n in z.namelist())
            texts[p] = data.decode("utf-8", "replace")
    leaks = []
    for form, cs in _forms():
        pat = re.compile(r"(?<!\w)" + re.escape(form) + r"(?!\w)", 0 if cs else re.IGNORECASE)
        leaks += [f"{p.relative_to(demo)}: {form}" for p, t in texts.items() if pat.search(t)]
    assert not leaks, leaks[:10]


def test_identifying_outputs_only_under_restricted(demo):
    for name in ("pseudonym_key.tsv", "replacement_log.tsv", "review_candidates.tsv"):
        assert (demo / "restricted" / name).stat().st_size > 0
        assert not list((demo / "results").rglob(name))
    key = pd.read_csv(demo / "restricted/pseudonym_key.tsv", sep="\t", dtype=str)
    assert {"P09", "F01", "[TP01]", "[PLACE_01]", "[HOSPITAL_01]", "[ORG_01]"} <= set(key["placeholder"])
    ignored = (ROOT / ".gitignore").read_text()
    assert "/restricted/" in ignored.splitlines()


def test_placeholders_identical_in_local_and_english_files(demo):
    """Same turn, same placeholders, in every clean translated transcript (planted problems aside)."""
    planted = {("hamburg", "FG1", 47), ("beer_sheva", "FG1", 33)}
    checked = 0
    for local in sorted((demo / "results/pseudonymised").glob("*/*.tsv")):
        parts = local.name.split(".")
        if len(parts) != 3 or parts[1] == "en" or parts[0] == "counts":
            continue
        en = local.parent / f"{parts[0]}.en.tsv"
        a = pd.read_csv(local, sep="\t", dtype=str, keep_default_na=False)
        b = pd.read_csv(en, sep="\t", dtype=str, keep_default_na=False)
        if len(a) != len(b):      # ulm FG2: the planted missing turn
            continue
        for x, y in zip(a.itertuples(), b.itertuples()):
            if (local.parent.name, parts[0], int(x.turn)) in planted:
                continue
            ph = lambda t: sorted(re.findall(r"\[[A-Z]+_?\d+\]|(?<![A-Za-z0-9])P\d{2}(?!\d)", t))  # noqa: E731
            assert ph(x.text) == ph(y.text), (local.name, x.turn)
            checked += 1
    assert checked > 800


def test_one_parse_and_pseudonymise_job_per_site_not_per_file(demo):
    """Parsing is part of each site's pseudonymise job (issue 14: no parse_<site> job, no per-file job)."""
    out = snakemake(demo, "-n", "--forceall", "--quiet", "rules").stdout
    jobs = dict(re.findall(r"^(\S+)\s+(\d+)$", out, flags=re.M))
    for site in ("ulm", "hamburg", "kampala", "dar_es_salaam", "beer_sheva"):
        assert jobs[f"pseudonymise_{site}"] == "1"
    assert not any(k.startswith("parse_") for k in jobs)
    index = pd.read_csv(demo / "restricted/parsed/ulm/transcripts.tsv", sep="\t", dtype=str)
    assert list(index["transcript"] + "." + index["lang"]) == ["FG1.de", "FG1.en", "FG2.de", "FG2.en"]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_runs_give_byte_identical_results_and_restricted(demo, tmp_path):
    again = copy_project(tmp_path / "again")
    snakemake(again, "--profile", "profiles/default", "--quiet")
    for folder in ("results", "restricted"):
        a, b = _digest(demo / folder), _digest(again / folder)
        assert a.keys() == b.keys()
        if folder == "results":   # the themes stage's files are among them (issue 12, issue 14)
            assert {"themes/transcripts.tsv", "themes/summary.md", "themes/quotes/index.md",
                    "themes/quotes/kampala/community_staff_attitudes.md"} <= set(a)
        differ = [k for k in a if a[k] != b[k]]
        assert not differ, f"{folder}: {differ}"


def test_bad_input_stops_before_any_job_with_one_line_per_problem(tmp_path):
    project = copy_project(tmp_path / "bad")
    f = project / "data/synthetic/raw/kampala/FG2.lg.txt"
    before = f.read_bytes()
    text = before.decode()
    first = next(l for l in text.splitlines() if l.startswith("Denis O.:"))
    f.write_text(text.replace(first, first.replace("Denis O.:", "Nakato S.:"), 1), encoding="utf-8")
    changed = f.read_bytes()
    line = text.splitlines().index(first) + 1
    proc = snakemake(project, "--profile", "profiles/default", check=False)
    assert proc.returncode == 1
    assert f"data/synthetic/raw/kampala/FG2.lg.txt:{line}: speaker 'Nakato S.' is not in the roster for kampala" in proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert not (project / "results/tables").exists() and not (project / "restricted/parsed").exists()
    assert f.read_bytes() == changed    # inputs never modified


def test_demo_alpha_equals_an_independent_computation(demo):
    """by_code.tsv's alpha per code (scope all) recomputed here from codings.tsv with krippendorff."""
    import krippendorff
    import numpy as np
    res = demo / "results"
    codings = pd.read_csv(res / "codes/codings.tsv", sep="\t", dtype=str, keep_default_na=False)
    coverage = pd.read_csv(res / "codes/coverage.tsv", sep="\t", dtype=str, keep_default_na=False)
    double = coverage.groupby("transcript")["coder"].apply(set)
    double = double[double.map(len) >= 2]
    coders = sorted(set.union(*double))
    units = []
    for tid in sorted(double.index):
        site, name = tid.split(".")
        t = pd.read_csv(res / f"pseudonymised/{site}/{name}.en.tsv", sep="\t", dtype=str, keep_default_na=False)
        units += [(tid, int(x)) for x in t[(t.kind == "speech") & (t.role != "facilitator")]["turn"]]
    col = {u: i for i, u in enumerate(units)}
    by_code = pd.read_csv(res / "agreement/by_code.tsv", sep="\t", dtype=str, keep_default_na=False)
    rows = by_code[(by_code.scope == "all") & (by_code.code != "(pooled)") & ~by_code.undefined.str.startswith(
        ("no coder used", "every pairable", "fewer than two"))]
    assert len(rows) >= 30
    estimable = 0
    for r in rows.itertuples():
        m = np.full((len(coders), len(units)), np.nan)
        for i, c in enumerate(coders):
            for j, (tid, _) in enumerate(units):
                if c in double[tid]:
                    m[i, j] = 0
        hit = codings[(codings.code == r.code) & codings.transcript.isin(double.index)]
        for h in hit.itertuples():
            key = (h.transcript, int(h.turn))
            if key in col:
                m[coders.index(h.coder), col[key]] = 1
        expected = krippendorff.alpha(reliability_data=m, level_of_measurement="nominal")
        present = int((np.nansum(m, axis=0) > 0).sum())
        assert int(r.n_units) == len(units) and int(r.n_present) == present, r.code
        if present >= 10:          # agreement.min_present in config/config.yaml
            assert abs(float(r.alpha) - expected) < 1e-6, (r.code, r.alpha, expected)
            estimable += 1
        else:                      # a rare code: no alpha, the reason says why (issue 12, item 9)
            assert r.alpha == "" and r.undefined.startswith(f"not estimable: present in {present} unit(s)"), r.code
    assert estimable >= 5


# A one-word edit in one site's English transcript plans that site's jobs and the aggregates that read
# its data, and no other site's jobs (docs/DESIGN.md, "What re-runs"). Item 6 of issue 12. This is the
# dry run's plan: the readers of the checkpoints' settled copies are in it, and a real run skips those
# whose copies kept their bytes (the real-run tests below).
# Not Table 2 (`participants`): who speaks where comes from the load (restricted/inputs/<site>/speakers.tsv),
# which an edit of the words leaves unchanged.
RERUN_AFTER_ULM_EN_EDIT = {
    "pseudonymise_ulm", "translation_check_ulm", "codes_ulm",   # the site's own jobs
    "pseudonymise_summary", "translation_summary", "codes", "agreement", "agreement_ledger",
    "themes", "theme_figures", "framework_matrix", "report_pages", "leak_check", "all",
    # the leak gate's parts (issue 14): the site's own share, and each study-wide rule that re-ran
    "leak_scan_ulm", "leak_scan_pseudonymise_summary", "leak_scan_translation_summary",
    "leak_scan_codes", "leak_scan_agreement", "leak_scan_agreement_ledger", "leak_scan_themes",
    "leak_scan_theme_figures",
    "leak_scan_framework_matrix", "leak_scan_report_pages",
}


def test_one_word_edit_at_one_site_reruns_only_that_site_and_the_aggregates(demo, tmp_path):
    project = tmp_path / "incremental"
    shutil.copytree(demo, project, symlinks=True)            # copy2: outputs keep their times
    f = project / "data/synthetic/raw/ulm/FG1.en.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("But maybe a good one.", "But maybe a fine one.", 1),
                 encoding="utf-8")
    out = snakemake(project, "--profile", "profiles/default", "-n", "--quiet", "rules").stdout
    jobs = set(re.findall(r"^(\S+)\s+\d+$", out, flags=re.M)) - {"total"}
    assert jobs == RERUN_AFTER_ULM_EN_EDIT
    assert not any(j.endswith(("_hamburg", "_kampala", "_dar_es_salaam", "_beer_sheva")) for j in jobs)


def _jobs_run(stderr: str) -> set[str]:
    """The jobs a real run executed (Snakemake's header line per job; its "Job stats" table is the plan
    made before the checkpoints finished)."""
    return set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\S+):$", stderr, flags=re.M))


def _edit_last_turn(project: Path) -> None:
    """One word of Ulm FG1's last turn (the facilitator's closing words: no coding points at it), its
    word count kept."""
    f = project / "data/synthetic/raw/ulm/FG1.en.txt"
    lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
    i = max(k for k, l in enumerate(lines) if re.match(r"^[^:]+: ", l))
    word = re.findall(r"\b[a-z]{4,}\b", lines[i].split(":", 1)[1])[-1]
    lines[i] = lines[i].replace(word, word[::-1] if word[::-1] != word else word + "s", 1)
    f.write_text("".join(lines), encoding="utf-8")


# A real run after an edit nobody's coding points at (docs/DESIGN.md, "What re-runs"; issue 12 item 6):
# the checkpoints codes, translation_summary, themes and agreement settle copies of what their readers
# read, so the stages that quote coded turns, the figures and the report pages are not run again.
RUN_AFTER_UNCODED_EDIT = {
    "pseudonymise_ulm", "translation_check_ulm", "codes_ulm", "leak_scan_ulm",
    "codes", "leak_scan_codes",                       # project.qdpx and the coding packet hold the text
    "translation_summary", "leak_scan_translation_summary",   # the review page shows it
    "pseudonymise_summary", "leak_scan_pseudonymise_summary", "leak_check", "all",
}


def test_a_real_run_after_an_edit_no_coding_points_at_runs_only_what_the_bytes_need(demo, tmp_path):
    """The run executes only the jobs whose inputs' bytes changed, and its results and restricted/
    are byte-identical to a cold run of the edited study."""
    project = tmp_path / "uncoded"
    shutil.copytree(demo, project, symlinks=True)            # copy2: outputs keep their times
    _edit_last_turn(project)
    planned = snakemake(project, "--profile", "profiles/default", "-n", "--quiet", "rules").stdout
    assert {"themes", "agreement", "framework_matrix", "report_pages"} <= set(re.findall(r"^(\S+)\s+\d+$", planned,
                                                                                         flags=re.M))
    ran = _jobs_run(snakemake(project, "--profile", "profiles/default").stderr)
    assert ran == RUN_AFTER_UNCODED_EDIT
    cold = copy_project(tmp_path / "cold")
    _edit_last_turn(cold)
    snakemake(cold, "--profile", "profiles/default", "--quiet")
    for folder in ("results", "restricted"):
        a, b = _digest(project / folder), _digest(cold / folder)
        assert a.keys() == b.keys(), folder
        assert [k for k in a if a[k] != b[k]] == [], folder


def test_a_real_run_after_an_edit_of_a_coded_turn_requotes_it(demo, tmp_path):
    """The same one-word edit in a turn a coding points at re-runs the stages that quote it (not the
    alpha tables), and the new words are what they quote."""
    project = tmp_path / "coded"
    shutil.copytree(demo, project, symlinks=True)
    f = project / "data/synthetic/raw/ulm/FG1.en.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("But maybe a good one.", "But maybe a fine one.", 1),
                 encoding="utf-8")
    ran = _jobs_run(snakemake(project, "--profile", "profiles/default").stderr)
    assert RUN_AFTER_UNCODED_EDIT | {"themes", "agreement_ledger", "framework_matrix"} <= ran
    assert "agreement" not in ran           # the alpha tables read no text: no bootstrap again
    assert not any(j.endswith(("_hamburg", "_kampala", "_dar_es_salaam", "_beer_sheva")) for j in ran)
    matrix = (project / "results/framework/framework_matrix.tsv").read_text(encoding="utf-8")
    assert "But maybe a fine one." in matrix and "But maybe a good one." not in matrix
    quotes = "".join(p.read_text(encoding="utf-8") for p in (project / "results/themes/quotes/ulm").glob("*.md"))
    assert "But maybe a fine one." in quotes and "But maybe a good one." not in quotes


def test_a_changed_turn_table_reruns_every_study_wide_job_that_reads_it_without_declaring_it(demo, tmp_path):
    """themes, agreement, framework_matrix, codes and translation_summary name the English turn tables
    as params, not inputs (docs/DESIGN.md, "What a job costs"): a change to one still reaches them
    through the site's jobs that declare it, and the gate re-scans the file."""
    project = tmp_path / "turns"
    shutil.copytree(demo, project, symlinks=True)
    f = project / "results/pseudonymised/ulm/FG1.en.tsv"
    f.write_text(f.read_text(encoding="utf-8") + "", encoding="utf-8")   # same content, newer
    out = snakemake(project, "--profile", "profiles/default", "-n", "--quiet", "rules").stdout
    jobs = set(re.findall(r"^(\S+)\s+\d+$", out, flags=re.M)) - {"total"}
    assert {"codes_ulm", "translation_check_ulm", "codes", "themes", "agreement", "framework_matrix",
            "translation_summary", "leak_scan_ulm", "leak_check"} <= jobs
    assert "pseudonymise_ulm" not in jobs and not any(j.endswith("_hamburg") for j in jobs)


def test_a_failed_run_marks_results_invalid_until_a_run_succeeds(demo, tmp_path):
    """Item 5 of issue 12: after a failed run results/ cannot pass for a whole run (STALE.md, no
    manifest, no report); the next successful run makes it whole again."""
    project = tmp_path / "failing"
    shutil.copytree(demo, project, symlinks=True)
    results = project / "results"
    (results / "report.html").write_text("<html>an older report</html>", encoding="utf-8")
    res = project / "data/translation_resolutions.tsv"
    good = res.read_bytes()
    with res.open("a", encoding="utf-8") as fh:       # a decision on a flag that is not raised
        fh.write("ulm.FG1\t7\tquestion_mismatch\taccepted\t\n")
    proc = snakemake(project, "--profile", "profiles/default", check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "data/translation_resolutions.tsv:" in proc.stderr and "has no question_mismatch flag at turn 7" in proc.stderr
    stale = (results / "STALE.md").read_text(encoding="utf-8")
    assert stale.startswith("# results/ is not one whole run") and "The last run **failed**" in stale
    assert str(tmp_path) not in stale                    # no absolute paths (a home folder can name someone)
    assert not (results / "manifest.tsv").exists() and not (results / "report.html").exists()
    # the report of such a results/ says so on its front page
    front = (project / "workflow/report/workflow_stale.rst").read_text(encoding="utf-8")
    assert "not one whole run" in front
    res.write_bytes(good)
    snakemake(project, "--profile", "profiles/default", "--quiet")
    assert not (results / "STALE.md").exists() and (results / "manifest.tsv").exists()
