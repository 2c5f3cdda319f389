# Stage 6 (agreement): Krippendorff's alpha per code, theme and pooled, with bootstrap CIs,
# breakdowns by site, each comparison group (config groups), wave and origin, and the
# disagreement ledger for the consensus meeting.
# A checkpoint (common.smk, "Settled copies"): an edit of the words re-runs it for the ledger's quotes,
# and the report pages only when a table changed.
AGREEMENT_FILES = [f"results/agreement/{n}" for n in ("by_code.tsv", "by_theme.tsv", "disagreements.tsv",
                                                       "summary.md")]
SETTLED_FILES.update(AGREEMENT_FILES)


AFTER_CHECKPOINTS["agreement"] = ["codes"]


checkpoint agreement:
    input:
        codings=after_checkpoints(["codes"], "results/codes/codings.tsv"),
        codebook=after_checkpoints(["codes"], "results/codes/codebook.tsv"),
        themes=after_checkpoints(["codes"], "results/codes/themes.tsv"),
        coverage=after_checkpoints(["codes"], "results/codes/coverage.tsv"),
        # what this job reads of the turn tables (params), for Snakemake's decision (codes.smk)
        turns_read=after_checkpoints(["codes"], TURNS_READ),
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
        # The English turn tables, for the text this job quotes: named here, not inputs. The input
        # turns_read (written by `codes` from the codes_<site> parts, each of which reads its site's
        # tables) holds all this job reads of them, so a change it can see re-runs it; as inputs, a
        # study's worth of files would be stat'ed on every scheduling pass this job waits
        # (docs/DESIGN.md, "What a job costs" and "What re-runs").
        turns=[f for site in SITES for f in pseudonymised(site, "tsv", EN)],
        n_boot=config["agreement"].get("bootstrap", 2000),
        seed=config["agreement"].get("seed", 20181017),
        cluster=config["agreement"].get("cluster_by_transcript", False),
        min_present=config["agreement"].get("min_present", 10),
        design=DESIGN,
        settle=AGREEMENT_FILES,
        settled=SETTLED,
    priority: PRIORITY["study"]
    log:
        "logs/agreement.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/agreement.py"


ALL_OUTPUTS += rules.agreement.output
