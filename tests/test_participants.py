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
