"""The second demo study end to end: key informants before and after implementation (Haun et al. 2024).

Run once per session in a temporary copy (`make run STUDY=studies/key-informants` without make), then
checked against numbers recomputed here from the study's own inputs (roster and front matter), and
against data/README's shape: 6 sites, 12 focus groups, 54 distinct key informants, 42 at the pre
wave, 36 at the post wave, 24 at both.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, snakemake

STUDY = "studies/key-informants"


def _tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def ki(tmp_path_factory) -> Path:
    """The key-informant study run end to end once per test session; returns its study folder."""
    project = tmp_path_factory.mktemp("ki") / "project"
    project.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for part in ("Snakefile", "workflow", "profiles"):
        src = ROOT / part
        (shutil.copytree(src, project / part, ignore=ignore) if src.is_dir()
         else shutil.copy2(src, project / part))
    for part in ("config", "data"):
        shutil.copytree(ROOT / STUDY / part, project / STUDY / part, ignore=ignore)
    study = project / STUDY
    snakemake(project, "--profile", "profiles/default", "--directory", STUDY,
              "--configfile", f"{STUDY}/config/config.yaml", "--quiet")
    return study


def _inputs(study: Path) -> dict:
    """The study's config: where its roster and transcripts are (paths relative to the study)."""
    return yaml.safe_load((study / "config/config.yaml").read_text(encoding="utf-8"))


def _recompute(study: Path) -> dict[tuple[str, str], int]:
    """(site id, wave or 'all' or 'both') -> participants, from the roster and the front matter only."""
    config = _inputs(study)
    wave_of = {}
    for f in sorted((study / config["raw_dir"]).glob("*/*.en.txt")):
        m = re.search(r"^wave:\s*(\S+)\s*$", f.read_text(encoding="utf-8"), re.M)
        wave_of[(f.parent.name, f.name.split(".")[0])] = m.group(1)
    out: dict[tuple[str, str], int] = {}
    for r in _tsv(study / config["roster"]).to_dict("records"):
        if r["role"] == "facilitator":
            continue
        waves = {wave_of[(r["site"], t)] for t in r["transcript"].split("|")}
        keys = [*waves, "all"] + (["both"] if len(waves) > 1 else [])
        for site in (r["site"], "Total"):
            for k in keys:
                out[(site, k)] = out.get((site, k), 0) + 1
    return out


def test_participant_table_of_the_two_waves(ki):
    t = _tsv(ki / "results/tables/participants.tsv")
    sites = _tsv(ki / "config/sites.tsv")
    site_id = dict(zip(sites["name"], sites["site"])) | {"Total": "Total"}
    got: dict[tuple[str, str], int] = {}
    for r in t.to_dict("records"):
        got[(site_id[r["site"]], r["wave"])] = int(r["n"])
        if r["wave"] == "all":
            got[(site_id[r["site"]], "both")] = int(r["returning"])
    expected = {k: v for k, v in _recompute(ki).items()}
    assert {k: v for k, v in got.items() if v or k in expected} == expected
    total = t[t["site"] == "Total"].set_index("wave")
    assert int(total.at["pre", "n"]) == 42 and int(total.at["post", "n"]) == 36
    assert int(total.at["all", "n"]) == 54 and int(total.at["all", "returning"]) == 24
    assert int(total.at["all", "focus_groups"]) == 12 and len(sites) == 6
    assert list(t.columns[:5]) == ["site", "wave", "focus_groups", "n", "returning"]
    assert list(t.columns[5:10]) == ["mh_manager", "mh_worker", "psw", "service_user_rep", "policy_maker"]
    assert all(int(v) == 1 for v in t.loc[(t["site"] != "Total") & (t["wave"] != "all"), "focus_groups"])


def test_returning_key_informants_keep_their_placeholder(ki):
    """Every returning informant (roster FG1|FG2) speaks as the same P-code at both waves."""
    roster = _tsv(ki / _inputs(ki)["roster"])
    back = roster[(roster["transcript"] == "FG1|FG2") & (roster["role"] != "facilitator")]
    assert len(back) == 24
    for r in back.to_dict("records"):
        code = f"P{int(r['participant']):02d}"
        for fg in ("FG1", "FG2"):
            turns = _tsv(ki / f"results/pseudonymised/{r['site']}/{fg}.en.tsv")
            assert code in set(turns["speaker"]), (r["site"], code, fg)


def test_groups_and_waves_in_the_analysis(ki):
    m = _tsv(ki / "results/themes/theme_matrix.tsv")
    assert list(m.columns[:5]) == ["level", "site", "name", "resources", "income_group"]
    assert m.set_index("site").loc["dar_es_salaam", "income_group"].iloc[0] == "low|lower-middle"
    assert set(m["level"]) == {"site", "resources", "income_group", "wave", "all"}
    scopes = set(_tsv(ki / "results/agreement/by_code.tsv")["scope"])
    assert {"wave:pre", "wave:post", "resources:lower-resource", "resources:high-resource"} <= scopes
    for g in ("resources", "income_group"):
        assert (ki / f"results/figures/themes_by_{g}.png").stat().st_size > 10_000
    codings = _tsv(ki / "results/codes/codings.tsv")
    assert set(codings["valence"]) == {"facilitator", "barrier", "mixed"}


def test_marathi_transcripts_pseudonymised_and_checked(ki):
    """Pune's Marathi files: names with attached postpositions (नाव+ला) become the placeholder with the
    postposition kept, in both waves; the translation check ran on mr-en; nothing leaked."""
    for fg in ("FG1", "FG2"):
        text = (ki / f"results/pseudonymised/pune/{fg}.mr.txt").read_text(encoding="utf-8")
        assert re.search(r"\bP\d{2}(ला|ने|चा|ची|चे|शी|कडे|साठी)", text), fg
        assert "wave: " + ("pre" if fg == "FG1" else "post") in text
    summary = _tsv(ki / "results/translation/summary.tsv")
    mr = summary[summary["lang_pair"] == "mr-en"]
    assert len(mr) and mr["flags"].astype(int).sum() > 0
    assert not _tsv(ki / "results/leak_check.tsv").shape[0]
