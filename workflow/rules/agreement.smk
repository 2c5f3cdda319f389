# Stage 6 (agreement): Krippendorff's alpha per code, theme and pooled, with bootstrap CIs,
# breakdowns by site, each comparison group (config groups), wave and origin (rule `agreement`), and
# the disagreement ledger for the consensus meeting (rule `agreement_ledger`).
# Two jobs (changed: issue 12 item 6): the alpha tables read no text, so an edit of a transcript's
# words re-runs the ledger, which quotes the disputed turns, and the bootstrap (33 s at 1,000
# transcripts) only when the codings (an edit can move a coding's offsets) or the units change. Both
# read the codes stage's settled copies (common.smk, "Settled copies"); `agreement` is a checkpoint
# itself, for the report pages.
AGREEMENT_FILES = [f"results/agreement/{n}" for n in ("by_code.tsv", "by_theme.tsv", "summary.md")]
AFTER_CHECKPOINTS["agreement"] = ["codes"]
AFTER_CHECKPOINTS["agreement_ledger"] = ["codes"]
AGREEMENT_PARAMS = dict(
    # The English turn tables: named here, not inputs. The input units_read (agreement) or turns_read
    # (the ledger), written by `codes` from the codes_<site> parts, each of which reads its site's
    # tables, holds all the job reads of them, so a change it can see re-runs it; as inputs, a study's
    # worth of files would be stat'ed on every scheduling pass the job waits (docs/DESIGN.md, "What a
    # job costs" and "What re-runs").
    turns=[f for site in SITES for f in pseudonymised(site, "tsv", EN)],
    n_boot=config["agreement"].get("bootstrap", 2000),
    seed=config["agreement"].get("seed", 20181017),
    cluster=config["agreement"].get("cluster_by_transcript", False),
    min_present=config["agreement"].get("min_present", 10),
    design=DESIGN,
)


checkpoint agreement:
    input:
        codings=after_checkpoints(AFTER_CHECKPOINTS["agreement"], "results/codes/codings.tsv"),
        codebook=after_checkpoints(AFTER_CHECKPOINTS["agreement"], "results/codes/codebook.tsv"),
        themes=after_checkpoints(AFTER_CHECKPOINTS["agreement"], "results/codes/themes.tsv"),
        coverage=after_checkpoints(AFTER_CHECKPOINTS["agreement"], "results/codes/coverage.tsv"),
        # which turns are units: what this job reads of the turn tables (codes.smk)
        units_read=after_checkpoints(AFTER_CHECKPOINTS["agreement"], UNITS_READ),
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
        summary=report(
            "results/agreement/summary.md",
            caption="../report/agreement_summary.rst",
            category="Agreement",
        ),
    params:
        **AGREEMENT_PARAMS,
        **settling(AGREEMENT_FILES),
    priority: PRIORITY["study"]
    log:
        "logs/agreement.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/agreement.py"


rule agreement_ledger:
    input:
        codings=after_checkpoints(AFTER_CHECKPOINTS["agreement_ledger"], "results/codes/codings.tsv"),
        codebook=after_checkpoints(AFTER_CHECKPOINTS["agreement_ledger"], "results/codes/codebook.tsv"),
        themes=after_checkpoints(AFTER_CHECKPOINTS["agreement_ledger"], "results/codes/themes.tsv"),
        coverage=after_checkpoints(AFTER_CHECKPOINTS["agreement_ledger"], "results/codes/coverage.tsv"),
        # the coded turns' text hashes: what this job reads of the turn tables (codes.smk)
        turns_read=after_checkpoints(AFTER_CHECKPOINTS["agreement_ledger"], TURNS_READ),
        sites=config["sites"],
    output:
        disagreements="results/agreement/disagreements.tsv",
    params:
        **AGREEMENT_PARAMS,
    priority: PRIORITY["study"]
    log:
        "logs/agreement_ledger.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/agreement.py"
