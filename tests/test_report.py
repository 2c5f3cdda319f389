"""The HTML report a reviewer reads: every table inside it, and a front page with the key numbers
(issue 12, item 10). Built from the demo run with `snakemake --report`, opened in headless Chromium."""
from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest

from conftest import chromium, snakemake


@pytest.fixture(scope="module")
def report(demo, tmp_path_factory):
    project = tmp_path_factory.mktemp("report") / "project"
    shutil.copytree(demo, project, symlinks=True)
    snakemake(project, "--profile", "profiles/default", "--report", "results/report.html")
    return project


def test_front_page_has_key_numbers_table2_and_links(report):
    front = (report / "results/report/front.rst").read_text(encoding="utf-8")
    t2 = pd.read_csv(report / "results/tables/table2.tsv", sep="\t", dtype=str, keep_default_na=False)
    total = t2[t2["site"] == "Total"].iloc[0]
    assert f"**{total['n']} focus-group participants** in **{total['focus_groups']} focus groups**" in front
    assert "**5 sites**" in front and "**15 transcripts**" in front and "**4 double-coded**" in front
    pooled = pd.read_csv(report / "results/agreement/by_code.tsv", sep="\t", dtype=str, keep_default_na=False)
    alpha = float(pooled[(pooled["code"] == "(pooled)") & (pooled["scope"] == "all")]["alpha"].iloc[0])
    assert f"Krippendorff's alpha {alpha:.3f}".replace("0.", ".", 1) in front
    for page in ("`table2.html`_", "`agreement.html`_", "`quotes.html`_", "`codebook.html`_"):
        assert page in front
    # every Table 2 row, as the journal prints it
    for row in t2.astype(str).values.tolist():
        assert f"   * - {row[0]}\n" + "".join(f"     - {v}\n" for v in row[1:]) in front + "\n"


def test_agreement_quotes_and_codebook_pages_carry_the_tables(report):
    res = report / "results"
    agreement = (res / "report/agreement.html").read_text(encoding="utf-8")
    assert "<h2>Intercoder agreement</h2>" in agreement and "Agreement by theme" in agreement
    themes = pd.read_csv(res / "agreement/by_theme.tsv", sep="\t", dtype=str, keep_default_na=False)
    for label in themes[themes["scope"] == "all"]["label"]:
        assert f"<td>{label}</td>" in agreement.replace("&#x27;", "'")
    # (changed: issue 14) the quotes page is the index and the first quotes of each theme, never all
    quotes = (res / "report/quotes.html").read_text(encoding="utf-8")
    themes_tsv = pd.read_csv(res / "codes/themes.tsv", sep="\t", dtype=str, keep_default_na=False)
    sites = pd.read_csv(report / "config/sites.tsv", sep="\t", dtype=str, keep_default_na=False)["site"]
    shown = 0
    for theme in themes_tsv["theme"]:
        lines = [l[2:] for s in sites for l in (res / f"themes/quotes/{s}/{theme}.md").read_text(
            encoding="utf-8").splitlines() if l.startswith("- ")]
        first = lines[:5]
        shown += len(first)
        assert all(f"<li>{html_escape(l)}</li>" in quotes for l in first)
        if len(lines) > 5:
            assert f"5 of {len(lines)} quotes shown" in quotes
            assert f"<li>{html_escape(lines[5])}</li>" not in quotes
    assert quotes.count("<li>") == shown
    book = pd.read_csv(res / "codes/codebook.tsv", sep="\t", dtype=str, keep_default_na=False)
    codebook = (res / "report/codebook.html").read_text(encoding="utf-8")
    assert all(f"<td>{html_escape(l)}</td>" in codebook for l in book["label"])


def html_escape(s: str) -> str:
    """As the pages escape text (qualflow.tables.html_text): & < > " only, apostrophes as they are."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def test_report_opens_in_chromium_with_table2_total_row_on_the_front_page(report):
    exe = chromium()
    page = report / "results/report.html"
    proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=300)
    # what the page renders, not the data it embeds: drop the scripts (they carry every file as data)
    dom = re.sub(r"<script\b[^>]*>.*?</script>", "", proc.stdout, flags=re.S)
    t2 = pd.read_csv(report / "results/tables/table2.tsv", sep="\t", dtype=str, keep_default_na=False)
    total = t2[t2["site"] == "Total"].iloc[0].tolist()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", dom, flags=re.S)
    cells = [re.findall(r"<t[dh][^>]*>\s*(?:<p>)?(.*?)(?:</p>)?\s*</t[dh]>", r, flags=re.S) for r in rows]
    assert [c.strip() for c in total] in [[x.strip() for x in c] for c in cells], \
        f"Table 2's total row not on the report's front page ({len(rows)} rows rendered)"
    assert "Key numbers" in dom


def test_quotes_page_shows_counts_and_the_first_quotes_and_says_not_coded() -> None:
    """Issue 14 item 3 and issue 12 item 7, without a run: at most 5 quotes per theme, the counts
    per site, "not coded" for a site without codings, and the front page's sentence naming it."""
    from qualflow.report import quotes_html, uncoded_line
    themes = pd.DataFrame({"theme": ["T1", "T2"], "label": ["Stigma", "Money"]})
    sites = pd.DataFrame({"site": ["a", "b"], "name": ["Alpha", "Beta"]})
    lines = [f'- "quote {i}" [#{i}, Alpha, PSW] (a.FG1, turn {i}; coders: coder_a)' for i in range(1, 8)]
    pages = {"a/T1.md": "# 1. Stigma: Alpha\n\n" + "\n".join(lines) + "\n", "a/T2.md": "# 2. Money: Alpha\n",
             "b/T1.md": "# 1. Stigma: Beta\n\n_Beta: not coded yet._\n", "b/T2.md": ""}
    t = pd.DataFrame({"site": ["a", "b", "b"], "transcript": ["a.FG1", "b.FG1", "b.FG2"],
                      "status": ["coded", "not coded", "not coded"]})
    page = quotes_html(pages, themes, sites, t)
    assert page.count("<li>") == 5 and "quote 5" in page and "quote 6" not in page
    assert "5 of 7 quotes shown" in page
    assert ('<tr><td>1. Stigma</td><td class="num">7</td><td class="num">not coded</td>'
            '<td class="num">7</td></tr>') in page
    assert "<h2>2. Money</h2>\n<p>No quotes.</p>" in page
    assert uncoded_line(t) == ("- **Not coded yet: 2 transcript(s)** (b.FG1, b.FG2), left out of every theme count "
                               "and denominator and shown as \"not coded\" (results/themes/summary.md).")
    assert uncoded_line(t.assign(status="coded")) is None
