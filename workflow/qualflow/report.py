"""The HTML report's own pages: a front page with the study's key numbers, and every table as HTML.

Snakemake's report shows a registered ``.tsv`` or ``.md`` only as a download link and its front page
is the workflow description. A reviewer needs to read Table 2, the agreement results, the quotes
and the codebook in the report itself, so this module writes them as self-contained HTML pages
(shown inside the report) and writes the front page (reStructuredText, which Snakemake renders):
the key numbers of the run, Table 2 as the journal's table, and links to every table. Reads only
results/ (never restricted/); deterministic (no dates).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from .tables import html_text, read_results_tsv, read_text_file, write_text

# Column headings of Table 2 as the paper prints them (a column not listed keeps its name).
TABLE2_HEADINGS = {"site": "Site", "focus_groups": "Focus groups", "n": "n", "psw": "Potential or actual PSW",
                   "mh_worker": "Mental health worker", "mh_manager": "Mental health manager",
                   "policy_maker": "Policy-maker", "male": "Male", "female": "Female"}

_CSS = ("body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;margin:1.2em;"
        "color:#222;max-width:70em}table{border-collapse:collapse;margin:.6em 0}"
        "th,td{border-bottom:1px solid #bbb;padding:.25em .6em;text-align:left;vertical-align:top}"
        "td.num{text-align:right;white-space:nowrap}tr.total td{font-weight:bold;border-top:2px solid #000}"
        "caption{text-align:left;font-weight:600;padding:.3em 0}h1{font-size:1.35em}h2{font-size:1.15em}")


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html_text(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


def _is_number(x: str) -> bool:
    try:
        float(x)
        return x.strip() != ""
    except ValueError:
        return False


def html_table(df: pd.DataFrame, caption: str = "", headings: dict[str, str] | None = None,
               total_label: str | None = None) -> str:
    """One table: numbers right-aligned, the row whose first cell is ``total_label`` marked."""
    headings = headings or {}
    head = "".join(f"<th>{html_text(headings.get(c, c))}</th>" for c in df.columns)
    rows = []
    for rec in df.astype(str).itertuples(index=False):
        cls = ' class="total"' if total_label is not None and rec[0] == total_label else ""
        cells = "".join(f'<td class="num">{html_text(v)}</td>' if _is_number(v) else f"<td>{html_text(v)}</td>"
                        for v in rec)
        rows.append(f"<tr{cls}>{cells}</tr>")
    cap = f"<caption>{html_text(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def markdown_html(text: str) -> str:
    """Our own Markdown outputs (summary.md, quotes.md) as HTML: headings, bullet lists, paragraphs.

    Blocks only; the text of each block is escaped and otherwise kept letter for letter (``*Sage*``
    stays ``*Sage*``), so the leak gate recognises the pipeline's own sentences — a citation, a heading
    — in the page exactly as in the Markdown file (qualflow.leak_context)."""
    out: list[str] = []
    para: list[str] = []
    in_list = False

    def flush() -> None:
        nonlocal para
        if para:
            out.append(f"<p>{html_text(' '.join(para))}</p>")
            para = []

    for line in text.splitlines():
        stripped = line.strip()
        heading = len(stripped) - len(stripped.lstrip("#"))
        if stripped.startswith("- "):
            flush()
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{html_text(stripped[2:])}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        if not stripped:
            flush()
        elif 1 <= heading <= 6 and stripped[heading:heading + 1] == " ":
            flush()
            out.append(f"<h{heading}>{html_text(stripped[heading + 1:])}</h{heading}>")
        else:
            para.append(stripped)
    flush()
    if in_list:
        out.append("</ul>")
    return "\n".join(out) + "\n"


def _fmt_alpha(x: str) -> str:
    """.786 as the paper writes it (no leading zero); empty stays empty."""
    if not _is_number(x):
        return ""
    v = float(x)
    s = f"{v:.3f}"
    return s.replace("0.", ".", 1) if abs(v) < 1 else s


def agreement_page(summary_md: str, by_theme: pd.DataFrame, by_code: pd.DataFrame) -> str:
    """The methods paragraph, then per theme and per code (all units) alpha with its CI and n."""
    cols = ["label", "n_units", "n_present", "alpha", "ci_low", "ci_high", "kappa_nvivo", "undefined"]
    heads = {"label": "", "n_units": "Units", "n_present": "Present in", "alpha": "Alpha", "ci_low": "95% CI low",
             "ci_high": "95% CI high", "kappa_nvivo": "NVivo kappa", "undefined": "Note"}

    def table(df: pd.DataFrame, first: str, caption: str) -> str:
        d = df[df["scope"] == "all"]
        d = d[[c for c in cols if c in d.columns]].copy()
        for c in ("alpha", "ci_low", "ci_high", "kappa_nvivo"):
            if c in d.columns:
                d[c] = d[c].map(_fmt_alpha)
        return html_table(d, caption, {**heads, "label": first})

    codes = by_code[by_code["code"] != "(pooled)"]
    body = (markdown_html(summary_md)
            + "<h2>Agreement by theme (all double-coded units)</h2>"
            + table(by_theme, "Theme", "Krippendorff's alpha per theme, nominal, 95% bootstrap CI")
            + "<h2>Agreement by code (all double-coded units)</h2>"
            + table(codes, "Code", "Krippendorff's alpha per code, nominal, 95% bootstrap CI"))
    return _page("Intercoder agreement", body)


def codebook_page(codebook: pd.DataFrame, themes: pd.DataFrame) -> str:
    """The final framework, theme by theme, with definitions and use."""
    labels = dict(zip(themes["theme"], themes["label"])) if "label" in themes.columns else {}
    parts = ["<h1>Codebook</h1>"]
    cols = [c for c in ("label", "origin", "definition", "coders", "n_units", "n_transcripts", "n_sites")
            if c in codebook.columns]
    heads = {"label": "Code", "origin": "Origin", "definition": "Definition", "coders": "Coders",
             "n_units": "Units", "n_transcripts": "Transcripts", "n_sites": "Sites"}
    order = list(dict.fromkeys([*themes.get("theme", pd.Series(dtype=str)), *codebook["theme"]]))
    for theme in order:
        d = codebook[codebook["theme"] == theme]
        if d.empty:
            continue
        parts.append(f"<h2>{html_text(labels.get(theme, theme) or '(no theme)')}</h2>")
        parts.append(html_table(d[cols].assign(coders=d["coders"].str.replace(";", ", ")) if "coders" in cols
                                else d[cols], headings=heads))
    return _page("Codebook", "".join(parts))


#: The report's quotes page shows this many quotes per theme (the first, in site and transcript
#: order); every quote is in results/themes/quotes/ (one page per site and theme).
QUOTES_PER_THEME = 5


def quotes_html(pages: dict[str, str], themes: pd.DataFrame, sites: pd.DataFrame,
                transcripts: pd.DataFrame | None, per_theme: int = QUOTES_PER_THEME) -> str:
    """The report's quotes page at any size: the theme x site count of quotes (the index), then the
    first ``per_theme`` quotes of each theme, never all. ``pages`` maps ``<site>/<theme>.md`` to its
    text (results/themes/quotes/); a site whose transcripts are not coded says "not coded"."""
    status: dict[str, str] = {}
    if transcripts is not None and len(transcripts):
        for s_id, g in transcripts.groupby("site", sort=False):
            k, n = int((g["status"] == "coded").sum()), len(g)
            status[s_id] = "not coded" if k == 0 else "coded" if k == n else f"partly coded ({k} of {n})"
    labels = list(zip(themes["theme"], themes["label"]))
    quotes_of = {key: [l[2:] for l in text.splitlines() if l.startswith("- ")] for key, text in pages.items()}
    site_ids, names = list(sites["site"]), list(sites["name"])
    head = "".join(f"<th>{html_text(n)}</th>" for n in ["Theme", *names, "All sites"])
    rows = []
    for i, (theme, label) in enumerate(labels, start=1):
        cells, total = [], 0
        for s_id in site_ids:
            n = len(quotes_of.get(f"{s_id}/{theme}.md", []))
            total += n
            st = status.get(s_id, "coded")
            cells.append(f'<td class="num">{"not coded" if st == "not coded" else n}</td>')
        rows.append(f"<tr><td>{i}. {html_text(label)}</td>{''.join(cells)}<td class=\"num\">{total}</td></tr>")
    intro = (f"The number of quotes per theme and site, then the first {per_theme} of each theme (in site and "
             "transcript order). Every quote, with its attribution, is in results/themes/quotes/: index.md, and "
             "one page per site and theme (<site>/<theme>.md). Quotes come from each transcript’s counted coder "
             "(results/themes/summary.md); a site not coded yet has no quotes.")
    body = ["<h1>Quotes by theme</h1>", f"<p>{html_text(intro)}</p>",
            f"<table><caption>Quotes per theme and site</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"]
    for i, (theme, label) in enumerate(labels, start=1):
        every = [q for s_id in site_ids for q in quotes_of.get(f"{s_id}/{theme}.md", [])]
        body.append(f"<h2>{i}. {html_text(label)}</h2>")
        if not every:
            body.append("<p>No quotes.</p>")
            continue
        body.append("<ul>" + "".join(f"<li>{html_text(q)}</li>" for q in every[:per_theme]) + "</ul>")
        if len(every) > per_theme:
            body.append(f"<p>{per_theme} of {len(every)} quotes shown: the others are in "
                        f"results/themes/quotes/&lt;site&gt;/{html_text(theme)}.md.</p>")
    return _page("Quotes by theme", "\n".join(body))


def uncoded_line(transcripts: pd.DataFrame | None) -> str | None:
    """The front page's sentence on transcripts no coder coded (left out of the theme counts)."""
    if transcripts is None or "status" not in transcripts.columns:
        return None
    missing = list(transcripts.loc[transcripts["status"] != "coded", "transcript"])
    if not missing:
        return None
    return (f"- **Not coded yet: {len(missing)} transcript(s)** ({', '.join(missing)}), left out of every theme "
            "count and denominator and shown as \"not coded\" (results/themes/summary.md).")


def front_rst(study: str, table2: pd.DataFrame, by_code: pd.DataFrame, coverage: pd.DataFrame,
              flags_table: pd.DataFrame | None, n_sites: int, n_transcripts: int,
              pages: Sequence[str], transcripts: pd.DataFrame | None = None) -> str:
    """The report's front page: what the study is, its key numbers, Table 2, links to every table."""
    total = table2[table2["site"] == "Total"].iloc[0] if (table2["site"] == "Total").any() else None
    per = coverage.groupby("transcript")["coder"].nunique()
    double = int((per >= 2).sum())
    pooled = by_code[(by_code["code"] == "(pooled)") & (by_code["scope"] == "all")]
    lines = [study, "=" * max(len(study), 3), "",
             "qualflow re-runs the study's analysis from the raw site transcripts: pseudonymisation, "
             "translation checks, codes, intercoder agreement, the participant table and the themes. "
             "Every table is shown in this report (open it from the links below or the menu); the files "
             "themselves are in ``results/`` (docs/outputs.md explains each column).", "",
             "Key numbers", "-----------", ""]
    if total is not None:
        lines.append(f"- **{total['n']} focus-group participants** in **{total['focus_groups']} focus groups** "
                     f"at **{n_sites} sites** (Table 2).")
    lines.append(f"- **{n_transcripts} transcripts**; {len(per)} coded, **{double} double-coded** "
                 "(the units of the agreement analysis).")
    uncoded = uncoded_line(transcripts)
    if uncoded:
        lines.append(uncoded)
    if len(pooled):
        p = pooled.iloc[0]
        ci = (f" (95% CI {_fmt_alpha(p['ci_low'])} to {_fmt_alpha(p['ci_high'])})"
              if _is_number(str(p.get("ci_low", ""))) else "")
        lines.append(f"- Intercoder agreement pooled over all codes: **Krippendorff's alpha "
                     f"{_fmt_alpha(str(p['alpha']))}**{ci}, over {p['n_units']} double-coded turns.")
    if flags_table is not None and (flags_table["site"] == "Total").any():
        t = flags_table[flags_table["site"] == "Total"].iloc[0]
        lines.append(f"- Translation check: **{t['total']} flags**, {t['open']} open and {t['resolved']} "
                     "decided by the translation leads.")
    lines += ["", "Table 2", "-------", ""]
    heads = [TABLE2_HEADINGS.get(c, c) for c in table2.columns]
    n = total["n"] if total is not None else ""
    lines += [f".. list-table:: Table 2. Focus group participants (n={n})", "   :header-rows: 1", ""]
    for row in [heads, *table2.astype(str).values.tolist()]:
        lines.append(f"   * - {row[0] or ' '}")
        lines += [f"     - {v or ' '}" for v in row[1:]]
    lines += ["", "Tables", "------", "",
              "Every table of the run, inside this report: "
              + ", ".join(f"`{name}`_" for name in pages) + ".", ""]
    return "\n".join(lines)


def write_report_pages(table2_tsv: str, by_code_tsv: str, by_theme_tsv: str, agreement_md: str,
                       quote_pages: Sequence[str], codebook_tsv: str, themes_tsv: str, coverage_tsv: str,
                       flags_table_tsv: str | None, sites_tsv: str, n_transcripts: int, study: str,
                       out_front: str, out_agreement: str, out_quotes: str, out_codebook: str,
                       pages: Sequence[str], transcripts_tsv: str | None = None) -> None:
    """Entry point of ``report_pages``. ``quote_pages``: results/themes/quotes/<site>/<theme>.md;
    ``transcripts_tsv``: results/themes/transcripts.tsv (which transcripts are coded)."""
    table2 = read_results_tsv(table2_tsv)
    by_code, by_theme = read_results_tsv(by_code_tsv), read_results_tsv(by_theme_tsv)
    coverage = read_results_tsv(coverage_tsv)
    flags = read_results_tsv(flags_table_tsv) if flags_table_tsv else None
    sites = read_results_tsv(sites_tsv)
    transcripts = read_results_tsv(transcripts_tsv) if transcripts_tsv else None
    write_text(front_rst(study, table2, by_code, coverage, flags, len(sites), n_transcripts, pages, transcripts),
               out_front)
    write_text(agreement_page(read_text_file(agreement_md), by_theme, by_code), out_agreement)
    texts = {f"{Path(p).parent.name}/{Path(p).name}": read_text_file(p) for p in quote_pages
             if Path(p).name != "index.md"}
    write_text(quotes_html(texts, read_results_tsv(themes_tsv), sites, transcripts), out_quotes)
    write_text(codebook_page(read_results_tsv(codebook_tsv), read_results_tsv(themes_tsv)), out_codebook)
