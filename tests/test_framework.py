"""The framework matrix: cell contents equal the codings, the .xlsx reads back equal to the TSV, the
HTML page's filters work in headless Chromium, and re-runs are byte-identical."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pandas as pd
from conftest import chromium

from qualflow.framework import (
    CELL_LIMIT,
    SHEET_ALL,
    case_pages,
    categories,
    matrix_cells,
    matrix_html,
    matrix_index_html,
    matrix_xlsx,
    read_xlsx_cells,
    read_xlsx_segments,
    segment_text,
    segments,
)

CODES = [
    {"id": "relative_advantage", "label": "Relative advantage", "theme": "ic", "parent": ""},
    {"id": "reduced_workload", "label": "Reduced workload", "theme": "ic", "parent": "relative_advantage"},
    {"id": "implementation_climate", "label": "Implementation climate", "theme": "is", "parent": ""},
    {"id": "mhw_engagement", "label": "MHW engagement", "theme": "is", "parent": "implementation_climate"},
]
THEMES = [{"id": "ic", "label": "Intervention characteristics"}, {"id": "is", "label": "Inner setting"}]
TURNS = pd.DataFrame([
    ("alpha", "alpha.FG1", 2, "P01", "The peer takes the follow-up calls, so I have more time."),
    ("alpha", "alpha.FG1", 3, "P02", "Some nurses say it is not their job. Others welcome the peers."),
    ("alpha", "alpha.FG2", 2, "P01", "Now the waiting list is shorter."),
    ("beta", "beta.FG1", 2, "P01", "Nobody on the ward talks to the peer worker."),
], columns=["site", "transcript", "turn", "speaker", "text"])
CODINGS = pd.DataFrame([
    # site, transcript, turn, coder, code, start, end, valence
    ("alpha", "alpha.FG1", 2, "a", "reduced_workload", 0, 57, "facilitator"),
    ("alpha", "alpha.FG1", 2, "b", "reduced_workload", 20, 57, "facilitator"),     # overlaps a: one segment
    ("alpha", "alpha.FG1", 3, "a", "mhw_engagement", 0, 35, "barrier"),
    ("alpha", "alpha.FG1", 3, "a", "mhw_engagement", 36, 62, "facilitator"),        # separate span
    ("alpha", "alpha.FG1", 3, "b", "mhw_engagement", 0, 20, "mixed"),               # overlaps the first
    ("alpha", "alpha.FG2", 2, "a", "relative_advantage", 0, 32, "facilitator"),
    ("beta", "beta.FG1", 2, "a", "mhw_engagement", 0, 44, "barrier"),
    ("beta", "beta.FG1", 2, "a", "candidate_x", 0, 10, ""),                         # not in the codebook
], columns=["site", "transcript", "turn", "coder", "code", "start", "end", "valence"])
WAVES = {"alpha.FG1": "pre", "alpha.FG2": "post", "beta.FG1": "pre"}
NAMES = {"alpha": "Alphaville", "beta": "Betatown"}
ATTR = {("alpha", "P01"): "[#1, Alphaville, Nurse]", ("alpha", "P02"): "[#2, Alphaville, Manager]",
        ("beta", "P01"): "[#1, Betatown, PSW]"}
GROUPS = [{"id": "resources", "label": "Resources", "values": ["lower", "high"], "value_labels": ["Lower", "High"]}]
CASES = pd.DataFrame([{"site": s, "name": NAMES[s], "wave": w, "resources": r}
                      for w in ("pre", "post") for s, r in (("alpha", "high"), ("beta", "lower"))])


def _matrix(by: str = "construct") -> tuple[pd.DataFrame, list]:
    cats, cat_of = categories(CODES, THEMES, by)
    m = segments(CODINGS, TURNS, cat_of, dict(cats), {c["id"]: c["label"] for c in CODES}, WAVES, NAMES, ATTR,
                 ["alpha", "beta"], ["pre", "post"], [c for c, _l in cats])
    return m, cats


def test_cells_hold_the_codings_merged_across_coders() -> None:
    m, cats = _matrix()
    assert cats == [("relative_advantage", "Relative advantage"), ("implementation_climate", "Implementation climate")]
    got = m[["wave", "site", "category", "code", "turn", "start", "end", "valence", "coders", "attribution"]].values.tolist()
    assert got == [
        ["pre", "alpha", "relative_advantage", "reduced_workload", 2, 0, 57, "facilitator", "a;b", "[#1, Alphaville, Nurse]"],
        ["pre", "alpha", "implementation_climate", "mhw_engagement", 3, 0, 35, "mixed", "a;b", "[#2, Alphaville, Manager]"],
        ["pre", "alpha", "implementation_climate", "mhw_engagement", 3, 36, 62, "facilitator", "a", "[#2, Alphaville, Manager]"],
        ["pre", "beta", "implementation_climate", "mhw_engagement", 2, 0, 44, "barrier", "a", "[#1, Betatown, PSW]"],
        ["post", "alpha", "relative_advantage", "relative_advantage", 2, 0, 32, "facilitator", "a", "[#1, Alphaville, Nurse]"],
    ]
    # every segment's text is the turn text at its span
    for r in m.itertuples():
        turn = TURNS[(TURNS["transcript"] == r.transcript) & (TURNS["turn"] == r.turn)]["text"].item()
        assert r.text == " ".join(turn[r.start:r.end].split())   # whitespace collapsed, as quotes are
    # by theme, the same segments fall under the codes' themes
    t, tcats = _matrix("theme")
    assert list(t["category"]) == ["ic", "is", "is", "is", "ic"] and tcats[0] == ("ic", "Intervention characteristics")


def test_xlsx_reads_back_equal_to_the_tsv(tmp_path: Path) -> None:
    m, cats = _matrix()
    path = tmp_path / "m.xlsx"
    data = matrix_xlsx(m, CASES, cats, [("pre", "Before"), ("post", "After")], GROUPS)
    path.write_bytes(data)
    assert matrix_xlsx(m, CASES, cats, [("pre", "Before"), ("post", "After")], GROUPS) == data   # deterministic
    back = read_xlsx_cells(path, [lab for _c, lab in cats])
    assert list(back) == ["pre", "post"]
    label = dict(cats)
    for wave in ("pre", "post"):
        want = {(s, label[c]): lines for (s, c), lines in matrix_cells(m, wave).items()}
        assert back[wave] == want
    assert back["pre"][("alpha", "Implementation climate")][0] == \
        "(±) “Some nurses say it is not their job” [#2, Alphaville, Manager] — MHW engagement"
    # a study without waves: one sheet with every segment
    path.write_bytes(matrix_xlsx(m.assign(wave=""), CASES[CASES["wave"] == "pre"].assign(wave=""), cats, [], []))
    one = read_xlsx_cells(path, [lab for _c, lab in cats])
    assert list(one) == [SHEET_ALL]
    assert sum(len(v) for v in one[SHEET_ALL].values()) == len(m)


def test_segment_rows_read_back_as_openpyxl_writes_them(tmp_path: Path) -> None:
    """The segments sheets' rows are written directly, their strings once each in a shared-string table
    (issue 14: openpyxl's writer was most of this stage's time, and the inline strings made the workbook
    149 M characters of XML at 1,000 transcripts): every cell reads back as the value openpyxl's own
    writer gives it, awkward strings included, and a repeated string is stored once."""
    import io
    import zipfile

    from openpyxl import Workbook, load_workbook

    tricky = ["a & b < c > d", "  leading and trailing  ", "line\nbreak\ttab", "carriage\rreturn",
              "Umlaut ä, Hebrew שלום, Devanagari पुणे, quote ’ and “”", "", "x" * (CELL_LIMIT + 5)]
    m, cats = _matrix()
    m = pd.concat([m] * 2, ignore_index=True)
    m["text"] = [tricky[i % len(tricky)] for i in range(len(m))]
    m["participant"] = [None if i % 3 == 0 else f"P{i:02d}" for i in range(len(m))]
    data = matrix_xlsx(m, CASES, cats, [("pre", "Before"), ("post", "After")], GROUPS, rows_per_sheet=4)

    # the same rows through openpyxl's own writer, one value at a time
    from qualflow.framework import MATRIX_COLUMNS, _fit
    cols = [c for c in MATRIX_COLUMNS if c in m.columns]
    values = [m[c].tolist() for c in cols]   # as the workbook took them before (issue 14)
    (tmp_path / "m.xlsx").write_bytes(data)
    ours = [ws for ws in load_workbook(tmp_path / "m.xlsx").worksheets if ws.title.startswith("segments")]
    assert len(ours) == 3                                           # 10 rows, 4 a sheet
    for k, got in enumerate(ours):
        wb = Workbook()
        ws = wb.active
        ws.append(cols)
        for i in range(4 * k, min(len(m), 4 * k + 4)):
            ws.append([_fit(v[i]) for v in values])
        buf = io.BytesIO()
        wb.save(buf)
        want = load_workbook(buf).active
        assert list(got.iter_rows(values_only=True)) == list(want.iter_rows(values_only=True))
    sst = zipfile.ZipFile(io.BytesIO(data)).read("xl/sharedStrings.xml").decode()
    strings = {str(v) for c in values for v in c if isinstance(v, str) and v}
    assert sst.count("<si>") == len({_fit(v) for v in strings}) < sum(len(c) for c in values)
    back = read_xlsx_segments(tmp_path / "m.xlsx")
    assert back["text"].tolist()[:6] + back["text"].tolist()[7:] == tricky[:6] + tricky[:3]   # read back whole
    assert back["text"][6].endswith("the whole text is in framework_matrix.tsv]")         # cut, saying so


def _dom(url: str, tmp: Path) -> str:
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp / 'profile'}", "--dump-dom", url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, env=dict(os.environ, HOME=str(tmp)),
                          cwd=tmp)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _visible(dom: str, tag: str) -> list[str]:
    return [t for t in re.findall("<" + re.escape(tag) + r"[^>]*>", dom) if "hidden" not in t]


def test_html_filters_in_headless_chromium(tmp_path: Path) -> None:
    m, cats = _matrix()
    page = tmp_path / "matrix.html"
    page.write_text(matrix_html(m, CASES, cats, [("pre", "Before"), ("post", "After")], GROUPS, "Matrix"),
                    encoding="utf-8")
    dom = _dom(page.as_uri(), tmp_path)
    assert len(_visible(dom, 'tr class="case"')) == 4 and len(_visible(dom, 'li class="seg"')) == 5
    assert 'id="shown-segments">5<' in dom                         # the script ran
    dom = _dom(page.as_uri() + "#wave=pre&valence=barrier", tmp_path)
    cases = _visible(dom, 'tr class="case"')
    assert len(cases) == 2 and all('data-wave="pre"' in c for c in cases)
    assert 'id="shown-segments">1<' in dom
    segs = _visible(dom, 'li class="seg"')
    assert len(segs) == 1 and 'data-ref="beta.FG1:2"' in segs[0]
    dom = _dom(page.as_uri() + "#resources=high", tmp_path)
    assert [re.search(r'data-site="(\w+)"', c).group(1) for c in _visible(dom, 'tr class="case"')] == ["alpha", "alpha"]
    assert "<script src" not in dom and "<link" not in dom                # self-contained


def test_workbook_keeps_every_segment_past_excels_cell_and_row_limits(tmp_path: Path) -> None:
    """(issue 14) A matrix cell is cut at Excel's 32,767 characters, so the segments sheets hold every
    segment, one a row, continued on a new sheet past the row limit (here 2 rows a sheet)."""
    m, cats = _matrix()
    long = m.copy()
    long.loc[0, "text"] = "word " * 7000                            # one segment past the cell limit
    big = pd.concat([long] + [m.iloc[[1]]] * 20, ignore_index=True)
    path = tmp_path / "m.xlsx"
    path.write_bytes(matrix_xlsx(big, CASES, cats, [("pre", "Before"), ("post", "After")], GROUPS, rows_per_sheet=2))
    from openpyxl import load_workbook
    titles = load_workbook(path, read_only=True).sheetnames
    n = len(big)
    assert titles == ["pre", "post", "segments"] + [f"segments {k}" for k in range(2, (n + 1) // 2 + 1)]
    back = read_xlsx_segments(path)
    assert len(back) == n and list(back["transcript"]) == list(big["transcript"])
    assert back["text"].tolist()[1:] == big["text"].tolist()[1:]
    assert len(back.loc[0, "text"]) <= CELL_LIMIT and back.loc[0, "text"].endswith(
        "the whole text is in framework_matrix.tsv]")
    cell = read_xlsx_cells(path, [lab for _c, lab in cats])["pre"][("alpha", "Relative advantage")]
    assert cell == ["… 1 more segment(s): see the segments sheet or framework_matrix.tsv"]
    assert cell[-1].startswith("… ") and cell[-1].endswith("more segment(s): see the segments sheet or "
                                                           "framework_matrix.tsv")


def test_overview_counts_each_cell_and_links_each_case_page(tmp_path: Path) -> None:
    """(issue 14) The page a person opens first grows with cases x categories, not with the segments:
    counts by valence and the first segment's opening words; each case's page has every segment."""
    m, cats = _matrix()
    pages = case_pages(tmp_path / "framework_matrix.html", ["alpha", "beta"], ["pre", "post"])
    assert pages[("alpha", "pre")] == str(tmp_path / "cases/alpha.pre.html")
    links = {k: Path(p).relative_to(tmp_path).as_posix() for k, p in pages.items()}
    page = matrix_index_html(m, CASES, cats, [("pre", "Before"), ("post", "After")], GROUPS, "Matrix", links)
    assert '<a href="cases/alpha.pre.html">Alphaville</a>' in page
    assert ('<a href="cases/alpha.pre.html#implementation_climate"><b>2</b> segments</a> '
            '<span class="v v-facilitator">(+) 1</span> <span class="v v-mixed">(±) 1</span>') in page
    assert "Others welcome the peers" not in page and 'class="seg"' not in page      # counts, not segments
    page_path = tmp_path / "framework_matrix.html"
    page_path.write_text(page, encoding="utf-8")
    dom = _dom(page_path.as_uri() + "#wave=pre", tmp_path)
    assert len(_visible(dom, 'tr class="case"')) == 2 and 'id="shown-segments">4<' in dom
    assert "id=\"in-report\" hidden" in dom                          # a file: page, not the report


def test_framework_stage_writes_the_overview_and_a_page_per_case(demo) -> None:
    """The demo's run: the overview links every case page, each holds that case's segments only."""
    out = demo / "results/framework"
    tsv = pd.read_csv(out / "framework_matrix.tsv", sep="\t", dtype=str, keep_default_na=False)
    index = (out / "framework_matrix.html").read_text(encoding="utf-8")
    sites = pd.read_csv(demo / "config/sites.tsv", sep="\t", dtype=str)["site"]
    for site in sites:
        assert f'<a href="cases/{site}.html">' in index
        page = (out / f"cases/{site}.html").read_text(encoding="utf-8")
        assert page.count('<li class="seg"') == int((tsv["site"] == site).sum())
        assert '<p><a href="../framework_matrix.html">All cases</a></p>' in page
    assert index.count('<li class="seg"') == 0
