"""The gate judges data, not the pipeline's own words, and honours reviewed decisions only where
they may hold (issue 11, items 4 and 6)."""
from __future__ import annotations

import pytest

from conftest import write
from qualflow.errors import InputError
from qualflow.leak_context import blank_markup, read_decisions
from qualflow.leaks import Scope, decision_summary, gate_entries, run_gate, scan
from qualflow.affixes import language_rules
from qualflow.study import Person

# Participants named like words of the pipeline's own fixed text.
FIXED_NAMES = [Person("k", "1", "Sage Hollowmere", ("Sage",), "psw", "female", "", ("FG1",), False, 2),
               Person("k", "2", "Meta Quorndale", ("Meta",), "psw", "female", "", ("FG1",), False, 3),
               Person("k", "3", "Hayes Brimble", ("Hayes",), "mh_worker", "male", "", ("FG1",), False, 4),
               Person("k", "4", "Krippendorff Ulvane", ("Krippendorff",), "psw", "male", "", ("FG1",), False, 5)]
SCOPE = Scope({"k": ("lg", "en"), "d": ("sw", "en"), "m": ("es", "en")}, language_rules({"es": {}}))


def test_markup_names_are_blanked_values_and_text_kept():
    html = '<meta charset="utf-8"><td class="Sage" data-x=1>Meta said</td>'
    out = blank_markup(html)
    assert len(out) == len(html)
    assert "meta" not in out.lower().split("said")[0].replace('"', " ").split() and "charset" not in out
    assert 'Sage' in out and "Meta said" in out


def test_fixed_text_does_not_stop_the_run_but_data_text_with_the_same_name_does(tmp_path):
    """The agreement summary's citations and every HTML page's <meta> name participants called Sage,
    Hayes, Krippendorff and Meta; the same names inside data-derived text are still hits."""
    summary = write(tmp_path / "results/agreement/summary.md",
                    "Bootstrap (units); in the spirit of Hayes and Krippendorff (2007), whose KALPHA macro resamples "
                    "units.\n\n### References\n\n"
                    "- Hayes, A. F., & Krippendorff, K. (2007). Answering the call for a standard "
                    "reliability measure for coding data. *Communication Methods and Measures, 1*(1), "
                    "77-89. https://doi.org/10.1080/19312450709336664\n"
                    "- Krippendorff, K. (2004). *Content analysis: An introduction to its methodology* "
                    "(2nd ed.). Sage.\n")
    page = write(tmp_path / "results/tables/table2.html",
                 '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n<title>Table 2</title>')
    entries = gate_entries(FIXED_NAMES, [])
    clean = scan([summary, page], entries, scope=SCOPE)
    assert clean.hits.empty and clean.fixed >= 4
    quotes = write(tmp_path / "results/themes/quotes.md",
                   '- "Sage told us the group helped." [#9, Kampala, PSW]\n'
                   '- "I asked Hayes and Meta about Krippendorff." [#3, Kampala, PSW]\n')
    page2 = write(tmp_path / "results/translation/review.html",
                  '<html><head><meta charset="utf-8"></head><body><td>Meta: the ward is full</td></body></html>')
    hits = scan([summary, page, quotes, page2], entries, scope=SCOPE).hits
    assert sorted(set(zip(hits["file"].str.rsplit("/", n=1).str[-1], hits["key"]))) == [
        ("quotes.md", "roster:k:1"), ("quotes.md", "roster:k:2"), ("quotes.md", "roster:k:3"),
        ("quotes.md", "roster:k:4"), ("review.html", "roster:k:2")]


ANA = [Person("m", "F1", "Ana Velorquez", ("Ana V.", "Ana"), "facilitator", "female", "", ("FG1",), False, 7)]
SW = "---\nlanguage: sw\n---\nP03: Yeye ana wazo zuri, na ana muda.\n"


def _files(tmp_path):
    own = write(tmp_path / "results/pseudonymised/m/FG1.es.txt", "F01: Hola. Ana dijo que sí.\n")
    other = write(tmp_path / "results/pseudonymised/d/FG1.sw.txt", SW)
    other_en = write(tmp_path / "results/pseudonymised/d/FG1.en.txt", "P03: Ana has a good idea.\n")
    review = write(tmp_path / "results/translation/review.html",
                   "<table><tr><td>P03: Yeye ana wazo zuri, na ana muda.</td></tr></table>")
    quotes = write(tmp_path / "results/themes/quotes.md", "- \"We met Ana at the clinic\" [#3, Dar es Salaam]\n")
    return own, other, other_en, review, quotes


def _decisions(tmp_path, rows: str):
    return write(tmp_path / "data/restricted/gate_decisions.tsv", "key\tsite\tlanguage\tdecision\treason\n" + rows)


def test_hits_are_classified_by_where_they_are(tmp_path):
    hits = scan(list(_files(tmp_path)), gate_entries(ANA, []), scope=SCOPE).hits
    where = dict(zip(hits["file"].str.split("results/").str[1], hits["where"]))
    assert where == {"pseudonymised/m/FG1.es.txt": "own_site", "pseudonymised/d/FG1.sw.txt": "other_site",
                     "pseudonymised/d/FG1.en.txt": "other_site", "translation/review.html": "study",
                     "themes/quotes.md": "study"}


def test_a_decision_waives_cross_site_hits_in_its_scope_only_and_never_own_site(tmp_path):
    own, other, other_en, review, quotes = _files(tmp_path)
    entries = gate_entries(ANA, [])
    keys = {e.key for e in entries}
    path = _decisions(tmp_path, "roster:m:F1\td\tsw\tnot_a_name\tKiswahili 'has'\n")
    decisions = read_decisions(path, SCOPE.site_languages, keys)
    r = scan([own, other, other_en, review, quotes], entries, scope=SCOPE, decisions=decisions)
    left = set(r.hits["file"].str.split("results/").str[1])
    # Waived: the Kiswahili text and the review page's copy of it. Kept: the name's own site, the
    # English file (another language than the decision's) and a study-wide quote of other text.
    assert left == {"pseudonymised/m/FG1.es.txt", "pseudonymised/d/FG1.en.txt", "themes/quotes.md"}
    assert set(r.waived["file"].str.split("results/").str[1]) == {"pseudonymised/d/FG1.sw.txt",
                                                                  "translation/review.html"}
    summary = decision_summary(decisions, r.waived)
    assert summary.to_dict("records") == [{"key": "roster:m:F1", "site": "d", "language": "sw",
                                           "decision": "not_a_name", "waived": int(len(r.waived)), "files": 2}]


def test_decisions_file_errors_name_the_line(tmp_path):
    keys = {e.key for e in gate_entries(ANA, [])}
    path = _decisions(tmp_path, "roster:m:F1\tm\tes\tnot_a_name\tsame site\n"
                                "roster:m:F9\td\tsw\tnot_a_name\tno such key\n"
                                "roster:m:F1\td\tde\tnot_a_name\twrong language\n")
    with pytest.raises(InputError) as exc:
        read_decisions(path, SCOPE.site_languages, keys)
    lines = [str(p) for p in exc.value.problems]
    assert len(lines) == 3
    assert any(l.startswith(f"{path}:2: roster:m:F1 is a term of m itself: a hit in the name's own site cannot be "
                            "waived") for l in lines)
    assert any(l.startswith(f"{path}:3: key 'roster:m:F9' is no roster or identifiers term") for l in lines)
    assert any(l.startswith(f"{path}:4: language 'de' is not a language of d") for l in lines)
    bad = _decisions(tmp_path, "roster:m:F1\td\tsw\tmaybe\tbad decision\n")
    with pytest.raises(InputError) as exc:
        read_decisions(bad, SCOPE.site_languages, keys)
    assert str(exc.value.problems[0]).startswith(f"{bad}:2: column decision")


def test_gate_message_says_how_to_resolve_a_cross_site_hit(mini_study, tmp_path):
    f = write(mini_study / "results/pseudonymised/beta/FG1.lg.txt", "P01: Nkola ne Anna buli lunaku.\n")
    with pytest.raises(InputError) as exc:
        run_gate(mini_study / "config/sites.tsv", mini_study / "data/restricted/roster.tsv",
                 mini_study / "data/restricted/identifiers.tsv", [str(f)], tmp_path / "l.tsv", tmp_path / "n.tsv")
    (p,) = exc.value.problems
    assert str(p) == (f"{f}:1: contains a name from the roster or identifiers list (roster:alpha:1, participant; "
                      "1 place(s) in this file), in another site's text (beta, lg): add the written form as an alias "
                      "so pseudonymisation replaces it; or, if there it is an ordinary word and not the person, record "
                      "a reviewed decision in data/restricted/gate_decisions.tsv (key roster:alpha:1, site beta, "
                      "language lg, decision not_a_name, reason), then re-run")
    _decisions(mini_study, "roster:alpha:1\tbeta\tlg\tnot_a_name\treviewed: a Luganda word here\n")
    run_gate(mini_study / "config/sites.tsv", mini_study / "data/restricted/roster.tsv",
             mini_study / "data/restricted/identifiers.tsv", [str(f)], tmp_path / "l.tsv", tmp_path / "n.tsv",
             decisions_path=mini_study / "data/restricted/gate_decisions.tsv", out_decisions=tmp_path / "d.tsv")
    assert (tmp_path / "d.tsv").read_text() == "key\tsite\tlanguage\tdecision\twaived\tfiles\nroster:alpha:1\tbeta\tlg\tnot_a_name\t1\t1\n"


def test_the_demo_outputs_own_words_do_not_stop_a_run_for_participants_named_like_them(demo, tmp_path):
    """The real run's outputs (citations in the agreement summary, <meta> in every HTML page, fixed
    headings) with participants called Sage, Meta, Hayes and Krippendorff: no hit. The same names
    planted in a data-derived output are hits."""
    files = sorted(p for p in (demo / "results").rglob("*") if p.is_file())
    entries = gate_entries(FIXED_NAMES, [])
    scope = Scope({"k": ("lg", "en")}, language_rules(None))
    r = scan(files, entries, scope=scope)
    assert r.hits.empty and r.fixed > 0
    planted = write(tmp_path / "results/themes/quotes/index.md",
                    (demo / "results/themes/quotes/index.md").read_text(encoding="utf-8")
                    + '\n- "Sage and Meta said Hayes asked Krippendorff." [#1, Kampala, PSW]\n')
    hits = scan(files + [planted], entries, scope=scope).hits
    assert set(hits["key"]) == {"roster:k:1", "roster:k:2", "roster:k:3", "roster:k:4"}
    assert set(hits["file"]) == {str(planted)}


def test_manifest_records_each_reviewed_decision(tmp_path):
    from qualflow.manifest import build_manifest
    d = write(tmp_path / "results/leak_decisions.tsv", "key\tsite\tlanguage\tdecision\twaived\tfiles\n"
                                                       "roster:m:F1\td\tsw\tnot_a_name\t14\t5\n")
    m = build_manifest([], [str(d)], {"study": "x"}, str(d))
    rows = m[m["section"] == "decision"].to_dict("records")
    assert rows == [{"section": "decision", "name": "roster:m:F1 d/sw", "sha256": "", "bytes": "14",
                     "version": "not_a_name"}]
