"""The framework matrix (NVivo's framework matrix, MAXQDA's summary grid), for any study.

Cases are sites — site × wave in a study with waves — and categories are the codebook's themes (or,
with ``framework_matrix.categories: construct``, its top-level codes, each subcode counting for its
construct: the CFIR constructs). Each cell holds the case's coded segments of the category, each with
its text, attribution ``[#9, Ulm, Nurse]`` (participant number, site name, the roster's label or the
role's short name), valence and code, so every statement in a synthesis can be traced to its quotes.

A **segment** is a coded span of an informant's turn: the spans of one turn and code from different
coders are one segment when they overlap (the union of the spans), listing the coders and the
valences they gave (two different valences: ``mixed``). (changed: issue 12) The stage shows the
codings the theme counts use: each transcript's counted coder only (qualflow.counting; config
``themes: count: union`` shows every coder's, merged as above).

Three views of one table: ``framework_matrix.tsv`` (one row per segment, the reference), a
self-contained HTML page with filters (site, wave, each comparison group, valence) that follow the
URL hash, and an ``.xlsx`` workbook with one sheet per wave (cases as rows, categories as columns,
each cell the segments as text), written deterministically (fixed zip metadata and document dates).
"""
from __future__ import annotations

import datetime
import io
import json
import logging
import os
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import pandas as pd

from .counting import counted_codings, counted_coders, read_assignments, read_coverage
from .errors import InputError, raise_if
from .study import read_roster
from .tables import atomic_write, fixed_zip_info, html_text, read_results_tsv, read_tsv, write_text, write_tsv

log = logging.getLogger("qualflow.framework")

__all__ = ["MATRIX_COLUMNS", "SHEET_ALL", "categories", "segments", "segment_text", "matrix_cells",
           "matrix_html", "matrix_index_html", "case_pages", "matrix_xlsx", "read_xlsx_cells",
           "read_xlsx_segments", "segment_sheets", "framework_stage"]

MATRIX_COLUMNS = ["wave", "site", "site_name", "category", "category_label", "code", "code_label",
                  "transcript", "turn", "start", "end", "participant", "attribution", "valence",
                  "coders", "text"]
SHEET_ALL = "all"                      #: the one sheet of a study without waves
CELL_LIMIT = 32_000                    #: Excel's cell limit is 32,767 characters
SHEET_ROWS = 1_048_575                 #: Excel's 1,048,576 rows a sheet, less the header
SEGMENT_SHEET = "segments"             #: the sheets with every segment, one a row
_SYMBOL = {"facilitator": "(+)", "barrier": "(−)", "mixed": "(±)", "": ""}
_P = re.compile(r"^P0*(\d+)$")
_FIXED_DATE = datetime.datetime(2000, 1, 1)   #: the workbook's document dates


def categories(codes: Sequence[Mapping], themes: Sequence[Mapping], by: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The matrix's columns [(id, label)] in codebook order, and code id -> its column."""
    if by == "theme":
        return [(t["id"], t["label"]) for t in themes], {c["id"]: c["theme"] for c in codes}
    by_id = {c["id"]: c for c in codes}

    def top(cid: str) -> str:
        seen = set()
        while by_id[cid].get("parent") and cid not in seen:
            seen.add(cid)
            cid = by_id[cid]["parent"]
        return cid

    order = {t["id"]: i for i, t in enumerate(themes)}
    tops = sorted([c for c in codes if not c.get("parent")], key=lambda c: order.get(c["theme"], len(order)))
    return [(c["id"], c["label"]) for c in tops], {c["id"]: top(c["id"]) for c in codes}


def _natural(s: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(s)))


def _combine(valences: Sequence[str]) -> str:
    vs = {v for v in valences if v}
    if not vs:
        return ""
    return next(iter(vs)) if len(vs) == 1 else "mixed"


def segments(codings: pd.DataFrame, turns: pd.DataFrame, category_of: Mapping[str, str],
             category_labels: Mapping[str, str], code_labels: Mapping[str, str],
             waves: Mapping[str, str], site_names: Mapping[str, str], attribution: Mapping[tuple[str, str], str],
             site_order: Sequence[str], wave_order: Sequence[str], category_order: Sequence[str]) -> pd.DataFrame:
    """One row per segment (``MATRIX_COLUMNS``), overlapping spans of a turn and code merged across coders.

    ``turns``: site, transcript, turn, speaker, text. ``attribution``: (site, speaker) -> "[#9, Ulm, Nurse]".
    Codes outside the codebook (candidates) are left out.
    """
    c = codings[codings["code"].isin(list(category_of))].copy()
    if c.empty:
        return pd.DataFrame(columns=MATRIX_COLUMNS)
    for col in ("turn", "start", "end"):
        c[col] = c[col].astype(int)
    if "valence" not in c.columns:
        c["valence"] = ""
    c = c.sort_values(["transcript", "turn", "code", "start", "end", "coder"], kind="stable")
    # spans in start order within (transcript, turn, code): the sort above guarantees it
    text = {(t, int(n)): x for t, n, x in zip(turns["transcript"], turns["turn"], turns["text"])}
    speaker = {(t, int(n)): s for t, n, s in zip(turns["transcript"], turns["turn"], turns["speaker"])}
    # one pass over the sorted codings (plain lists, not a pandas group per segment: linear and fast)
    merged: dict[tuple[str, int, str], list[list]] = {}
    for tid, turn, code, s, e, who, val in zip(c["transcript"], c["turn"], c["code"], c["start"], c["end"],
                                               c["coder"], c["valence"].fillna("").astype(str)):
        spans = merged.setdefault((tid, int(turn), code), [])
        if spans and s < spans[-1][1]:
            m = spans[-1]
            m[1] = max(m[1], e)
            m[2].add(who)
            m[3].append(val)
        else:
            spans.append([s, e, {who}, [val]])
    rows = []
    for (tid, turn, code), spans in merged.items():
        site = tid.split(".", 1)[0]
        spk = speaker.get((tid, turn), "")
        m_ = _P.match(spk)
        for s, e, who, vals in spans:
            rows.append({
                "wave": waves.get(tid, ""), "site": site, "site_name": site_names.get(site, site),
                "category": category_of[code], "category_label": category_labels.get(category_of[code], ""),
                "code": code, "code_label": code_labels.get(code, code), "transcript": tid, "turn": turn,
                "start": int(s), "end": int(e), "participant": f"#{int(m_.group(1))}" if m_ else spk,
                "attribution": attribution.get((site, spk), f"[{spk}, {site_names.get(site, site)}]"),
                "valence": _combine(vals), "coders": ";".join(sorted(who)),
                "text": " ".join(text.get((tid, turn), "")[s:e].split()),
            })
    out = pd.DataFrame(rows, columns=MATRIX_COLUMNS)
    rank = lambda seq: {v: i for i, v in enumerate(seq)}  # noqa: E731
    w, s_, k = rank(wave_order), rank(site_order), rank(category_order)
    nat = {t: _natural(t) for t in out["transcript"].unique()}
    out["_k"] = list(zip(out["wave"].map(lambda v: w.get(v, len(w))), out["site"].map(lambda v: s_.get(v, len(s_))),
                         out["category"].map(lambda v: k.get(v, len(k))), out["transcript"].map(nat),
                         out["turn"], out["start"], out["end"], out["code"]))
    return out.sort_values("_k", kind="stable").drop(columns="_k").reset_index(drop=True)


def segment_text(r: Mapping) -> str:
    """A segment as one cell line: '(+) “text” [#9, Ulm, Nurse] — Code label'."""
    sym = _SYMBOL.get(r["valence"], "")
    return f"{sym + ' ' if sym else ''}“{r['text']}” {r['attribution']} — {r['code_label']}"


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts, built from the columns (much faster than ``to_dict("records")``)."""
    cols = list(df.columns)
    return [dict(zip(cols, vals)) for vals in zip(*(df[c].tolist() for c in cols))]


def matrix_cells(matrix: pd.DataFrame, wave: str) -> dict[tuple[str, str], list[str]]:
    """(site, category) -> the segment lines of one wave (all rows when the study has no waves)."""
    m = matrix[matrix["wave"] == wave] if wave != SHEET_ALL else matrix
    out: dict[tuple[str, str], list[str]] = {}
    for r in _records(m):
        out.setdefault((r["site"], r["category"]), []).append(segment_text(r))
    return out


# --------------------------------------------------------------------------------------------
# the workbook
# --------------------------------------------------------------------------------------------

def _cell_value(lines: list[str]) -> str:
    """A matrix cell's segments, within Excel's cell limit: beyond it, the count of the rest and where
    they are (every segment is on the segments sheet and in the TSV)."""
    text = "\n\n".join(lines)
    if len(text) <= CELL_LIMIT:
        return text
    keep, total = [], 0
    for i, line in enumerate(lines):
        if total + len(line) + 2 > CELL_LIMIT - 120:
            keep.append(f"… {len(lines) - i} more segment(s): see the {SEGMENT_SHEET} sheet or framework_matrix.tsv")
            break
        keep.append(line)
        total += len(line) + 2
    return "\n\n".join(keep)


def _fit(value: object) -> object:
    """One value within Excel's cell limit (a segment longer than 32,000 characters is cut, saying so)."""
    if isinstance(value, str) and len(value) > CELL_LIMIT:
        return (value[:CELL_LIMIT - 100] + f" … [cut at {CELL_LIMIT - 100:,} of {len(value):,} characters: "
                "the whole text is in framework_matrix.tsv]")
    return value


def segment_sheets(n_rows: int, rows_per_sheet: int = SHEET_ROWS) -> list[tuple[str, int, int]]:
    """(title, first row, end row) of the segments sheets: Excel holds 1,048,576 rows a sheet, so a
    study with more segments continues on ``segments 2``, ``segments 3``, ..."""
    out = []
    for k, start in enumerate(range(0, max(n_rows, 1), rows_per_sheet)):
        out.append((SEGMENT_SHEET if k == 0 else f"{SEGMENT_SHEET} {k + 1}", start, min(start + rows_per_sheet, n_rows)))
    return out


def matrix_xlsx(matrix: pd.DataFrame, cases: pd.DataFrame, cats: Sequence[tuple[str, str]],
                waves: Sequence[tuple[str, str]], groups: Sequence[Mapping],
                rows_per_sheet: int = SHEET_ROWS) -> bytes:
    """The workbook: one sheet per wave (``all`` without waves), a row per site, a column per category;
    then every segment, one row each (the TSV's columns), on the ``segments`` sheet(s).

    ``cases``: site, name, wave and one column per group (the group's value at that wave).
    (changed: issue 14 — a matrix cell is cut at Excel's 32,767-character limit, so the segments
    sheets keep every segment, continued on a new sheet past Excel's row limit; written in
    openpyxl's write-only mode, so memory does not grow with the cells.)
    Deterministic bytes: every zip entry written with fixed metadata (_FixedZip), document dates fixed.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    header_font = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDDDDD")
    wrap = Alignment(wrap_text=True, vertical="top")

    def head_row(ws, values: Sequence[str]) -> list:
        cells = []
        for v in values:
            c = WriteOnlyCell(ws, v)
            c.font, c.fill, c.alignment = header_font, fill, wrap
            cells.append(c)
        return cells

    def row(ws, values: Sequence[object]) -> list:
        cells = []
        for v in values:
            c = WriteOnlyCell(ws, _fit(v))
            c.alignment = wrap
            cells.append(c)
        return cells

    for wave, label in (waves or [(SHEET_ALL, "All")]):
        ws = wb.create_sheet(title=wave[:31])
        cells = matrix_cells(matrix, wave)
        head = ["Site", "Name"] + [g["label"] for g in groups] + [lab for _c, lab in cats]
        ws.column_dimensions["A"].width = 14
        ws.column_dimensions["B"].width = 18
        for j in range(3, len(head) + 1):
            ws.column_dimensions[get_column_letter(j)].width = 16 if j < 3 + len(groups) else 48
        ws.freeze_panes = f"{get_column_letter(3 + len(groups))}2"
        if label:
            ws.oddHeader.center.text = label
        ws.append(head_row(ws, head))
        for r in cases[cases["wave"] == (wave if waves else "")].to_dict("records"):
            ws.append(row(ws, [r["site"], r["name"]] + [r.get(g["id"], "") for g in groups] +
                          [_cell_value(cells.get((r["site"], c), [])) for c, _l in cats]))
    cols = [c for c in MATRIX_COLUMNS if c in matrix.columns]
    values = [matrix[c].tolist() for c in cols]
    # The segments sheets: openpyxl writes the header row (and so the sheet's place in the workbook);
    # their data rows, plain values, are written as SpreadsheetML directly (_segment_rows_xml;
    # openpyxl's per-cell writer was most of this stage's time at 1,000 transcripts), their strings
    # once each in the shared-string table Excel itself writes (a segment coded twice, a site's name
    # on every row): the workbook's XML was 149 M characters at 1,000 transcripts, inline.
    rows_xml: dict[str, Iterator[str]] = {}
    strings: dict[str, int] = {}
    for title, start, end in segment_sheets(len(matrix), rows_per_sheet):
        ws = wb.create_sheet(title=title)
        ws.freeze_panes = "A2"
        ws.append(head_row(ws, cols))
        rows_xml[title] = _segment_rows_xml(values, start, end, strings)
    from openpyxl.writer.excel import ExcelWriter

    wb.properties.created = wb.properties.modified = _FIXED_DATE   # docProps/core.xml: no 'now'
    # ExcelWriter numbers the sheets in workbook order as it writes them (xl/worksheets/sheet<n>.xml).
    inject = {f"xl/worksheets/sheet{n}.xml": rows_xml[ws.title]
              for n, ws in enumerate(wb.worksheets, 1) if ws.title in rows_xml}
    buf = io.BytesIO()
    # ExcelWriter, not Workbook.save: save stamps 'now' into the document and compresses every entry,
    # which a second pass then had to inflate and deflate again to fix the dates (issue 14: that pass
    # was a sixth of this stage's time at 1,000 transcripts). The archive fixes them as it writes.
    ExcelWriter(wb, _FixedZip(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True, inject=inject,
                              strings=strings)).save()
    return buf.getvalue()


_XML_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _segment_rows_xml(values: list[list], start: int, end: int, strings: dict[str, int],
                      block: int = 2000) -> Iterator[str]:
    """The data rows ``start``..``end`` of a segments sheet (after its header row), in blocks: a
    number as openpyxl writes it, a string as its index in ``strings`` (the shared-string table,
    filled here in order of first use), an empty string as openpyxl's empty inline string, a missing
    value as no cell; openpyxl's own check of the characters a worksheet cannot hold."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.compat import safe_string
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.exceptions import IllegalCharacterError

    def cell(ref: str, value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            value = str(value)
        if not isinstance(value, str):
            return f'<c r="{ref}" t="n"><v>{safe_string(value)}</v></c>'
        value = _fit(value)
        if value == "":
            return f'<c r="{ref}" t="inlineStr"></c>'
        k = strings.get(value)
        if k is None:
            if ILLEGAL_CHARACTERS_RE.search(value):
                raise IllegalCharacterError(f"{value} cannot be used in worksheets.")
            k = strings[value] = len(strings)
        return f'<c r="{ref}" t="s"><v>{k}</v></c>'

    letters = [get_column_letter(j) for j in range(1, len(values) + 1)]
    for a in range(start, end, block):
        out = []
        for i in range(a, min(end, a + block)):
            r = i - start + 2
            cells = "".join(cell(f"{col}{r}", v[i]) for col, v in zip(letters, values))
            out.append(f'<row r="{r}">{cells}</row>')
        yield "".join(out)


def _shared_strings_xml(strings: Mapping[str, int]) -> Iterator[str]:
    """xl/sharedStrings.xml for ``strings`` (each string's index is its place), in pieces."""
    yield (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{_MAIN_NS}" '
           f'uniqueCount="{len(strings)}">')
    out = []
    for value in strings:
        space = ' xml:space="preserve"' if value != value.strip() else ""
        out.append(f"<si><t{space}>{value.translate(_XML_TEXT)}</t></si>")
        if len(out) == 2000:
            yield "".join(out)
            out = []
    yield "".join(out) + "</sst>"


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_SST_REL = ('<Relationship Id="rIdSharedStrings" Target="sharedStrings.xml" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>')
_SST_TYPE = ('<Override PartName="/xl/sharedStrings.xml" ContentType='
             '"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')


class _FixedZip(zipfile.ZipFile):
    """A zip archive whose entries all carry fixed metadata (date, system, mode), whatever the writer
    (openpyxl) passes: deterministic bytes in one pass. A file added from disk (a write-only sheet's
    temporary file) is streamed in, not read whole. ``inject``: rows to add to a sheet as it is
    added; ``strings``: the shared-string table those rows use, written with the workbook's
    relationships (after every sheet) and declared in its content types (openpyxl writes none)."""

    def __init__(self, *args, inject: Mapping[str, Iterable[str]] | None = None,
                 strings: Mapping[str, int] | None = None, **kw) -> None:
        super().__init__(*args, **kw)
        self._inject = dict(inject or {})
        self._strings = strings if strings is not None else {}   # filled as the sheets are written

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        name = zinfo_or_arcname.filename if isinstance(zinfo_or_arcname, zipfile.ZipInfo) else zinfo_or_arcname
        if self._strings and name in ("xl/_rels/workbook.xml.rels", "[Content_Types].xml"):
            if self._inject:
                raise ValueError(f"{name} written before the sheets {sorted(self._inject)}")
            data = data.decode("utf-8") if isinstance(data, bytes) else data
            end = "</Relationships>" if name.endswith(".rels") else "</Types>"
            if data.count(end) != 1:
                raise ValueError(f"{name}: no {end} to declare the shared strings in")
            data = data.replace(end, (_SST_REL if name.endswith(".rels") else _SST_TYPE) + end)
            if name.endswith(".rels"):
                with self.open(fixed_zip_info("xl/sharedStrings.xml", zipfile.ZIP_DEFLATED), "w",
                               force_zip64=True) as dst:
                    for chunk in _shared_strings_xml(self._strings):
                        dst.write(chunk.encode("ascii", "xmlcharrefreplace"))
        super().writestr(fixed_zip_info(name, zipfile.ZIP_DEFLATED), data)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        arcname = arcname or os.path.basename(filename)
        rows = self._inject.pop(arcname, None)
        with open(filename, "rb") as src, self.open(fixed_zip_info(arcname, zipfile.ZIP_DEFLATED), "w",
                                                    force_zip64=True) as dst:
            if rows is None:
                shutil.copyfileobj(src, dst, 1 << 20)
                return
            head, sep, tail = src.read().partition(b"</sheetData>")   # a header-only sheet: small
            if not sep:
                raise ValueError(f"{arcname}: no sheetData to add the rows to")
            dst.write(head)
            for chunk in rows:   # as openpyxl's sheet writer: ASCII, other characters as references
                dst.write(chunk.encode("ascii", "xmlcharrefreplace"))
            dst.write(sep + tail)


def read_xlsx_cells(path: str | Path, category_labels: Sequence[str]) -> dict[str, dict[tuple[str, str], list[str]]]:
    """Read the workbook back: sheet -> (site, category label) -> segment lines (for checks and tests).

    Only the columns headed by one of ``category_labels`` are read (not the site and group columns).
    """
    wanted = set(category_labels)
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    out: dict[str, dict[tuple[str, str], list[str]]] = {}
    for ws in wb.worksheets:
        if ws.title.startswith(SEGMENT_SHEET):
            continue
        rows = list(ws.iter_rows(values_only=True))
        head = list(rows[0])
        sheet: dict[tuple[str, str], list[str]] = {}
        for r in rows[1:]:
            for j, v in enumerate(r):
                if j >= 2 and v and head[j] in wanted:
                    sheet[(r[0], head[j])] = str(v).split("\n\n")
        out[ws.title] = sheet
    return out


def read_xlsx_segments(path: str | Path) -> pd.DataFrame:
    """Every segment from the workbook's segments sheet(s), as the TSV's columns (strings)."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    frames = []
    for ws in wb.worksheets:
        if ws.title.startswith(SEGMENT_SHEET):
            rows = list(ws.iter_rows(values_only=True))
            frames.append(pd.DataFrame([["" if v is None else str(v) for v in r] for r in rows[1:]],
                                       columns=list(rows[0])))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MATRIX_COLUMNS)


# --------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:1.2em;color:#222}
h1{font-size:1.35em}
#filters{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd;z-index:2}
#filters label{margin-inline-end:1em}
table{border-collapse:collapse}
th,td{border:1px solid #bbb;padding:.35em .5em;vertical-align:top;text-align:start}
thead th{background:#eee;position:sticky;top:2.6em}
th.case{min-width:9em;max-width:13em;background:#f6f6f6}
td.cell{min-width:16em;max-width:26em}
ul.segs{margin:0;padding-inline-start:1em}
li.seg{margin-bottom:.4em}
.v{font-weight:700;display:inline-block;min-width:2.2em}
.v-facilitator{color:#3f2a7a}.v-barrier{color:#a24a00}.v-mixed{color:#555}
.attr{color:#444;font-size:.9em}.first{color:#333;font-size:.9em}.code{color:#666;font-size:.85em;font-style:italic}
"""

_JS = """
(function(){
  var keys=JSON.parse(document.getElementById('filter-keys').textContent);
  function sel(k){return document.getElementById('f-'+k);}
  function apply(){
    var want={},shownCases=0,shownSegs=0;
    keys.forEach(function(k){want[k]=sel(k).value;});
    document.querySelectorAll('tr.case').forEach(function(tr){
      var ok=true;
      keys.forEach(function(k){if(k!=='valence'&&want[k]!=='all'&&tr.dataset[k]!==want[k]){ok=false;}});
      tr.hidden=!ok;
      if(ok){shownCases++;}
      tr.querySelectorAll('li.seg').forEach(function(li){
        var v=want.valence==='all'||li.dataset.valence===want.valence;
        li.hidden=!v; if(ok&&v){shownSegs++;}
      });
    });
    document.getElementById('shown-cases').textContent=String(shownCases);
    document.getElementById('shown-segments').textContent=String(shownSegs);
    var h=keys.map(function(k){return k+'='+encodeURIComponent(want[k]);}).join('&');
    if(location.hash.slice(1)!==h){try{history.replaceState(null,'','#'+h);}catch(e){}}
  }
  function fromHash(){
    location.hash.replace(/^#/,'').split('&').forEach(function(kv){
      var p=kv.split('='),k=decodeURIComponent(p[0]||''),v=decodeURIComponent(p[1]||''),el=keys.indexOf(k)>=0?sel(k):null;
      if(el&&Array.prototype.some.call(el.options,function(o){return o.value===v;})){el.value=v;}
    });
  }
  keys.forEach(function(k){sel(k).addEventListener('change',apply);});
  window.addEventListener('hashchange',function(){fromHash();apply();});
  fromHash();apply();
})();
"""


_e = html_text   # every value on the pages: & < > " escaped (the leak gate reads a page once)


def _select(key: str, label: str, options: Sequence[tuple[str, str]]) -> str:
    opts = "".join(f'<option value="{_e(v)}">{_e(t)}</option>' for v, t in [("all", "all"), *options])
    return f'<label>{_e(label)} <select id="f-{_e(key)}">{opts}</select></label>'


def matrix_html(matrix: pd.DataFrame, cases: pd.DataFrame, cats: Sequence[tuple[str, str]],
                waves: Sequence[tuple[str, str]], groups: Sequence[Mapping], title: str,
                back: str | None = None) -> str:
    """The self-contained page: a row per case, a column per category, every segment, filters in the page.

    The pipeline writes it per case (:func:`case_pages`); ``back`` links the overview."""
    by_cell: dict[tuple[str, str, str], list[dict]] = {}
    for r in _records(matrix):
        by_cell.setdefault((r["site"], r["wave"], r["category"]), []).append(r)
    keys = ["site"] + (["wave"] if waves else []) + [g["id"] for g in groups] + ["valence"]
    site_opts = list(dict.fromkeys(zip(cases["site"], cases["name"])))
    filters = [_select("site", "Site", site_opts)]
    if waves:
        filters.append(_select("wave", "Wave", list(waves)))
    for g in groups:
        filters.append(_select(g["id"], g["label"], list(zip(g["values"], g["value_labels"]))))
    filters.append(_select("valence", "Valence", [("facilitator", "facilitator (+)"), ("barrier", "barrier (−)"),
                                                   ("mixed", "mixed (±)"), ("", "none given")]))
    head = "<tr><th>Case</th>" + "".join(f'<th data-category="{_e(c)}" id="{_e(c)}">{_e(lab)}</th>'
                                         for c, lab in cats) + "</tr>"
    body = []
    wave_label = dict(waves)
    for r in cases.to_dict("records"):
        attrs = f' data-site="{_e(r["site"])}"' + (f' data-wave="{_e(r["wave"])}"' if waves else "")
        attrs += "".join(f' data-{_e(g["id"])}="{_e(r.get(g["id"], ""))}"' for g in groups)
        case = _e(r["name"]) + (f'<br><small>{_e(wave_label.get(r["wave"], r["wave"]))}</small>' if waves else "")
        tds = []
        for c, _l in cats:
            segs = by_cell.get((r["site"], r["wave"], c), [])
            items = "".join(
                f'<li class="seg" data-valence="{_e(s["valence"])}" data-ref="{_e(s["transcript"])}:{s["turn"]}">'
                f'<span class="v v-{_e(s["valence"] or "none")}">{_e(_SYMBOL.get(s["valence"], ""))}</span>'
                f'“{_e(s["text"])}” <span class="attr">{_e(s["attribution"])}</span> '
                f'<span class="code">{_e(s["code_label"])} · {_e(s["transcript"])}:{s["turn"]}</span></li>'
                for s in segs)
            tds.append(f'<td class="cell" data-category="{_e(c)}" data-n="{len(segs)}">'
                       + (f'<ul class="segs">{items}</ul>' if items else "") + "</td>")
        body.append(f'<tr class="case"{attrs}><th class="case">{case}</th>{"".join(tds)}</tr>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{_e(title)}</h1>\n"
        + (f'<p><a href="{_e(back)}">All cases</a></p>\n' if back else "")
        + "<p>Cases × categories; each cell lists its coded segments with the "
        "speaker's attribution, valence ((+) facilitator, (−) barrier, (±) mixed) and where the segment "
        "is (transcript:turn). Filters follow the URL hash, e.g. <code>#site=ulm&amp;valence=barrier</code>.</p>\n"
        f'<div id="filters">{" ".join(filters)} — <span id="shown-cases">{len(cases)}</span> cases, '
        f'<span id="shown-segments">{len(matrix)}</span> segments shown</div>\n'
        f'<script type="application/json" id="filter-keys">{json.dumps(keys)}</script>\n'
        f"<table><thead>{head}</thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>\n"
        f"<script>{_JS}</script>\n</body></html>\n"
    )


_INDEX_JS = """
(function(){
  if(location.protocol==='data:'||location.protocol==='blob:'){document.getElementById('in-report').hidden=false;}
  var keys=JSON.parse(document.getElementById('filter-keys').textContent);
  function sel(k){return document.getElementById('f-'+k);}
  function apply(){
    var want={},shownCases=0,shownSegs=0;
    keys.forEach(function(k){want[k]=sel(k).value;});
    document.querySelectorAll('tr.case').forEach(function(tr){
      var ok=true;
      keys.forEach(function(k){if(want[k]!=='all'&&tr.dataset[k]!==want[k]){ok=false;}});
      tr.hidden=!ok;
      if(ok){shownCases++;tr.querySelectorAll('td.cell').forEach(function(td){shownSegs+=Number(td.dataset.n);});}
    });
    document.getElementById('shown-cases').textContent=String(shownCases);
    document.getElementById('shown-segments').textContent=String(shownSegs);
    var h=keys.map(function(k){return k+'='+encodeURIComponent(want[k]);}).join('&');
    if(location.hash.slice(1)!==h){try{history.replaceState(null,'','#'+h);}catch(e){}}
  }
  function fromHash(){
    location.hash.replace(/^#/,'').split('&').forEach(function(kv){
      var p=kv.split('='),k=decodeURIComponent(p[0]||''),v=decodeURIComponent(p[1]||''),el=keys.indexOf(k)>=0?sel(k):null;
      if(el&&Array.prototype.some.call(el.options,function(o){return o.value===v;})){el.value=v;}
    });
  }
  keys.forEach(function(k){sel(k).addEventListener('change',apply);});
  window.addEventListener('hashchange',function(){fromHash();apply();});
  fromHash();apply();
})();
"""
#: The overview quotes at most this many characters of a cell's first segment.
EXCERPT_CHARS = 160


def case_pages(out_html: str | Path, sites: Sequence[str], waves: Sequence[str]) -> dict[tuple[str, str], str]:
    """Where each case's page goes: ``cases/<site>.html`` (``cases/<site>.<wave>.html`` with waves),
    beside the overview. Known from the design alone, so the rule names its outputs at load."""
    base = Path(out_html).parent / "cases"
    return {(s, w): str(base / (f"{s}.{w}.html" if w else f"{s}.html")) for w in (waves or [""]) for s in sites}


def _excerpt(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1].rstrip() + "…"


def matrix_index_html(matrix: pd.DataFrame, cases: pd.DataFrame, cats: Sequence[tuple[str, str]],
                      waves: Sequence[tuple[str, str]], groups: Sequence[Mapping], title: str,
                      links: Mapping[tuple[str, str], str]) -> str:
    """The overview a person opens first: per case and category the number of segments by valence and
    the first segment's opening words; each case links its own page with every segment.

    (changed: issue 14 — the one page with every segment of every cell grew with the study; this
    page grows with cases × categories only, and a case's page with that case's segments.)"""
    n: dict[tuple[str, str, str], Counter] = {}
    first: dict[tuple[str, str, str], dict] = {}
    for r in _records(matrix[["site", "wave", "category", "valence", "text", "attribution", "transcript", "turn"]]):
        k = (r["site"], r["wave"], r["category"])
        n.setdefault(k, Counter())[r["valence"]] += 1
        first.setdefault(k, r)
    keys = ["site"] + (["wave"] if waves else []) + [g["id"] for g in groups]
    site_opts = list(dict.fromkeys(zip(cases["site"], cases["name"])))
    filters = [_select("site", "Site", site_opts)]
    if waves:
        filters.append(_select("wave", "Wave", list(waves)))
    for g in groups:
        filters.append(_select(g["id"], g["label"], list(zip(g["values"], g["value_labels"]))))
    head = "<tr><th>Case</th>" + "".join(f'<th data-category="{_e(c)}">{_e(lab)}</th>' for c, lab in cats) + "</tr>"
    wave_label = dict(waves)
    body = []
    for r in cases.to_dict("records"):
        attrs = f' data-site="{_e(r["site"])}"' + (f' data-wave="{_e(r["wave"])}"' if waves else "")
        attrs += "".join(f' data-{_e(g["id"])}="{_e(r.get(g["id"], ""))}"' for g in groups)
        href = links[(r["site"], r["wave"])]
        case = (f'<a href="{_e(href)}">{_e(r["name"])}</a>'
                + (f'<br><small>{_e(wave_label.get(r["wave"], r["wave"]))}</small>' if waves else ""))
        tds = []
        for c, _l in cats:
            k = (r["site"], r["wave"], c)
            cnt = n.get(k, Counter())
            total = sum(cnt.values())
            if not total:
                tds.append(f'<td class="cell" data-category="{_e(c)}" data-n="0"></td>')
                continue
            by_val = " ".join(f'<span class="v v-{_e(v)}">{_e(_SYMBOL[v])} {cnt[v]}</span>'
                              for v in ("facilitator", "barrier", "mixed") if cnt[v])
            f = first[k]
            tds.append(f'<td class="cell" data-category="{_e(c)}" data-n="{total}">'
                       f'<a href="{_e(href)}#{_e(c)}"><b>{total}</b> segment{"s" if total != 1 else ""}</a> {by_val}'
                       f'<br><span class="first">“{_e(_excerpt(f["text"]))}” '
                       f'<span class="attr">{_e(f["attribution"])}</span></span></td>')
        body.append(f'<tr class="case"{attrs}><th class="case">{case}</th>{"".join(tds)}</tr>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{_e(title)}</h1>\n<p>Cases × categories: each cell gives the number of coded segments, by valence "
        "((+) facilitator, (−) barrier, (±) mixed), and the opening words of the first; open a case for every "
        "segment with its attribution and place (transcript:turn). Every segment is also in "
        "framework_matrix.tsv and the workbook's segments sheet. Filters follow the URL hash, e.g. "
        "<code>#site=ulm</code>.</p>\n"
        '<p id="in-report" hidden><strong>Inside the HTML report the links to the case pages do not work: '
        "open results/framework/framework_matrix.html from the results folder.</strong></p>\n"
        f'<div id="filters">{" ".join(filters)} — <span id="shown-cases">{len(cases)}</span> cases, '
        f'<span id="shown-segments">{len(matrix)}</span> segments</div>\n'
        f'<script type="application/json" id="filter-keys">{json.dumps(keys)}</script>\n'
        f"<table><thead>{head}</thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>\n"
        f"<script>{_INDEX_JS}</script>\n</body></html>\n"
    )


# --------------------------------------------------------------------------------------------
# the stage
# --------------------------------------------------------------------------------------------

def _turns(paths: Sequence[str]) -> pd.DataFrame:
    frames = []
    for p in map(Path, sorted(paths)):
        df = read_results_tsv(p)
        missing = [c for c in ("turn", "speaker", "text") if c not in df.columns]
        if missing:
            raise InputError(p, 1, f"missing column(s) {', '.join(missing)}: re-run the pseudonymise stage")
        frames.append(df.assign(site=p.parent.name, transcript=f"{p.parent.name}.{p.name.split('.')[0]}"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["site", "transcript", "turn", "speaker", "text"])


def framework_stage(codings: str, turns: Sequence[str], sites: str, roster: str, codes: Sequence[Mapping],
                    themes: Sequence[Mapping], by: str, waves: Sequence[Mapping], transcript_waves: Mapping[str, str],
                    groups: Sequence[Mapping], site_groups: Sequence[Mapping], roles: Mapping[str, str],
                    title: str, out_tsv: str, out_html: str, out_xlsx: str,
                    out_pages: Sequence[str] | None = None, coverage: str | None = None,
                    assignments: str | None = None, count: str = "primary") -> None:
    """Rule ``framework_matrix``: segments per case and category; TSV, the overview page with one page
    per case (``out_pages``, :func:`case_pages`'s), and the workbook.

    ``coverage``/``assignments``/``count``: which codings count (qualflow.counting), the same rule
    as the theme matrix's; without ``coverage`` every coding is shown.
    """
    site_df = read_tsv(sites)
    people = read_roster(roster, site_df)
    names = dict(zip(site_df["site"], site_df["name"]))
    attribution = {(p.site, p.code): f"[#{int(p.participant)}, {names.get(p.site, p.site)}, "
                                     f"{p.label or roles.get(p.role, p.role)}]"
                   for p in people if not p.is_facilitator}
    cats, category_of = categories(codes, themes, by)
    wave_ids = [w["id"] for w in waves]
    coded = read_results_tsv(codings)
    if coverage:
        counted, problems = counted_coders(read_coverage(coverage), read_assignments(assignments),
                                           str(assignments or "data/coding_assignments.tsv"))
        raise_if(problems)
        coded, _t = counted_codings(coded, counted, count)
    m = segments(coded, _turns(turns), category_of, dict(cats),
                 {c["id"]: c["label"] for c in codes}, transcript_waves, names, attribution,
                 list(site_df["site"]), wave_ids, [c for c, _l in cats])
    group_ids = [g["id"] for g in groups]
    case_rows = []
    for w in wave_ids or [""]:
        for s in site_df["site"]:
            rec = next((r for r in site_groups if r["site"] == s and r.get("wave", "") == w), {})
            case_rows.append({"site": s, "name": names[s], "wave": w, **{g: rec.get(g, "") for g in group_ids}})
    cases = pd.DataFrame(case_rows, columns=["site", "name", "wave", *group_ids])
    wave_pairs = [(w["id"], w.get("label", w["id"])) for w in waves]
    write_tsv(m, out_tsv)
    pages = case_pages(out_html, list(site_df["site"]), wave_ids)
    if out_pages is not None and sorted(map(str, out_pages)) != sorted(pages.values()):
        raise ValueError("the rule's case pages differ from case_pages(): list them with case_pages()")
    wave_label = dict(wave_pairs)
    by_case = {k: g for k, g in m.groupby(["site", "wave"], sort=False)}
    for (s, w), page in pages.items():
        case_title = f"{title} · {names[s]}" + (f" · {wave_label.get(w, w)}" if w else "")
        mine = by_case.get((s, w), m.iloc[0:0])
        write_text(matrix_html(mine, cases[(cases["site"] == s) & (cases["wave"] == w)], cats, wave_pairs, groups,
                               case_title, back=Path(os.path.relpath(out_html, Path(page).parent)).as_posix()),
                   page)
    links = {k: Path(os.path.relpath(p, Path(out_html).parent)).as_posix() for k, p in pages.items()}
    write_text(matrix_index_html(m, cases, cats, wave_pairs, groups, title, links), out_html)
    with atomic_write(out_xlsx, "wb") as fh:
        fh.write(matrix_xlsx(m, cases, cats, wave_pairs, groups))
    log.info("framework matrix: %d cases x %d categories, %d segments", len(cases), len(cats), len(m))
