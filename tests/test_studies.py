"""Studies as folders: waves, roles and comparison groups from configuration (issue 10).

A tiny study is made here from configuration and data only (three waves, two sites, a returning
participant); each bad input gets its exact one-line message, and the workflow refuses it before any
job runs.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT, snakemake, write

from qualflow.errors import InputError
from qualflow.validate import load_study

FM = "---\nkind: focus_group\ndate: {date}\nwave: {wave}\n---\n"
WAVES = [("w1", "Baseline", "2020-01-01", "2020-03-31"), ("w2", "One year", "2021-01-01", "2021-03-31"),
         ("w3", "Two years", "2022-01-01", "2022-03-31")]

CODEBOOK = """\
themes:
  - {id: benefits, label: Benefits}
  - {id: barriers, label: Barriers}
framework:
  constructs:
    - {id: relative_advantage, label: Relative advantage, definition: The intervention is better than the alternative}
    - {id: resources, label: Available resources, definition: Money time and rooms for the intervention}
codes:
  - {id: relative_advantage, label: Relative advantage, origin: deductive, theme: benefits, definition: Better than the alternative}
  - {id: hope, label: Hope, origin: inductive, theme: benefits, parent: relative_advantage, definition: Service users gain hope}
  - {id: resources, label: Available resources, origin: deductive, theme: barriers, definition: Money time rooms}
  - {id: no_budget, label: No budget, origin: inductive, theme: barriers, parent: resources, definition: There is no budget}
"""


def make_waved_study(dst: Path, waves=WAVES) -> Path:
    """A study folder with one focus group per site per wave; Anna (alpha #1) attends every wave."""
    config = {
        "study": "tiny waved study (synthetic)", "sites": "config/sites.tsv", "site_waves": "config/site_waves.tsv",
        "codebook": "config/codebook.yaml", "raw_dir": "data/raw", "roster": "data/restricted/roster.tsv",
        "identifiers": "data/restricted/identifiers.tsv", "codings_dir": "data/codings",
        "translation_resolutions": "data/translation_resolutions.tsv", "restricted_out": "restricted",
        "english": "en",
        "waves": [{"id": w, "label": lab, "start": s, "end": e} for w, lab, s, e in waves],
        "roles": [{"id": "psw", "label": "Peer support worker", "short": "PSW"},
                  {"id": "mh_worker", "label": "Mental health worker"}],
        "groups": [{"id": "resources", "label": "Resources",
                    "values": [{"id": "lower", "label": "Lower-resource"}, {"id": "higher", "label": "Higher-resource"}]},
                   {"id": "income", "per_wave": True, "values": [{"id": "low"}, {"id": "middle"}, {"id": "high"}]}],
        "markers": {"en": {"laughter": ["[laughter]"]}, "de": {"laughter": ["[Lachen]"]}},
        "agreement": {"bootstrap": 50, "seed": 1},
    }
    write(dst / "config/config.yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    write(dst / "config/sites.tsv", "site\tname\tcountry\tlanguages\tresources\n"
                                    "alpha\tAlphaville\tGermany\tde\thigher\n"
                                    "beta\tBetatown\tUganda\ten\tlower\n")
    rows = ["site\twave\tincome"]
    for i, (w, *_rest) in enumerate(waves):
        rows += [f"alpha\t{w}\thigh", f"beta\t{w}\t{'low' if i == 0 else 'middle'}"]
    write(dst / "config/site_waves.tsv", "\n".join(rows) + "\n")
    write(dst / "config/codebook.yaml", CODEBOOK)
    fgs = [f"FG{i + 1}" for i in range(len(waves))]
    write(dst / "data/restricted/roster.tsv",
          "site\ttranscript\tparticipant\tname\taliases\trole\tgender\tlabel\tcase_sensitive\n"
          f"alpha\t{'|'.join(fgs)}\t1\tAnna Quillfeder\tAnna Q.|Anna\tpsw\tfemale\t\t\n"
          "alpha\tFG1\t2\tBernd Zarowski\tBernd Z.\tmh_worker\tmale\t\t\n"
          + "".join(f"alpha\t{fg}\t{i + 3}\tCora Vendt{i}\tCora V{i}.\tmh_worker\tfemale\t\t\n"
                    for i, fg in enumerate(fgs[1:]))
          + f"alpha\t{'|'.join(fgs)}\tF1\tFranz Olbrecht\tFranz O.\tfacilitator\tmale\t\t\n"
          f"beta\t{'|'.join(fgs)}\t1\tSarah Tumwebaze\tSarah T.|Sarah\tpsw\tfemale\t\t\n"
          f"beta\t{'|'.join(fgs)}\t2\tDenis Okwirambe\tDenis O.\tmh_worker\tmale\t\t\n"
          f"beta\t{'|'.join(fgs)}\tF1\tIsaac Mpagizi\tIsaac M.\tfacilitator\tmale\t\t\n")
    write(dst / "data/restricted/identifiers.tsv", "site\tterm\taliases\tcategory\tcase_sensitive\n"
                                                   "alpha\tKlinik Buchenhain\tBuchenhain\thospital\t\n"
                                                   "beta\tKisoboka Hill Hospital\tKisoboka\thospital\t\n")
    for i, (w, _lab, start, _end) in enumerate(waves):
        fg, fm = fgs[i], FM.format(date=start, wave=w)
        other = "Bernd Z." if i == 0 else f"Cora V{i - 1}."
        write(dst / f"data/raw/alpha/{fg}.de.txt",
              fm + f"Franz O.: Willkommen zur Runde {i + 1}. Was hat sich verändert?\n\n"
                   "Anna Q.: Die Arbeit in der Klinik Buchenhain gibt den Leuten Hoffnung, das sehe ich jeden Tag.\n\n"
                   f"{other}: Anna hat recht, aber es gibt kein Budget für Fahrten oder Räume.\n\n[Lachen]\n")
        write(dst / f"data/raw/alpha/{fg}.en.txt",
              fm + f"Franz O.: Welcome to round {i + 1}. What has changed?\n\n"
                   "Anna Q.: The work at Klinik Buchenhain gives people hope, I see that every day.\n\n"
                   f"{other}: Anna is right, but there is no budget for travel or for rooms.\n\n[laughter]\n")
        write(dst / f"data/raw/beta/{fg}.en.txt",
              fm + "Isaac M.: Good morning. What has peer support changed for you?\n\n"
                   "Sarah T.: People at Kisoboka come back because someone understands them now.\n\n"
                   "Denis O.: Sarah is right, and my workload is lower, but we have no money for transport.\n")
    header = "transcript\tturn\tcode\tvalence\tmemo\n"
    for coder in ("coder_a", "coder_b"):
        for site in ("alpha", "beta"):
            for fg in fgs:
                rows = [f"{site}.{fg}\t2\tHope\tfacilitator\t", f"{site}.{fg}\t3\tNo budget\tbarrier\t"]
                if coder == "coder_b" and fg == fgs[-1]:
                    rows[1] = f"{site}.{fg}\t3\tAvailable resources\tmixed\t"
                write(dst / f"data/codings/{coder}/{site}.{fg}.tsv", header + "\n".join(rows) + "\n")
    write(dst / "data/translation_resolutions.tsv", "transcript\tturn\tflag\tdecision\tnote\n")
    return dst


def _load(study: Path):
    config = yaml.safe_load((study / "config/config.yaml").read_text())
    return load_study(config, study, "config/config.yaml")


def _problems(study: Path) -> list[str]:
    with pytest.raises(InputError) as exc:
        _load(study)
    return [str(p) for p in exc.value.problems]


@pytest.fixture
def waved(tmp_path: Path) -> Path:
    return make_waved_study(tmp_path / "tiny")


def test_three_waves_from_config_and_data_only(waved):
    s = _load(waved)
    assert s.design.wave_ids == ["w1", "w2", "w3"]
    assert {(t.site, t.transcript): t.meta["wave"] for t in s.transcripts.values()} == {
        ("alpha", "FG1"): "w1", ("alpha", "FG2"): "w2", ("alpha", "FG3"): "w3",
        ("beta", "FG1"): "w1", ("beta", "FG2"): "w2", ("beta", "FG3"): "w3"}
    assert [r.id for r in s.design.roles] == ["psw", "mh_worker", "facilitator"]
    assert [(g.id, g.values, g.per_wave) for g in s.design.groups] == [
        ("resources", ("lower", "higher"), False), ("income", ("low", "middle", "high"), True)]
    anna = next(p for p in s.people if p.site == "alpha" and p.participant == "1")
    assert anna.transcripts == ("FG1", "FG2", "FG3")


def _replace(path: Path, old: str, new: str) -> int:
    """Replace the first ``old`` in the file; return the 1-based line it was on."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    line = text[:text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


@pytest.fixture
def bad_inputs():
    """Each kind of bad input: (file, old text, new text, the exact message after `path:line: `)."""
    return {
        "undeclared_wave": ("data/raw/beta/FG2.en.txt", "wave: w2", "wave: w9",
                            "wave 'w9' is not declared in config waves (w1, w2, w3): fix the front matter "
                            "or declare the wave"),
        "missing_wave": ("data/raw/beta/FG2.en.txt", "wave: w2\n", "",
                         "front matter has no 'wave': this study has waves (w1, w2, w3); add a line 'wave: <id>'"),
        "undeclared_group_value": ("config/sites.tsv", "\tlower\n", "\tpoor\n",
                                   "resources 'poor' of site 'beta' is not a value config declares for group "
                                   "'resources' (lower, higher): fix the value or declare it under groups"),
        "attribute_for_undeclared_wave": ("config/site_waves.tsv", "beta\tw3\t", "beta\tw4\t",
                                          "wave 'w4' is not declared in config waves (declared: w1, w2, w3): "
                                          "fix the wave or declare it"),
    }


@pytest.mark.parametrize("kind", ["undeclared_wave", "missing_wave", "undeclared_group_value",
                                  "attribute_for_undeclared_wave"])
def test_bad_input_is_one_exact_line(waved, bad_inputs, kind):
    rel, old, new, message = bad_inputs[kind]
    line = _replace(waved / rel, old, new)
    if kind == "missing_wave":
        line = 2   # no wave line: the message points at the front matter's first key
    assert _problems(waved) == [f"{waved / rel}:{line}: {message}"]


def test_wave_date_outside_the_wave(waved):
    f = waved / "data/raw/alpha/FG2.en.txt"
    line = _replace(f, "date: 2021-01-01", "date: 2021-06-01")
    assert _problems(waved) == [f"{f}:{line}: date 2021-06-01 is outside wave 'w2' (2021-01-01 to 2021-03-31): "
                                "fix the date or the wave"]


def test_undeclared_role(waved):
    r = waved / "data/restricted/roster.tsv"
    line = _replace(r, "\tmh_worker\tmale", "\tnurse\tmale")
    assert _problems(waved) == [f"{r}:{line}: role 'nurse' is not declared in config roles (psw, mh_worker, "
                                "facilitator): fix the role or declare it under roles"]


def test_a_wave_in_a_study_without_waves(waved):
    c = waved / "config/config.yaml"
    config = yaml.safe_load(c.read_text())
    for key in ("waves", "site_waves"):
        del config[key]
    config["groups"] = config["groups"][:1]
    c.write_text(yaml.safe_dump(config, sort_keys=False))
    problems = _problems(waved)
    assert len(problems) == 9   # every transcript file (alpha: de+en, beta: en; three waves)
    assert problems[0] == (f"{waved}/data/raw/alpha/FG1.de.txt:4: front matter names wave 'w1' but config declares "
                           "no waves: declare the study's waves in config.yaml (see config/README.md) or remove the line")


def test_config_waves_out_of_order(waved):
    c = waved / "config/config.yaml"
    text = c.read_text()
    c.write_text(text.replace("start: '2021-01-01'", "start: '2020-02-01'"))
    line = next(i for i, l in enumerate(c.read_text().splitlines(), 1) if "2020-02-01" in l)
    assert _problems(waved) == [f"{c}:{line}: wave 'w2' starts (2020-02-01) before wave 'w1' ends (2020-03-31): "
                                "list waves in time order, without overlap"]


def test_missing_per_wave_row(waved):
    f = waved / "config/site_waves.tsv"
    f.write_text("".join(l for l in f.read_text().splitlines(True) if not l.startswith("alpha\tw2")))
    assert _problems(waved) == [f"{f}: no row for site 'alpha' at wave 'w2': add one (site, wave, income)"]


@pytest.mark.parametrize("kind", ["undeclared_wave", "undeclared_group_value"])
def test_workflow_refuses_bad_input_before_any_job(tmp_path, bad_inputs, kind):
    """Through Snakemake, from the repository with --directory: exit 1, the exact line, no traceback."""
    study = make_waved_study(tmp_path / "tiny")
    rel, old, new, message = bad_inputs[kind]
    line = _replace(study / rel, old, new)
    changed = (study / rel).read_bytes()
    proc = snakemake(ROOT, "--profile", "profiles/default", "--directory", str(study),
                     "--configfile", str(study / "config/config.yaml"), check=False)
    assert proc.returncode == 1
    err = [l for l in proc.stderr.splitlines() if l.startswith(rel)]
    assert err == [f"{rel}:{line}: {message}"]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (study / "results").exists() and not (study / "restricted/parsed").exists()
    assert (study / rel).read_bytes() == changed


def test_codebook_framework_lists_and_subcodes(tmp_path):
    from qualflow.codebook import load_codebook
    book = load_codebook(write(tmp_path / "codebook.yaml", CODEBOOK))
    assert list(book.framework) == ["constructs"]
    assert {c.id: c.parent for c in book.codes} == {"relative_advantage": "", "hope": "relative_advantage",
                                                    "resources": "", "no_budget": "resources"}


@pytest.mark.parametrize("old, new, message", [
    ("parent: relative_advantage", "parent: advantage",
     "code 'hope' has parent 'advantage', which is not a code: use the id of a code listed under codes"),
    ("parent: relative_advantage", "parent: resources",
     "code 'hope' (theme benefits) has parent 'resources' of theme barriers: a subcode belongs to its "
     "parent's theme"),
])
def test_codebook_bad_parent(tmp_path, old, new, message):
    from qualflow.codebook import load_codebook
    path = write(tmp_path / "codebook.yaml", CODEBOOK.replace(old, new))
    with pytest.raises(InputError) as exc:
        load_codebook(path)
    assert [str(p) for p in exc.value.problems] == [f"{path}:10: {message}"]


def test_codebook_parent_cycle(tmp_path):
    from qualflow.codebook import load_codebook
    text = CODEBOOK.replace("origin: deductive, theme: benefits, definition: Better",
                            "origin: deductive, theme: benefits, parent: hope, definition: Better")
    path = write(tmp_path / "codebook.yaml", text)
    with pytest.raises(InputError) as exc:
        load_codebook(path)
    assert [str(p) for p in exc.value.problems] == [
        f"{path}:9: code 'relative_advantage' is its own ancestor (relative_advantage -> hope -> "
        "relative_advantage): remove one parent",
        f"{path}:10: code 'hope' is its own ancestor (hope -> relative_advantage -> hope): remove one parent"]
