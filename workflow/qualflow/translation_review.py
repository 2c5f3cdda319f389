"""Stage 4's outputs for people: the flag tables and the review pages (part of qualflow.translation).

The translation leads read ``review.html``: an index with one row per site (transcript pairs, flags
by kind, open and decided) linking to ``review/<site>.html``, where each local transcript of the site
sits beside its English translation, aligned turn by turn, flagged turns highlighted. (changed: issue
14 — one page holding every pair was 131 MB at 1,000 synthetic transcripts, which no browser opens.)
A site with more than ``pairs_per_page`` pairs gets a page per transcript instead
(``review/<site>.<T>.html``), its site page then listing them, so no page grows with the study or
with a site: the largest page is one transcript pair. The page layout is fixed at load from the
pairs alone, so the rule knows its outputs.

Kept apart from qualflow.translation (the checking), which was past the module size; this module
imports that one (the same stage), never the reverse. Deterministic: no dates, fixed orders.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from .translation import (FLAG_COLUMNS, FLAG_KINDS, MIN_PAIR_TURNS, RTL_LANGUAGES, SEVERITIES, SUMMARY_COLUMNS,
                          Block, MarkerMap, PairStats, align_turns, finalise_flags, pair_of, read_pair_stats,
                          read_turns)
from .tables import html_text, read_results_tsv, write_text, write_tsv

#: A site with more pairs than this gets one page per transcript (config ``translation_review``).
PAIRS_PER_PAGE = 20


@dataclass
class ReviewPair:
    """One transcript pair as the review page shows it."""

    site: str
    transcript: str
    lang: str
    local: pd.DataFrame | None          # None: flags only (the summary tables need no text)
    en: pd.DataFrame | None
    flags: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FLAG_COLUMNS))
    align_ratio: float | None = None     # the ratio the check aligned with (None: the pair's median)


def summary_frame(pairs: Sequence[ReviewPair], stats: dict[str, PairStats], site_order: Sequence[str],
                  english: str = "en") -> pd.DataFrame:
    """Flags per site, language pair and kind (zeros included), with the pair's ratio statistics."""
    rows = []
    groups: dict[tuple[str, str], list[ReviewPair]] = {}
    for p in pairs:
        groups.setdefault((p.site, f"{p.lang}-{english}"), []).append(p)
    rank = {s: i for i, s in enumerate(site_order)}
    for (site, lp) in sorted(groups, key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1])):
        ps = groups[(site, lp)]
        allf = pd.concat([p.flags for p in ps], ignore_index=True) if ps else pd.DataFrame(columns=FLAG_COLUMNS)
        st = stats.get(lp)
        for kind, sev in FLAG_KINDS.items():
            f = allf[allf["flag"] == kind]
            rows.append({"site": site, "lang_pair": lp, "flag": kind, "severity": sev, "flags": len(f),
                         "open": int((f["status"] == "open").sum()),
                         "resolved": int((f["status"] == "resolved").sum()), "transcripts": len(ps),
                         "pair_turns": st.turns if st else 0,
                         "pair_median_ratio": round(st.median_ratio, 4) if st else "",
                         "pair_log_ratio_median": round(st.median_log_ratio, 4) if st else "",
                         "pair_log_ratio_mad": round(st.mad_log_ratio, 4) if st else ""})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def flags_by_site(summary: pd.DataFrame, site_names: dict[str, str]) -> pd.DataFrame:
    """The summary as a manuscript/Excel table: one row per site, one column per flag kind, a Total row.

    Counts every flag raised (open and resolved); ``open`` and ``resolved`` split the row's total, so
    a reader sees at a glance which sites still have flags to review."""
    rows = []
    for site, g in summary.groupby("site", sort=False):
        row = {"site": site_names.get(site, site), "languages": ", ".join(dict.fromkeys(g["lang_pair"])),
               "transcripts": int(g.drop_duplicates("lang_pair")["transcripts"].sum())}
        row.update({k: int(g.loc[g["flag"] == k, "flags"].sum()) for k in FLAG_KINDS})
        row.update({"total": int(g["flags"].sum()), "open": int(g["open"].sum()),
                    "resolved": int(g["resolved"].sum())})
        rows.append(row)
    cols = ["site", "languages", "transcripts", *FLAG_KINDS, "total", "open", "resolved"]
    df = pd.DataFrame(rows, columns=cols)
    total = {"site": "Total", "languages": "", **{c: int(df[c].sum()) for c in cols[2:]}}
    return pd.concat([df, pd.DataFrame([total], columns=cols)], ignore_index=True)


def review_layout(review_out: str | Path, pairs_by_site: Mapping[str, Sequence[str]],
                  pairs_per_page: int = PAIRS_PER_PAGE) -> dict[str, tuple[str, dict[str, str]]]:
    """Where every review page goes: site -> (its page, transcript -> its own page or nothing).

    ``review/<site>.html`` beside the index for every site; for a site with more than
    ``pairs_per_page`` pairs also ``review/<site>.<T>.html`` per transcript (the site page then
    lists them). Known from the pairs alone, so the rule can name its outputs at load."""
    base = Path(review_out).with_suffix("")
    out = {}
    for site, transcripts in pairs_by_site.items():
        own = ({t: str(base / f"{site}.{t}.html") for t in transcripts}
               if len(transcripts) > pairs_per_page else {})
        out[site] = (str(base / f"{site}.html"), own)
    return out


def layout_files(layout: Mapping[str, tuple[str, Mapping[str, str]]]) -> list[str]:
    """Every page of a layout, site pages first then transcript pages, each in the layout's order."""
    return [page for page, _ in layout.values()] + [p for _, own in layout.values() for p in own.values()]


def _href(page: str | Path, target: str | Path) -> str:
    """``target``'s address relative to ``page``, with / separators (it is a URL)."""
    return Path(os.path.relpath(target, Path(page).parent)).as_posix()


def _read_pairs(flag_paths: Sequence[str], local_paths: Sequence[str], pair_paths: Sequence[str]
                ) -> list[ReviewPair]:
    """Every pair with its final flags and alignment ratio, without its text (read per page later)."""
    ratios = {(Path(pp).parent.name, r["transcript"]): float(r["align_ratio"])
              for pp in pair_paths for r in read_results_tsv(pp).to_dict("records")}
    pairs = []
    for fp, lp in zip(flag_paths, local_paths):
        site, transcript, lang = pair_of(lp)
        if (Path(fp).parent.name, Path(fp).name.split(".")[0]) != (site, transcript):
            raise ValueError(f"flags file {fp} does not belong to {lp}: the rule lists them in different orders")
        pairs.append(ReviewPair(site, transcript, lang, None, None, read_results_tsv(fp),
                                ratios.get((site, transcript))))
    return pairs


def summarise(flag_paths: Sequence[str], local_paths: Sequence[str], en_paths: Sequence[str], stats_path: str,
              sites_path: str, markers: dict, english: str,
              summary_out: str, review_out: str, title: str = "", pair_paths: Sequence[str] = (),
              table_out: str | None = None, pages_out: Sequence[str] | None = None,
              pairs_per_page: int = PAIRS_PER_PAGE) -> None:
    """summary.tsv, flags_by_site.tsv and the review: the index plus every site's (and transcript's) page.

    ``pair_paths`` are the per-site ``pairs.tsv`` of the checks, so each page aligns a pair with the
    ratio its check used and the flags sit on the turns they were raised for. ``pages_out`` are the
    pages the rule names; they must be :func:`review_layout`'s. Without ``pages_out`` the review is
    one page of every pair (small studies and tests only). A site's text is read only while its
    page is written, so memory stays that of the largest page."""
    from .study import read_sites
    sites = read_sites(sites_path)
    stats = read_pair_stats(stats_path)
    pairs = _read_pairs(flag_paths, local_paths, pair_paths)
    texts = {(p.site, p.transcript): (lp, ep) for p, lp, ep in zip(pairs, local_paths, en_paths)}
    order = list(sites["site"])
    names = dict(zip(sites["site"], sites["name"]))
    summary = summary_frame(pairs, stats, order, english)
    table = flags_by_site(summary, names)
    write_tsv(summary, summary_out)
    if table_out:
        write_tsv(table, table_out)

    def loaded(ps: Sequence[ReviewPair]) -> list[ReviewPair]:
        return [ReviewPair(p.site, p.transcript, p.lang, read_turns(texts[(p.site, p.transcript)][0]),
                           read_turns(texts[(p.site, p.transcript)][1]), p.flags, p.align_ratio) for p in ps]

    if pages_out is None:
        write_text(review_html(loaded(pairs), markers, stats, english, order, names, title), review_out)
        return
    title = title or "Translation check"
    by_site: dict[str, list[ReviewPair]] = {}
    for p in sorted(pairs, key=lambda p: (order.index(p.site) if p.site in order else len(order), p.site,
                                          p.transcript, p.lang)):
        by_site.setdefault(p.site, []).append(p)
    layout = review_layout(review_out, {s: [p.transcript for p in ps] for s, ps in by_site.items()},
                           pairs_per_page)
    if sorted(map(str, pages_out)) != sorted(layout_files(layout)):
        raise ValueError("the rule's review pages differ from review_layout's: list them with layout_files()")
    for site, ps in by_site.items():
        page, own = layout[site]
        name = names.get(site, site)
        back = _href(page, review_out)
        if not own:
            write_text(review_html(loaded(ps), markers, stats, english, order, names, f"{title} · {name}",
                                   back=back), page)
            continue
        for p in ps:
            write_text(review_html(loaded([p]), markers, stats, english, order, names,
                                   f"{title} · {name} · {p.transcript}", back=_href(own[p.transcript], page),
                                   back_label=f"All transcripts at {name}"),
                       own[p.transcript])
        write_text(site_index_html(ps, {t: _href(page, f) for t, f in own.items()}, name,
                                   f"{title} · {name}", back), page)
    site_rows = list(dict.fromkeys(summary["site"]))
    links = {s: _href(review_out, layout[s][0]) for s in site_rows}
    write_text(review_index_html(table, site_rows, links, title, {s: len(ps) for s, ps in by_site.items()}),
               review_out)


def translation_summary(site_flag_paths: Sequence[str], length_paths: Sequence[str], pair_paths: Sequence[str],
                        resolutions_path: str, translation: dict | None, english: str,
                        sites_path: str, markers: dict,
                        title: str, pairs_per_page: int, stats_out: str, flag_outs: Sequence[str],
                        summary_out: str, table_out: str, review_out: str, pages_out: Sequence[str]) -> None:
    """Entry point of ``translation_summary``: the study-wide step after the per-site checks.

    (changed: issue 12 item 6 — ``translation_stats`` and ``translation_summary`` were two jobs that
    always ran together; one job saves a job's fixed cost on every edit.) First numbers only (the
    per-pair statistics, the length outliers, the leads' decisions: pair_stats.tsv and every
    <T>.flags.tsv), then the tables and the review pages, whose text is read from the turn tables
    each site's ``pairs.tsv`` names, in the order of ``flag_outs``."""
    finalise_flags(site_flag_paths, length_paths, pair_paths, resolutions_path, translation, english,
                   stats_out, flag_outs)
    checked = pd.concat([read_results_tsv(p) for p in pair_paths], ignore_index=True) if pair_paths else None
    local_paths = [] if checked is None else checked["local_tsv"].tolist()
    en_paths = [] if checked is None else checked["en_tsv"].tolist()
    summarise(flag_outs, local_paths, en_paths, stats_out, sites_path, markers, english, summary_out,
              review_out, title, pair_paths, table_out, pages_out, pairs_per_page)


_INDEX_JS = """
(function(){
  if(location.protocol==='data:'||location.protocol==='blob:'){document.getElementById('in-report').hidden=false;}
  var q={};location.hash.replace(/^#/,'').split('&').forEach(function(kv){var p=kv.split('=');
    if(p[0]){q[decodeURIComponent(p[0])]=decodeURIComponent(p[1]||'');}});
  var links=document.querySelectorAll('a[data-site]');
  for(var i=0;i<links.length;i++){if(q.site&&links[i].dataset.site===q.site){
    location.replace(links[i].getAttribute('href')+'#severity='+encodeURIComponent(q.severity||'all'));return;}}
})();
"""


def _page(title: str, body: str, script: str = "") -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>\n"
            f"<h1>{_esc(title)}</h1>\n{body}"
            + (f"<script>{script}</script>\n" if script else "") + "</body></html>\n")


def review_index_html(table: pd.DataFrame, sites: Sequence[str], links: Mapping[str, str], title: str,
                      n_pairs: Mapping[str, int] | None = None) -> str:
    """The review's front page: flags_by_site.tsv as a table, each site's name linking to its page.

    ``table`` is :func:`flags_by_site`'s (its rows in ``sites`` order, then Total). The old deep
    links ``review.html#site=ulm&severity=error`` forward to ``review/ulm.html#severity=error``."""
    cols = list(table.columns)
    head = "".join(f"<th>{_esc(c.replace('_', ' '))}</th>" for c in cols)
    rows = []
    for i, rec in enumerate(table.astype(str).itertuples(index=False)):
        site = sites[i] if i < len(sites) else None
        first = (f'<a href="{_esc(links[site])}" data-site="{_esc(site)}">{_esc(rec[0])}</a>'
                 if site is not None else _esc(rec[0]))
        cells = "".join(f'<td class="num">{_esc(v)}</td>' if v.isdigit() else f"<td>{_esc(v)}</td>"
                        for v in rec[1:])
        rows.append(f"<tr><th>{first}</th>{cells}</tr>")
    body = ("<p>Translation-check flags per site and kind (open and decided by the translation leads). "
            "Open a site for its local transcripts beside their English translations, aligned turn by "
            "turn, with flagged turns highlighted and a filter by severity.</p>\n"
            '<p id="in-report" hidden><strong>Inside the HTML report the links to the site pages do not work: '
            "open results/translation/review.html from the results folder.</strong></p>\n"
            f'<table class="counts"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>\n')
    return _page(title, body, _INDEX_JS)


def site_index_html(pairs: Sequence[ReviewPair], links: Mapping[str, str], site_name: str, title: str,
                    back: str) -> str:
    """A large site's page: one row per transcript pair (turns, open and resolved flags by severity),
    each linking to the pair's own page."""
    rows = []
    for p in pairs:
        c: Counter = Counter((f["severity"], f.get("status") or "open") for f in p.flags.to_dict("records"))
        cells = "".join(f"<td>{c[(v, 'open')]}</td><td>{c[(v, 'resolved')]}</td>" for v in SEVERITIES)
        rows.append(f'<tr><th><a href="{_esc(links[p.transcript])}">{_esc(p.transcript)}</a></th>'
                    f"<td>{_esc(p.lang)}</td><td>{len(p.flags)}</td>{cells}</tr>")
    sev_head = "".join(f'<th colspan="2">{v}</th>' for v in SEVERITIES)
    sub = "<th></th><th></th><th></th>" + "<th>open</th><th>resolved</th>" * len(SEVERITIES)
    body = (f'<p><a href="{_esc(back)}">All sites</a></p>\n'
            f"<p>{len(pairs)} transcript pairs at {_esc(site_name)}, one page each (a site with this many "
            "pairs would be too large to open as one page).</p>\n"
            f'<table class="counts"><thead><tr><th>transcript</th><th>language</th><th>flags</th>{sev_head}'
            f"</tr><tr>{sub}</tr></thead><tbody>{''.join(rows)}</tbody></table>\n")
    return _page(title, body)


# ---------------------------------------------------------------------------------------------
# The review page.

_SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans Hebrew","Noto Sans Devanagari","Lohit Devanagari","Nirmala UI",Mangal,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:start}
td.text{white-space:pre-wrap;width:38%}
td.num{white-space:nowrap;color:#555}
tr.flagged.sev-error{background:#fde2e1}tr.flagged.sev-warning{background:#fff4d6}tr.flagged.sev-info{background:#e5f0ff}
tr.flagged.resolved{background:#eef5ea}
ul.flags{margin:0;padding-inline-start:1.1em}
.badge{font-weight:600;font-size:.85em;text-transform:uppercase}
.badge.error{color:#a40000}.badge.warning{color:#8a5a00}.badge.info{color:#1f4e9c}.badge.resolved{color:#2e6b1f}
#filters{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd}
table.counts{width:auto}table.counts td{text-align:end}
"""

_JS = """
(function(){
  var site=document.getElementById('f-site'), sev=document.getElementById('f-severity');
  function apply(){
    var s=site.value, v=sev.value, shown=0;
    document.querySelectorAll('tr.turn').forEach(function(tr){
      var ok=(s==='all'||tr.dataset.site===s);
      if(v==='flagged'){ok=ok&&tr.classList.contains('flagged');}
      else if(v==='open'){ok=ok&&tr.dataset.status==='open';}
      else if(v!=='all'){ok=ok&&(' '+tr.dataset.severities+' ').indexOf(' '+v+' ')>=0;}
      tr.hidden=!ok; if(ok){shown++;}
    });
    document.querySelectorAll('section.pair').forEach(function(sec){
      var any=sec.querySelector('tr.turn:not([hidden])');
      sec.hidden=!(any||((s==='all'||sec.dataset.site===s)&&v==='all'));
    });
    document.getElementById('shown').textContent=String(shown);
    var h='site='+encodeURIComponent(s)+'&severity='+encodeURIComponent(v);
    if(location.hash.slice(1)!==h){try{history.replaceState(null,'','#'+h);}catch(e){}}
  }
  function fromHash(){
    var q=location.hash.replace(/^#/,'').split('&');
    q.forEach(function(kv){var p=kv.split('=');var k=decodeURIComponent(p[0]||''),val=decodeURIComponent(p[1]||'');
      var el=k==='site'?site:(k==='severity'?sev:null);
      if(el&&Array.prototype.some.call(el.options,function(o){return o.value===val;})){el.value=val;}});
  }
  site.addEventListener('change',apply);sev.addEventListener('change',apply);
  window.addEventListener('hashchange',function(){fromHash();apply();});
  fromHash();apply();
})();
"""


_esc = html_text   # every value on the pages: & < > " escaped (the leak gate reads a page once)


def _text_cell(text: str, lang: str) -> str:
    attrs = f' lang="{_esc(lang)}"' + (' dir="rtl"' if lang in RTL_LANGUAGES else ' dir="ltr"')
    return f'<td class="text"{attrs}>{_esc(text)}</td>'


def _place_flags(blocks: list[Block], local: pd.DataFrame, en: pd.DataFrame,
                 flags: pd.DataFrame) -> tuple[dict[int, list[dict]], list[dict]]:
    """Attach each flag to its alignment block: by local turn, or by English turn for English-only turns.

    Blocks are looked up by turn number (the first block in order wins), so placing is linear in the
    pair's turns and flags."""
    placed: dict[int, list[dict]] = {}
    unplaced = []
    lnum, enum_ = [int(t) for t in local["turn"]], [int(t) for t in en["turn"]]
    lturns = [{lnum[i] for i in b.local} for b in blocks]
    by_local: dict[int, int] = {}
    by_en: dict[int, list[int]] = {}
    for k, b in enumerate(blocks):
        for i in b.local:
            by_local.setdefault(lnum[i], k)
        for i in b.en:
            by_en.setdefault(enum_[i], []).append(k)
    for f in flags.to_dict("records"):
        t = int(f["turn"])
        te = int(f["turn_en"]) if str(f.get("turn_en", "")).strip() not in ("", "nan") else None
        if te is None:
            hit = by_local.get(t)
        else:
            hit = next((k for k in by_en.get(te, []) if t in lturns[k] or not blocks[k].local), None)
        if hit is None:
            unplaced.append(f)
        else:
            placed.setdefault(hit, []).append(f)
    return placed, unplaced


def _flag_items(fl: list[dict]) -> str:
    items = []
    for f in fl:
        status = f.get("status", "open") or "open"
        extra = ""
        if status == "resolved":
            extra = f' <span class="badge resolved">resolved: {_esc(f.get("decision", ""))}</span>'
            if f.get("note"):
                extra += f" — {_esc(f['note'])}"
        items.append(f'<li><span class="badge {_esc(f["severity"])}">{_esc(f["severity"])}</span> '
                     f'<code>{_esc(f["flag"])}</code>: {_esc(f["detail"])}{extra}</li>')
    return '<ul class="flags">' + "".join(items) + "</ul>"


def _pair_rows(p: ReviewPair, blocks: list[Block], placed: dict[int, list[dict]]) -> list[str]:
    out = []
    L, E = list(p.local.itertuples(index=False)), list(p.en.itertuples(index=False))  # no Series per row
    for k, b in enumerate(blocks):
        fl = placed.get(k, [])
        lrows = [L[i] for i in b.local]
        erows = [E[i] for i in b.en]
        sevs = sorted({f["severity"] for f in fl}, key=lambda s: _SEV_RANK.get(s, 9))
        open_ = [f for f in fl if (f.get("status") or "open") == "open"]
        classes = ["turn"]
        if fl:
            classes += ["flagged", f"sev-{sevs[0]}"]
            if not open_:
                classes.append("resolved")
        status = "open" if open_ else ("resolved" if fl else "")
        turn = " + ".join(str(int(r.turn)) for r in lrows) or "–"
        turn_en = " + ".join(str(int(r.turn)) for r in erows) or "–"
        spk_l = " + ".join(str(r.speaker) for r in lrows)
        spk_e = " + ".join(str(r.speaker) for r in erows)
        speaker = spk_l if spk_l == spk_e else f"{spk_l or '–'} / {spk_e or '–'}"
        ltext = "\n".join(str(r.text) for r in lrows)
        etext = "\n".join(str(r.text) for r in erows)
        out.append(
            f'<tr class="{" ".join(classes)}" data-site="{_esc(p.site)}" '
            f'data-severity="{_esc(sevs[0] if sevs else "none")}" data-severities="{_esc(" ".join(sevs))}" '
            f'data-status="{status}">'
            f'<td class="num">{_esc(turn)}</td><td class="num">{_esc(turn_en)}</td><td>{_esc(speaker)}</td>'
            f'{_text_cell(ltext, p.lang)}{_text_cell(etext, "en")}'
            f'<td>{_flag_items(fl) if fl else ""}</td></tr>')
    return out


def review_html(pairs: Sequence[ReviewPair], markers: dict, stats: dict[str, PairStats] | None = None,
                english: str = "en", site_order: Sequence[str] | None = None,
                site_names: dict[str, str] | None = None, title: str = "", back: str | None = None,
                back_label: str = "All sites") -> str:
    """One self-contained page (inline CSS/JS, no network): every pair side by side, flags highlighted.

    ``back``: the address of the page listing this one (the index, or a large site's page).

    Filters (site, severity) run in the page and follow the URL hash (``#site=ulm&severity=error``),
    so a link can point a site at its own errors. Deterministic: no timestamps.
    """
    stats = stats or {}
    site_names = site_names or {}
    order = list(site_order or [])
    rank = {s: i for i, s in enumerate(order)}
    pairs = sorted(pairs, key=lambda p: (rank.get(p.site, len(rank)), p.site, p.transcript, p.lang))
    sites = list(dict.fromkeys(p.site for p in pairs))
    en_map = MarkerMap(markers.get(english))
    counts: dict[str, Counter] = {s: Counter() for s in sites}
    sections = []
    for p in pairs:
        lp = f"{p.lang}-{english}"
        st = stats.get(lp)
        ratio = (p.align_ratio if p.align_ratio is not None else
                 st.median_ratio if st is not None and st.turns >= MIN_PAIR_TURNS else 1.0)
        blocks = align_turns(p.local, p.en, MarkerMap(markers.get(p.lang)), en_map, ratio)
        flags = p.flags if p.flags is not None else pd.DataFrame(columns=FLAG_COLUMNS)
        for f in flags.to_dict("records"):
            counts[p.site][(f["severity"], f.get("status") or "open")] += 1
        placed, unplaced = _place_flags(blocks, p.local, p.en, flags)
        rows = _pair_rows(p, blocks, placed)
        if unplaced:
            rows.append(f'<tr class="turn flagged sev-error" data-site="{_esc(p.site)}" data-severity="error" '
                        f'data-severities="error" data-status="open"><td colspan="5">flags not placed on a turn '
                        f'pair</td><td>{_flag_items(unplaced)}</td></tr>')
        name = site_names.get(p.site, p.site)
        ratio_txt = (f" · {lp} median length ratio {st.median_ratio:.2f} over {st.turns} turns"
                     if st is not None else "")
        sections.append(
            f'<section class="pair" data-site="{_esc(p.site)}" id="{_esc(p.site)}-{_esc(p.transcript)}">'
            f'<h2>{_esc(name)} · {_esc(p.transcript)} · {_esc(lp)}</h2>'
            f'<p>{len(flags)} flag(s); {len(p.local)} {_esc(p.lang)} turns, {len(p.en)} English turns'
            f'{_esc(ratio_txt)}</p>'
            f'<table><thead><tr><th>{_esc(p.lang)} turn</th><th>en turn</th><th>speaker</th>'
            f'<th>{_esc(p.lang)}</th><th>English</th><th>flags</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')
    head_rows = []
    total = Counter()
    for s in sites:
        c = counts[s]
        total.update(c)
        cells = "".join(f"<td>{c[(sev, 'open')]}</td><td>{c[(sev, 'resolved')]}</td>" for sev in SEVERITIES)
        head_rows.append(f"<tr><th>{_esc(site_names.get(s, s))}</th>{cells}</tr>")
    cells = "".join(f"<td>{total[(sev, 'open')]}</td><td>{total[(sev, 'resolved')]}</td>" for sev in SEVERITIES)
    head_rows.append(f"<tr><th>Total</th>{cells}</tr>")
    sev_head = "".join(f'<th colspan="2">{s}</th>' for s in SEVERITIES)
    sub_head = "<th></th>" + "<th>open</th><th>resolved</th>" * len(SEVERITIES)
    site_opts = '<option value="all">all sites</option>' + "".join(
        f'<option value="{_esc(s)}">{_esc(site_names.get(s, s))}</option>' for s in sites)
    sev_opts = "".join(f'<option value="{v}">{label}</option>' for v, label in (
        ("all", "all turns"), ("flagged", "flagged turns"), ("open", "open flags"), ("error", "error"),
        ("warning", "warning"), ("info", "info")))
    title = title or "Translation check"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{_esc(title)}</h1>\n"
        + (f'<p><a href="{_esc(back)}">{_esc(back_label)}</a></p>\n' if back else "")
        + "<p>Each local transcript beside its English translation, aligned turn by turn. Highlighted rows "
        "carry flags (red error, yellow warning, blue info, green resolved by the translation leads; "
        "decisions come from data/translation_resolutions.tsv).</p>\n"
        f'<table class="counts"><thead><tr><th>site</th>{sev_head}</tr><tr>{sub_head}</tr></thead>'
        f"<tbody>{''.join(head_rows)}</tbody></table>\n"
        f'<div id="filters"><label>Site <select id="f-site">{site_opts}</select></label> '
        f'<label>Show <select id="f-severity">{sev_opts}</select></label> '
        '<span><span id="shown"></span> rows shown</span></div>\n'
        + "\n".join(sections)
        + f"\n<script>{_JS}</script>\n</body></html>\n")
