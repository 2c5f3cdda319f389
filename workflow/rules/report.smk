# The report's own pages (qualflow.report): the front page with the run's key numbers and Table 2, and
# the agreement results, quotes and codebook as HTML, so `snakemake --report` shows every table inside
# results/report.html instead of a download link. Reads results/ only.
AFTER_CHECKPOINTS["report_pages"] = ["codes", "themes", "agreement"] + (
    ["translation_summary"] if TRANSLATION_SITES else []
)
_AFTER = AFTER_CHECKPOINTS["report_pages"]


# Its inputs from the checkpoints are their settled copies (common.smk, "Settled copies"): an edit that
# leaves every table and quote page as it was does not rebuild the pages.
rule report_pages:
    input:
        table2="results/tables/table2.tsv",
        by_code=after_checkpoints(_AFTER, "results/agreement/by_code.tsv"),
        by_theme=after_checkpoints(_AFTER, "results/agreement/by_theme.tsv"),
        agreement=after_checkpoints(_AFTER, "results/agreement/summary.md"),
        quote_pages=after_checkpoints(_AFTER, QUOTE_PAGES),
        transcripts=after_checkpoints(_AFTER, "results/themes/transcripts.tsv"),
        codebook=after_checkpoints(_AFTER, "results/codes/codebook.tsv"),
        themes=after_checkpoints(_AFTER, "results/codes/themes.tsv"),
        coverage=after_checkpoints(_AFTER, "results/codes/coverage.tsv"),
        flags=after_checkpoints(_AFTER, ["results/translation/flags_by_site.tsv"])
        if TRANSLATION_SITES else [],
        sites=config["sites"],
    output:
        front="results/report/front.rst",
        agreement=report("results/report/agreement.html", caption="../report/report_agreement.rst",
                         category="Agreement"),
        quotes=report("results/report/quotes.html", caption="../report/report_quotes.rst", category="Themes"),
        codebook=report("results/report/codebook.html", caption="../report/report_codebook.rst",
                        category="Codes"),
    params:
        study=config.get("study", ""),
        n_transcripts=len({(s.site, s.transcript) for s in STUDY.sources}),
        pages=["table2.html", "agreement.html", "quotes.html", "codebook.html"]
        + (["flags_by_site.tsv", "review.html"] if TRANSLATION_SITES else []),
    priority: PRIORITY["study"]
    log:
        "logs/report_pages.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/report_pages.py"
