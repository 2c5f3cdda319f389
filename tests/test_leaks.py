"""The leak gate: a planted name anywhere under results/ fails it, by key id, never by name."""
from __future__ import annotations

import html
import re
import struct
import unittest.mock as mock
import zipfile
import zlib
from pathlib import Path

import pytest

from conftest import write
from qualflow.errors import InputError
from qualflow.leaks import gate_entries, results_files, run_gate, scan
from qualflow.study import Identifier, Person

PEOPLE = [Person("k", "9", "Denis Okello Acanit", ("Denis O.", "Okello"), "psw", "male", "", ("FG2",), False, 10),
          Person("d", "2", "Neema Kisangaji", ("Neema K.", "Neema"), "mh_worker", "female", "", ("FG1",), True, 11)]
IDS = [Identifier("k", "Kisoboka Hill Hospital", ("Kisoboka",), "hospital", True, 12)]
ENTRIES = gate_entries(PEOPLE, IDS)


def png_with_text(key: str, value: str) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"tEXt", key.encode() + b"\0" + value.encode()) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name, content, expect_line", [
    ("a.tsv", "turn\ttext\n1\tP09 said so\n2\tthen OKELLO laughed\n", 3),
    ("b.md", "quote from Denis\n  O. here\n", 1),
    ("c.html", "<p>&#1502;ok &#68;enis O.</p>", 2),      # entity-encoded: found after unescaping
    ("d.svg", "<svg><text>Kisoboka ward</text></svg>", 1),
    ("e.ipynb", '{"cells": [{"source": ["print(\\"Okello\\")"]}]}', 1),
])
def test_exact_hits_in_text_formats(tmp_path, name, content, expect_line):
    f = write(tmp_path / name, content)
    hits = scan([f], ENTRIES).hits
    assert len(hits) >= 1
    assert hits.iloc[0]["key"] in {"roster:k:9", "identifiers:k:12"}
    assert int(hits.iloc[0]["line"]) == expect_line


def test_hits_inside_qdpx_and_png(tmp_path):
    q = tmp_path / "packet.qdpx"
    with zipfile.ZipFile(q, "w") as z:
        z.writestr("project.qde", "<Project><Users><User name='x'/></Users></Project>")
        z.writestr("Sources/a.txt", "P01: met Okello yesterday")
    p = tmp_path / "fig.png"
    p.write_bytes(png_with_text("Title", "Interview with Denis O."))
    hits = scan([q, p], ENTRIES).hits
    assert sorted(hits["file"]) == [f"{p}", f"{q}!Sources/a.txt"]



def test_base64_payloads_of_a_page_are_scanned_decoded_not_as_letters(tmp_path):
    """Snakemake's report.html carries its files as base64 ``data:`` URLs: a name inside one is found
    in the decoded file (a page, a zip's member, a PNG's text), and the base64 letters themselves are
    not text (a random ``+Okellox`` in them is no partial hit)."""
    import base64
    page = base64.b64encode("<p>asked Okello again</p>".encode()).decode()
    buf = tmp_path / "z.zip"
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("table.tsv", "turn\ttext\n1\tNeema K. agreed\n")
    packed = base64.b64encode(buf.read_bytes()).decode()
    image = base64.b64encode(png_with_text("Title", "Kisoboka ward")).decode()
    noise = "QUJD+Okellox/9" * 3   # base64-looking letters holding a name's start
    f = write(tmp_path / "report.html",
              f'<a href="data:text/html;charset=utf8;base64,{page}">a</a>\n'
              f'<a href="data:application/zip;base64,{packed}">b</a>\n'
              f'<img src="data:image/png;base64,{image}">\n<a href="data:text/plain;base64,{noise}">c</a>\n')
    hits = scan([f], ENTRIES).hits
    assert set(zip(hits["file"], hits["key"])) == {
        (f"{f}!data1", "roster:k:9"), (f"{f}!data2!table.tsv", "roster:d:2"), (f"{f}!data3", "identifiers:k:12")}

def test_case_sensitive_entries_respected(tmp_path):
    f = write(tmp_path / "sw.txt", "tunahitaji neema na kisoboka\n")
    assert scan([f], ENTRIES).hits.empty
    g = write(tmp_path / "sw2.txt", "Neema alisema\n")
    assert list(scan([g], ENTRIES).hits["key"]) == ["roster:d:2"]


def test_near_miss_is_a_warning_not_a_hit(tmp_path):
    f = write(tmp_path / "x.txt", "Okelloh came\n")
    r = scan([f], ENTRIES)
    assert r.hits.empty
    assert list(r.near["key"]) == ["roster:k:9"]


def test_gate_fails_naming_file_line_and_key_but_never_the_name(mini_study, tmp_path):
    results = mini_study / "results"
    write(results / "themes/quotes.md", "- \"fine\" [#1, Alphaville, PSW]\n")
    bad = write(results / "tables/table2.md", "| Alphaville | 1 |\nnote: Bernd Berg helped\n")
    files = [str(p) for p in results_files(results)]
    with pytest.raises(InputError) as exc:
        run_gate(mini_study / "config/sites.tsv", mini_study / "data/restricted/roster.tsv",
                 mini_study / "data/restricted/identifiers.tsv", files, tmp_path / "leak.tsv", tmp_path / "near.tsv")
    (problem,) = exc.value.problems
    assert str(problem).startswith(f"{bad}:2: contains a name from the roster or identifiers list (roster:alpha:2,")
    assert "Bernd" not in str(problem) and "Berg" not in str(problem)
    assert not (tmp_path / "leak.tsv").exists()


def test_gate_passes_and_writes_empty_table_when_clean(mini_study, tmp_path):
    f = write(mini_study / "results/x.tsv", "speaker\ttext\nP01\tI work at [HOSPITAL_01].\n")
    run_gate(mini_study / "config/sites.tsv", mini_study / "data/restricted/roster.tsv",
             mini_study / "data/restricted/identifiers.tsv", [str(f)], tmp_path / "leak.tsv", tmp_path / "near.tsv")
    assert (tmp_path / "leak.tsv").read_text() == "file\tline\tkey\tcategory\n"


def test_cli_writes_its_near_misses_to_restricted_and_names_only_the_file(mini_study, capsys, monkeypatch):
    """`python -m qualflow.leaks` (run by `make run` on the report) keeps its near misses, where
    docs/outputs.md says, instead of only counting them; the console never shows the spelling."""
    from qualflow.leaks import main
    write(mini_study / "results/report.html", "<p>Okelloh came</p>\n")   # a near miss only
    import yaml
    cfg = yaml.safe_load((mini_study / "config/mini.yaml").read_text())
    write(mini_study / "config/config.yaml", yaml.safe_dump({**cfg, "restricted_out": "restricted"}))
    monkeypatch.chdir(mini_study)
    assert main(["results"]) == 0
    err = capsys.readouterr().err
    near = mini_study / "restricted/leak_near_misses_scan.tsv"
    rows = near.read_text(encoding="utf-8").splitlines()
    assert rows[0].split("\t")[:2] == ["file", "line"] and len(rows) == 2 and "roster:beta:2" in rows[1]
    assert "near misses (spellings close to a name; check them) in restricted/leak_near_misses_scan.tsv" in err
    assert "Okelloh" not in err


# Issue 14: the gate in windows (bounded memory) and in parts (one per site and per study-wide rule),
# merged by leak_check into exactly what one scan of every file gives.

def test_a_page_is_read_decoded_too_only_where_a_reference_could_hide_a_name(tmp_path):
    """The pipeline's pages escape only & < > " (tables.html_text): those references can neither make
    nor break a name, so such a page is scanned once (issue 14: the decoded copy was a quarter of the
    gate's work); any other reference, or a listed form holding a markup character, and it is read
    decoded too. Either way the same names and near misses are found."""
    from qualflow import leaks
    from qualflow.tables import html_text
    text = 'Okello said "yes" & <no>, he\'s at Kisoboka; Neema\'s ward, Kisobokka\'s road'
    plain = write(tmp_path / "plain.html", f"<p title=\"{html_text(text)}\">{html_text(text)}</p>\n")
    assert "&#x27;" not in plain.read_text() and len(next(leaks.file_texts(plain))[1]) == 1
    once = scan([plain], ENTRIES)
    with mock.patch.object(leaks, "_with_decoded", lambda t, inert=leaks.INERT: [t, html.unescape(t)]):
        both = scan([plain], ENTRIES)   # as every page was read before
    assert sorted(set(once.hits["key"])) == sorted(set(both.hits["key"])) == ["identifiers:k:12", "roster:d:2",
                                                                               "roster:k:9"]
    assert len(once.near) and once.near[["token", "line"]].equals(both.near[["token", "line"]])
    # a name behind a letter's reference is only in the decoded copy
    for hidden in ["&#68;enis O.", "&#x44;enis O.", "D&#101;nis O.", "Den&#x69;s O."]:
        page = write(tmp_path / "hidden.html", f"<p>{hidden} was there</p>")
        assert len(next(leaks.file_texts(page))[1]) == 2
        assert scan([page], ENTRIES).hits["key"].tolist() == ["roster:k:9"]
    # an identifier written with a markup character: every page is read decoded
    amp = gate_entries([], [Identifier("k", "Hill & Sons", (), "hospital", False, 13)])
    page = write(tmp_path / "amp.html", f"<p>{html_text('at Hill & Sons today')}</p>")
    assert scan([page], amp).hits["key"].tolist() == ["identifiers:k:13"]


def test_joined_segments_read_like_the_joined_string():
    """A markup file and its unescaped copy are scanned as one text without building it."""
    from qualflow.leaks import _Joined
    segs = ["ab\ncd", "", "ef\n", "g"]
    whole = "\n".join(segs)
    j = _Joined(segs)
    assert j.length == len(whole)
    for a in range(len(whole) + 1):
        for b in range(a, len(whole) + 1):
            assert j.slice(a, b) == whole[a:b] and j.newlines(a, b) == whole.count("\n", a, b), (a, b)


def test_scanning_in_windows_finds_what_one_pass_finds(tmp_path, monkeypatch):
    """The matcher sees a large text a window at a time: same hits, lines, contexts and near misses,
    and a name written across a window edge is found once, at its line."""
    import random

    from qualflow import leaks
    rng = random.Random(7)
    words = ["the", "ward", "said", "Denis", "Okello", "Acanit", "Kisoboka", "Hill", "Hospital", "Neema",
             "neema", "O.", "K.", "peer", "Okellos", "Okelloh", "&#68;enis", "<b>", "</b>", "\n"]
    text = " ".join(rng.choice(words) for _ in range(20000))
    files = [write(tmp_path / "big.md", text), write(tmp_path / "big.html", text)]
    whole = leaks.scan_files(files, ENTRIES)
    monkeypatch.setattr(leaks, "WINDOW", 997)
    monkeypatch.setattr(leaks, "OVERLAP", 64)
    monkeypatch.setattr(leaks, "MARGIN", 160)
    joined = leaks._Joined(next(leaks.file_texts(files[1]))[1])
    assert len(joined.windows(leaks.WINDOW)) > 100
    windowed = leaks.scan_files(files, ENTRIES)
    assert len(whole.hits) > 1000 and len(whole.near) > 0
    for a, b in ((whole.hits, windowed.hits), (whole.near, windowed.near), (whole.files, windowed.files)):
        assert a.to_dict("records") == b.to_dict("records")
    # A two-word name cut by a window edge: "Denis" ends one window, "O." starts the next.
    edge = write(tmp_path / "edge.txt", "x" * 900 + " Denis\nO. " + "y" * 300 + "\n")
    assert [(h["line"], h["key"]) for h in leaks.scan_files([edge], ENTRIES).hits.to_dict("records")] == [
        (1, "roster:k:9")]
    assert leaks._Joined([edge.read_text()]).windows(leaks.WINDOW)[0][1] == 907   # cut just after "Denis\n"


def test_merged_parts_equal_one_scan_of_every_file_decisions_included(tmp_path):
    """Hits, near misses and reviewed decisions over parts (as the scan jobs write and leak_check reads
    them) give exactly one scan's tables: a study-wide copy of a waived place is waived even when
    the waived text was scanned by another part."""
    from qualflow.affixes import language_rules
    from qualflow.leak_context import read_decisions
    from qualflow.leaks import Scope, combine, read_part, scan_files
    from qualflow.tables import write_tsv
    scope = Scope({"k": ("lg", "en"), "d": ("sw", "en")}, language_rules(None))
    people = PEOPLE + [Person("k", "F1", "Ana Velorquez", ("Ana V.", "Ana"), "facilitator", "female", "", ("FG1",),
                              False, 13)]
    entries = gate_entries(people, IDS)
    files = [write(tmp_path / "results/pseudonymised/d/FG1.sw.txt", "P03: Yeye ana wazo zuri.\nOkelo\n"),
             write(tmp_path / "results/pseudonymised/k/FG1.en.txt", "Kisobokaa and Okelo\nNeema K. here\n"),
             write(tmp_path / "results/themes/quotes.md", "- Okelo: \"Yeye ana wazo zuri.\" [#3]\n"),
             write(tmp_path / "results/translation/review.html", "<td>Kisobokaa &#68;enis O. yeye ana wazo</td>\n")]
    decisions = read_decisions(write(tmp_path / "gate_decisions.tsv", "key\tsite\tlanguage\tdecision\treason\n"
                                     "roster:k:F1\td\tsw\tnot_a_name\tKiswahili 'has'\n"),
                               scope.site_languages, {e.key for e in entries})
    whole = combine([scan_files(files, entries, scope=scope)], decisions)
    parts = []
    for i, group in enumerate([[files[2]], [files[0], files[3]], [files[1]]]):
        p = scan_files(group, entries, scope=scope)
        out = [tmp_path / f"part{i}/{n}.tsv" for n in ("hits", "near_misses", "files")]
        for df, path in zip((p.hits, p.near, p.files), out):
            write_tsv(df, path)
        parts.append(read_part(*out))
    merged = combine(parts, decisions)
    assert len(whole.hits) >= 4 and len(whole.waived) == 2 and len(whole.near) >= 2
    assert set(whole.waived["file"].str.rsplit("/", n=1).str[1]) == {"FG1.sw.txt", "quotes.md"}
    for a, b in ((whole.hits, merged.hits), (whole.waived, merged.waived), (whole.near, merged.near)):
        assert a.astype(str).to_dict("records") == b.astype(str).to_dict("records")
    assert (whole.files, whole.fixed) == (merged.files, merged.fixed) == (4, 0)


def _single_scan(project: Path, files: list[str]):
    """One scan of ``files`` (relative to ``project``) with the study's names, scope and decisions."""
    import os

    import yaml

    from qualflow.leaks import gate
    here = os.getcwd()
    os.chdir(project)
    try:
        config = yaml.safe_load(Path("config/config.yaml").read_text(encoding="utf-8"))
        result, scope, _ = gate(config["sites"], config["roster"], config["identifiers"], [Path(f) for f in files],
                                config.get("affixes"), config.get("english", "en"), config.get("gate_decisions"))
    finally:
        os.chdir(here)
    return result, scope


def _gated(project: Path) -> list[str]:
    return sorted(str(p.relative_to(project)) for p in (project / "results").rglob("*") if p.is_file()
                  and p.name not in {"leak_check.tsv", "leak_decisions.tsv", "manifest.tsv"})


def test_the_workflows_gate_in_parts_equals_one_scan_of_every_output(demo):
    """leak_scan_<site> and leak_scan_<rule> jobs merged by leak_check: the near misses and (empty)
    hits one scan of results/ gives; every output scanned by exactly one part."""
    from qualflow.tables import read_results_tsv
    files = _gated(demo)
    whole, _ = _single_scan(demo, files)
    assert (demo / "results/leak_check.tsv").read_text() == "file\tline\tkey\tcategory\n" and whole.hits.empty
    near = read_results_tsv(demo / "restricted/leak_near_misses.tsv")
    assert len(near) > 0
    assert near.to_dict("records") == whole.near.astype(str).to_dict("records")
    leak = demo / "restricted/leak"
    scanned = [f for p in sorted(leak.glob("*/*/files.tsv")) for f in read_results_tsv(p)["file"]]
    assert sorted(scanned) == files
    assert {p.parent.name for p in leak.glob("sites/*/files.tsv")} == {"ulm", "hamburg", "kampala",
                                                                        "dar_es_salaam", "beer_sheva"}
    assert {"codes", "themes", "report_pages"} <= {p.parent.name for p in leak.glob("rules/*/files.tsv")}


def test_a_planted_leak_rescans_only_its_parts_and_fails_as_one_scan_does(demo, tmp_path):
    """A name planted in a per-site output and in a study-wide one (files no other rule reads): only
    those two parts re-scan (dry run), and the run fails with exactly the lines one scan gives."""
    import re
    import shutil

    from conftest import snakemake
    from qualflow.leaks import leak_problems
    project = tmp_path / "planted"
    shutil.copytree(demo, project, symlinks=True)
    with open(project / "results/pseudonymised/ulm/FG1.de.txt", "a", encoding="utf-8") as fh:
        fh.write("P01: Ich habe Markus T. gefragt.\n")
    with open(project / "results/codes/summary.md", "a", encoding="utf-8") as fh:
        fh.write("\nThanks to Sabine Kieselbach.\n")
    out = snakemake(project, "--profile", "profiles/default", "-n", "--quiet", "rules").stdout
    jobs = set(re.findall(r"^(\S+)\s+\d+$", out, flags=re.M)) - {"total"}
    assert jobs == {"leak_scan_ulm", "leak_scan_codes", "leak_check", "all"}
    whole, scope = _single_scan(project, _gated(project))
    expected = [str(p) for p in leak_problems(whole.hits, scope)]
    assert [e.split(": contains")[0].rsplit(":", 1)[0] for e in expected] == [
        "results/codes/summary.md", "results/pseudonymised/ulm/FG1.de.txt"]
    proc = snakemake(project, "--profile", "profiles/default", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    reported = [line for line in proc.stderr.splitlines() if ": contains a " in line]
    assert sorted(set(reported)) == sorted(expected)
    assert "Markus" not in proc.stderr and "Kieselbach" not in proc.stderr
    assert not (project / "results/leak_check.tsv").exists()


def test_near_miss_tokens_word_by_word_equal_one_search_of_the_text():
    """_tokens searches each distinct whitespace-separated word once (and skips words an earlier file
    had): its tokens must be exactly those of one regex search over the whole text, in every script."""
    import random

    from qualflow.leaks import _TOKEN, _tokens

    rng = random.Random(7)
    pieces = ["Sabine", "Sabinne's", "Kiwanuka-Nalongo", "משה", "שלום-עליכם", "सुनीता", "पुणे", "Müller",
              "naïve", "O’Brien", "x", "12345", "<b>", "Name:", "—", "e\u0301cole", "\u05e9\u05c1\u05dc\u05d5\u05dd",
              "alpha\u200dbeta", "soft\u00adhyphen", "long" * 10, "'quoted'", "-dash-"]
    spaces = [" ", "\n", "\t", "\u00a0", "\u2009", "\u3000", "\r\n", "", ",", "."]
    texts = ["".join(rng.choice(pieces) + rng.choice(spaces) for _ in range(400)) for _ in range(5)]
    seen: set[str] = set()
    everything: set[str] = set()
    for text in texts:
        assert _tokens(text) == set(_TOKEN.findall(text))
        everything |= _tokens(text, seen)   # words of earlier texts skipped: their tokens are known
    assert everything == set().union(*(set(_TOKEN.findall(t)) for t in texts))
    # A text without line ends (a spreadsheet's XML) is still cut into pieces, at white space only.
    from qualflow.leaks import _word_chunks

    flat = texts[0].replace("\n", " ").replace("\r", " ")
    pieces = list(_word_chunks(flat, 50))
    assert len(pieces) > 10 and "".join(pieces) == flat and all(p[-1].isspace() for p in pieces[:-1])
    assert set().union(*(set(_TOKEN.findall(p)) for p in pieces)) == set(_TOKEN.findall(flat))


def test_ordinary_words_are_wordfreqs_own_answer_read_from_the_top_of_its_lists():
    """wordlists reads only the frequent part of wordfreq's lists (the leak gate's 'ordinary word'
    test), and must answer exactly as wordfreq.zipf_frequency(...) >= 3 does, for single words, words
    wordfreq splits into several tokens, digits, and words at the threshold."""
    import random
    import unicodedata

    import wordfreq
    from qualflow import wordlists

    random.seed(7)
    for lang in ("en", "de", "he"):
        pack = wordfreq.get_frequency_list(lang)
        full = wordfreq.get_frequency_dict(lang)
        top = wordlists._ordinary_freqs(lang)
        assert top == {w: f for w, f in full.items() if f >= wordfreq.cB_to_freq(-600)}
        words = [w for b in pack[595:606] for w in b][:600] + [w for b in pack[:40] for w in b][:100]
        words += [w for b in pack[606:700] for w in b][:200]
        words += [f"{a}-{b}" for a, b in zip(random.sample(words, 100), random.sample(words, 100))]
        words += [f"{a}1" for a in random.sample(words, 50)] + ["1999", "2nd", "", "x", "ＡＢＣ", "don't", "משהו"]
        for w in words:
            assert wordlists._is_ordinary_in(w, lang) == (
                wordfreq.zipf_frequency(unicodedata.normalize("NFC", w), lang) >= wordlists.ORDINARY_ZIPF), (lang, w)
    # Japanese and Korean need MeCab, Chinese jieba (optional packages): listed only when installed,
    # or the first near-name in such a study would stop the gate with an ImportError
    import importlib.util
    assert ("ja" in wordlists.available()) == (importlib.util.find_spec("MeCab") is not None)
    assert ("zh" in wordlists.available()) == (importlib.util.find_spec("jieba") is not None)


def test_a_name_put_by_hand_into_a_settled_output_is_still_caught(demo, tmp_path):
    """The checkpoints' readers read settled copies (docs/DESIGN.md, "What re-runs"), but the gate's
    parts always scan the results/ files themselves: a name pasted into one after the run re-runs that
    part and fails the gate, one line, no traceback, no manifest."""
    import shutil

    from conftest import snakemake
    project = tmp_path / "tampered"
    shutil.copytree(demo, project, symlinks=True)
    f = project / "results/codes/codings.tsv"
    n = len(f.read_text(encoding="utf-8").splitlines())
    with f.open("a", encoding="utf-8") as fh:
        fh.write("ulm\tulm.FG1\t9\tcoder_a\tmutual\tcommunity_staff_attitudes\tdeductive\tSabine Kieselbach\t0\t1\ttsv\t\n")
    proc = snakemake(project, "--profile", "profiles/default", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    hits = [l for l in proc.stderr.splitlines() if l.startswith(f"results/codes/codings.tsv:{n + 1}: ")]
    assert hits and "Kieselbach" not in "".join(hits)          # the gate never repeats the name
    assert not (project / "results/manifest.tsv").exists()
    assert {"themes", "agreement", "framework_matrix"}.isdisjoint(
        re.findall(r"^(?:local)?(?:rule|checkpoint) (\S+):$", proc.stderr, flags=re.M))
