"""Table 2 from the roster, and the roster/transcript cross-check."""
from __future__ import annotations

import pandas as pd
import yaml

from qualflow.participants import silent_participants, table2, to_markdown
from qualflow.study import read_roster, read_sites
from qualflow.validate import load_study


def test_table2_counts_focus_group_participants_only(mini_study):
    sites = read_sites(mini_study / "config/sites.tsv")
    people = read_roster(mini_study / "data/restricted/roster.tsv", sites)
    transcripts = pd.DataFrame({"site": ["alpha", "alpha", "beta", "beta", "beta"],
                                "transcript": ["FG1", "FG1", "FG1", "FG1", "INT1"],
                                "kind": ["focus_group"] * 4 + ["interview"]})
    df = table2(sites, people, transcripts)
    assert df.to_dict("records") == [
        {"site": "Alphaville", "focus_groups": 1, "n": 2, "psw": 1, "mh_worker": 1, "mh_manager": 0,
         "policy_maker": 0, "male": 1, "female": 1},
        # Mercy Kitaka was only interviewed: not a focus-group participant; facilitators never count.
        {"site": "Betatown", "focus_groups": 1, "n": 2, "psw": 1, "mh_worker": 0, "mh_manager": 1,
         "policy_maker": 0, "male": 1, "female": 1},
        {"site": "Total", "focus_groups": 2, "n": 4, "psw": 2, "mh_worker": 1, "mh_manager": 1,
         "policy_maker": 0, "male": 2, "female": 2},
    ]
    md = to_markdown(df, "Table 2")
    assert "| **Total** | **2** | **4** | **2** | **1** | **1** | **0** | **2** | **2** |" in md


def test_roster_participant_who_never_speaks_is_reported(mini_study):
    r = mini_study / "data/restricted/roster.tsv"
    r.write_text(r.read_text() + "alpha\tFG1\t3\tCarla Clausen\tCarla C.\tmh_worker\tfemale\t\t\n")
    study = load_study(yaml.safe_load((mini_study / "config/mini.yaml").read_text()), mini_study)
    speakers = pd.DataFrame([{"site": t.site, "transcript": t.transcript, "speaker": turn.speaker}
                             for t in study.transcripts.values() for turn in t.turns if turn.kind == "speech"])
    silent = silent_participants(study.people, speakers)
    assert [(p.site, p.participant) for p in silent] == [("alpha", "3")]


def test_the_speakers_tables_change_with_who_speaks_not_with_the_words(mini_study, tmp_path):
    """Table 2's per-site input (written at load): an edit of the words keeps the file (its mtime too,
    so `participants` does not re-run); a new speaker label rewrites it."""
    import os

    from qualflow.validate import write_site_speakers

    config = yaml.safe_load((mini_study / "config/mini.yaml").read_text())
    out = tmp_path / "inputs"
    paths = write_site_speakers(load_study(config, mini_study), out)
    beta = (out / "beta/speakers.tsv").read_text(encoding="utf-8")
    assert paths["beta"] == str(out / "beta/speakers.tsv")
    assert beta == ("transcript\tlang\tkind\twave\tspeaker\n"
                    "FG1\ten\tfocus_group\t\tIsaac M.\nFG1\ten\tfocus_group\t\tSarah N.\nFG1\ten\tfocus_group\t\tDenis O.\n"
                    "FG1\tlg\tfocus_group\t\tIsaac M.\nFG1\tlg\tfocus_group\t\tSarah N.\nFG1\tlg\tfocus_group\t\tDenis O.\n"
                    "INT1\ten\tinterview\t\tIsaac M.\nINT1\ten\tinterview\t\tMercy K.\n")
    os.utime(out / "beta/speakers.tsv", (1, 1))
    f = mini_study / "data/raw/beta/FG1.en.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("True.", "Quite true."), encoding="utf-8")
    write_site_speakers(load_study(config, mini_study), out)
    assert (out / "beta/speakers.tsv").stat().st_mtime == 1
    f.write_text(f.read_text(encoding="utf-8").replace("Denis O.: Quite", "Okello: Quite"), encoding="utf-8")
    write_site_speakers(load_study(config, mini_study), out)
    assert (out / "beta/speakers.tsv").stat().st_mtime > 1
    assert "FG1\ten\tfocus_group\t\tOkello\n" in (out / "beta/speakers.tsv").read_text(encoding="utf-8")
