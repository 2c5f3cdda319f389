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


# ------------------------------------------------------------------------------------------------
# Marathi end to end: parsing, markers, numbers, language detection
# ------------------------------------------------------------------------------------------------

MR_TEXT = (FM.format(date="2019-10-15", wave="pre")
           + "सुलोचना क.: नमस्कार, आज आपण समवयस्क आधाराबद्दल बोलूया. तुम्हाला काय वाटते?\n\n"
           + "[हशा]\n\n"
           + "विठोबा र.: आमच्याकडे १२ समवयस्क कार्यकर्ते आहेत [अस्पष्ट] आणि लोकांना आशा मिळते.\n"
           + "हे खूप महत्त्वाचे आहे.\n")


def test_marathi_transcript_parses_with_its_markers(tmp_path):
    from qualflow.transcripts import read_transcript
    from qualflow.translation import MarkerMap, digit_sequences

    f = write(tmp_path / "pune/FG1.mr.txt", MR_TEXT)
    t = read_transcript(f, "pune")
    assert (t.lang, t.meta["wave"], t.meta_lines["wave"]) == ("mr", "pre", 4)
    assert [(x.kind, x.speaker) for x in t.turns] == [("speech", "सुलोचना क."), ("marker", ""),
                                                       ("speech", "विठोबा र.")]
    assert t.turns[2].text.endswith("[अस्पष्ट] आणि लोकांना आशा मिळते.\nहे खूप महत्त्वाचे आहे.")
    config = yaml.safe_load((ROOT / "studies/key-informants/config/config.yaml").read_text(encoding="utf-8"))
    assert set(config["markers"]["mr"]) == set(config["markers"]["en"])   # same canonical names
    markers = MarkerMap(config["markers"]["mr"])
    assert markers.count(t.turns[2].text) == {"inaudible": 1}
    assert digit_sequences(t.turns[2].text) == {"12": 1}                    # Devanagari digits = 12


def test_lingua_knows_marathi():
    from qualflow.translation import SourceDetector

    d = SourceDetector(["mr", "en", "de", "sw", "he"])
    marathi = "आमच्याकडे बारा समवयस्क कार्यकर्ते आहेत आणि लोकांना आशा मिळते, हे खूप महत्त्वाचे आहे."
    english = "We have twelve peer workers, and people find hope; that matters a great deal."
    assert d.confidence(marathi, "mr") > 0.9
    assert d.confidence(english, "mr") < 0.1


# ------------------------------------------------------------------------------------------------
# the tiny three-wave study through Snakemake (config and data only)
# ------------------------------------------------------------------------------------------------

def run_study(study: Path, *extra: str, check: bool = True):
    """``make run STUDY=<study>`` without make: Snakemake from the repository with --directory."""
    return snakemake(ROOT, "--profile", "profiles/default", "--directory", str(study),
                     "--configfile", str(study / "config/config.yaml"), *extra, check=check)


def read_tsv(path: Path):
    import pandas as pd
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny three-wave study, run end to end once for this module."""
    study = make_waved_study(tmp_path_factory.mktemp("studies") / "tiny")
    run_study(study, "--quiet")
    return study


def _independent_wave_counts(study: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(site, wave) -> (n, returning) straight from the roster and the transcripts' front matter."""
    import re
    wave_of = {}
    for f in (study / "data/raw").glob("*/*.en.txt"):
        wave_of[(f.parent.name, f.name.split(".")[0])] = re.search(r"^wave: (\S+)$", f.read_text(), re.M).group(1)
    out: dict[tuple[str, str], list[int]] = {}
    for r in read_tsv(study / "data/restricted/roster.tsv").to_dict("records"):
        if r["role"] == "facilitator":
            continue
        waves = {wave_of[(r["site"], t)] for t in r["transcript"].split("|")}
        for key in [(r["site"], w) for w in waves] + [(r["site"], "all")] + [("Total", w) for w in waves] \
                + [("Total", "all")]:
            c = out.setdefault(key, [0, 0])
            c[0] += 1
            c[1] += len(waves) > 1
    return {k: tuple(v) for k, v in out.items()}


def test_tiny_study_participants_by_wave(tiny):
    t = read_tsv(tiny / "results/tables/participants.tsv")
    names = {"Alphaville": "alpha", "Betatown": "beta", "Total": "Total"}
    got = {(names[r["site"]], r["wave"]): (int(r["n"]), int(r["returning"])) for r in t.to_dict("records")}
    assert got == _independent_wave_counts(tiny)
    assert got[("alpha", "all")] == (4, 1) and got[("Total", "all")] == (6, 3)
    assert list(t.columns) == ["site", "wave", "focus_groups", "n", "returning", "psw", "mh_worker",
                               "male", "female"]
    assert list(t["wave"][:4]) == ["w1", "w2", "w3", "all"]
    md = (tiny / "results/tables/participants.md").read_text(encoding="utf-8")
    assert "| Alphaville | Two years | 1 | 2 | 1 | 1 | 1 | 0 | 2 |" in md
    assert "Attended more than one wave" in md and "Peer support worker" in md
    # Table 2 (every wave together) counts each person once
    t2 = read_tsv(tiny / "results/tables/table2.tsv")
    assert t2.set_index("site").loc["Total", "n"] == "6"


def test_returning_participant_keeps_one_placeholder_in_every_wave(tiny):
    """Anna (alpha #1, FG1|FG2|FG3) is P01 as a speaker and inside the text, in every wave and file."""
    for fg in ("FG1", "FG2", "FG3"):
        for lang in ("de", "en"):
            turns = read_tsv(tiny / f"results/pseudonymised/alpha/{fg}.{lang}.tsv")
            assert turns.loc[1, "speaker"] == "P01"
            assert turns.loc[2, "text"].startswith("P01 ")           # "Anna is right" / "Anna hat recht"
            assert "Anna" not in "".join(turns["text"])
        txt = (tiny / f"results/pseudonymised/alpha/{fg}.en.txt").read_text(encoding="utf-8")
        assert f"wave: w{fg[-1]}" in txt
    key = read_tsv(tiny / "restricted/pseudonym_key.tsv")
    anna = key[key["key"].str.contains("Anna") | key.apply(lambda r: "Anna" in " ".join(r.values), axis=1)]
    assert set(anna["placeholder"]) == {"P01"}


def test_tiny_study_groups_and_waves_in_the_analysis(tiny):
    m = read_tsv(tiny / "results/themes/theme_matrix.tsv")
    assert list(m.columns[:5]) == ["level", "site", "name", "resources", "income"]
    first = m[m["theme"] == "benefits"]
    assert list(zip(first["level"], first["name"])) == [
        ("site", "Alphaville"), ("site", "Betatown"), ("resources", "lower"), ("resources", "higher"),
        ("income", "low"), ("income", "middle"), ("income", "high"), ("wave", "w1"), ("wave", "w2"),
        ("wave", "w3"), ("all", "All sites")]
    by = first.set_index(["level", "name"])
    # income is per wave: beta was low at w1 and middle at w2 and w3 (one transcript per wave)
    assert by.loc[("income", "low"), "transcripts_total"] == "1"
    assert by.loc[("income", "middle"), "transcripts_total"] == "2"
    assert by.loc[("income", "high"), "transcripts_total"] == "3"
    assert first.set_index("site").loc["beta", "income"] == "low|middle"
    assert by.loc[("wave", "w2"), "transcripts"] == "2"
    scopes = list(dict.fromkeys(read_tsv(tiny / "results/agreement/by_code.tsv")["scope"]))
    assert scopes == ["all", "site:alpha", "site:beta", "resources:higher", "resources:lower", "income:high",
                      "income:low", "income:middle", "wave:w1", "wave:w2", "wave:w3", "origin:deductive",
                      "origin:inductive"]
    cov = read_tsv(tiny / "results/codes/coverage.tsv")
    assert dict(zip(cov["transcript"], cov["wave"])) == {f"{s}.FG{i}": f"w{i}" for s in ("alpha", "beta")
                                                        for i in (1, 2, 3)}
    codings = read_tsv(tiny / "results/codes/codings.tsv")
    assert set(codings["valence"]) == {"facilitator", "barrier", "mixed"}
    for g in ("resources", "income"):
        assert (tiny / f"results/figures/themes_by_{g}.png").stat().st_size > 10_000
    assert not (ROOT / "results/tables/participants.tsv").exists()   # nothing written outside the study


def _copy(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst, copy_function=shutil.copy2)
    return dst


def test_a_copied_and_edited_study_runs_without_code_changes(tiny, tmp_path):
    """Copy the study folder (inputs only), edit its config and data, run it: its own results, the
    original's untouched."""
    import shutil
    study = tmp_path / "copy"
    for part in ("config", "data"):
        shutil.copytree(tiny / part, study / part)
    before = {p: p.stat().st_mtime_ns for p in (tiny / "results").rglob("*") if p.is_file()}
    c = study / "config/config.yaml"
    config = yaml.safe_load(c.read_text())
    config["study"] = "a copy with a renamed wave"
    config["waves"][2]["label"] = "Three years"
    c.write_text(yaml.safe_dump(config, sort_keys=False))
    r = study / "data/restricted/roster.tsv"
    r.write_text(r.read_text().replace("\tDenis Okwirambe\tDenis O.\tmh_worker\tmale",
                                       "\tDenis Okwirambe\tDenis O.\tpsw\tmale"))
    run_study(study, "--quiet")
    md = (study / "results/tables/participants.md").read_text(encoding="utf-8")
    assert "| Betatown | Three years | 1 | 2 | 2 | 2 | 0 | 1 | 1 |" in md
    assert {p: p.stat().st_mtime_ns for p in (tiny / "results").rglob("*") if p.is_file()} == before


def test_adding_a_site_reruns_only_its_jobs_and_the_aggregates(tiny, tmp_path):
    study = _copy(tiny, tmp_path / "grown")
    with open(study / "config/sites.tsv", "a") as f:
        f.write("gamma\tGammaburg\tTanzania\ten\tlower\n")
    with open(study / "config/site_waves.tsv", "a") as f:
        f.write("gamma\tw1\tlow\ngamma\tw2\tlow\ngamma\tw3\tmiddle\n")
    with open(study / "data/restricted/roster.tsv", "a") as f:
        f.write("gamma\tFG1\t1\tHalima Zuberiwa\tHalima Z.\tpsw\tfemale\t\t\n"
                "gamma\tFG1\tF1\tJuma Kitwanaze\tJuma K.\tfacilitator\tmale\t\t\n")
    write(study / "data/raw/gamma/FG1.en.txt", FM.format(date="2020-02-01", wave="w1")
          + "Juma K.: Welcome. What do peers do here?\n\nHalima Z.: They visit people at home and bring hope.\n")
    out = run_study(study, "-n", "--quiet", "rules").stdout
    import re
    jobs = set(re.findall(r"^(\S+)\s+\d+$", out, flags=re.M)) - {"total", "job"}
    scans = {j for j in jobs if j.startswith("leak_scan_")}
    assert jobs - scans == {"pseudonymise_gamma", "codes_gamma", "pseudonymise_summary", "codes", "agreement",
                            "agreement_ledger",
                            "participants", "themes", "theme_figures", "framework_matrix", "translation_summary",
                            "report_pages", "leak_check",
                            "all"}
    # The roster has new names: every part of the leak gate looks for them (issue 14), the new site's too.
    assert scans == {f"leak_scan_{p}" for p in ("alpha", "beta", "gamma", "pseudonymise_summary", "codes",
                                                "agreement", "agreement_ledger", "participants", "themes",
                                                "theme_figures",
                                                "framework_matrix", "translation_summary", "report_pages")}
