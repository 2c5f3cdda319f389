# Stage 7 (participants): Table 2 from the roster, cross-checked against who speaks; for a study
# with waves also the participants by site and wave. Who speaks in which transcript comes from the
# load (restricted/inputs/<site>/speakers.tsv, common.smk), not from the parsed turns, so editing a
# transcript's words does not re-run Table 2.
rule participants:
    input:
        sites=config["sites"],
        roster=config["roster"],
        speakers=[SITE_INPUTS[site]["speakers"] for site in SITES],
    output:
        tsv=report("results/tables/table2.tsv", caption="../report/table2.rst", category="Participants"),
        md="results/tables/table2.md",
        html=report("results/tables/table2.html", caption="../report/table2.rst", category="Participants"),
        # a study with waves (config waves): the table by site and wave too
        **(
            {
                "waves_tsv": report(
                    "results/tables/participants.tsv",
                    caption="../report/participants.rst",
                    category="Participants",
                ),
                "waves_md": "results/tables/participants.md",
                "waves_html": "results/tables/participants.html",
            }
            if DESIGN["waves"]
            else {}
        ),
    params:
        design=DESIGN,
    priority: PRIORITY["study"]
    log:
        "logs/participants.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/participants.py"
