"""The leak gate: a planted name anywhere under results/ fails it, by key id, never by name."""
from __future__ import annotations

import struct
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
