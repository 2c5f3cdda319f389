# Stage 6 (agreement): Krippendorff's alpha per code, theme and pooled, with bootstrap CIs,
# breakdowns by site, each comparison group (config groups), wave and origin, and the
# disagreement ledger for the consensus meeting.
rule agreement:
    input:
        codings="results/codes/codings.tsv",
        codebook="results/codes/codebook.tsv",
        themes="results/codes/themes.tsv",
        coverage="results/codes/coverage.tsv",
        sites=config["sites"],
    output:
        by_code=report(
            "results/agreement/by_code.tsv",
            caption="../report/agreement_by_code.rst",
            category="Agreement",
        ),
        by_theme=report(
            "results/agreement/by_theme.tsv",
            caption="../report/agreement_by_theme.rst",
            category="Agreement",
        ),
        disagreements="results/agreement/disagreements.tsv",
        summary=report(
            "results/agreement/summary.md",
            caption="../report/agreement_summary.rst",
            category="Agreement",
        ),
    params:
        # The English turn tables, for the text this job quotes: named here, not inputs. Each is an input
        # of its site's codes_<site> job, whose part reaches this job through results/codes/, so a
        # changed table re-runs this job all the same; as inputs, a study's worth of files would be
        # stat'ed on every scheduling pass this job waits (docs/DESIGN.md, "What a job costs").
        turns=[f for site in SITES for f in pseudonymised(site, "tsv", EN)],
        n_boot=config["agreement"].get("bootstrap", 2000),
        seed=config["agreement"].get("seed", 20181017),
        cluster=config["agreement"].get("cluster_by_transcript", False),
        min_present=config["agreement"].get("min_present", 10),
        design=DESIGN,
    priority: PRIORITY["study"]
    log:
        "logs/agreement.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/agreement.py"


ALL_OUTPUTS += rules.agreement.output
