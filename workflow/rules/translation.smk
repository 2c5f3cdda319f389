# Stage 4 (translation_check): each local transcript against its English translation, turn by turn.
# translation_check_<site> (one job per site, from the site's files alone: alignment, every flag but the
# length-ratio outliers, and the lengths those need) -> translation_summary (one study-wide job: the
# per-pair length statistics and the outliers against them from numbers only, the leads' decisions, the
# final <T>.flags.tsv, summary.tsv, flags_by_site.tsv, and the review: an index plus a page per site).
# A change at one site re-runs that site's check and the one aggregate, never another site's check.
# (changed: issue 12 item 6 — translation_stats and translation_summary were two jobs that always ran
# together; one job saves a job's fixed cost on every edit.)
from qualflow.translation_review import layout_files as _layout_files, review_layout as _review_layout

TRANSLATION_RESOLUTIONS = config.get("translation_resolutions", "data/translation_resolutions.tsv")
REVIEW_INDEX = "results/translation/review.html"
#: A site with more pairs than this gets one review page per transcript (config translation_review).
REVIEW_PAIRS_PER_PAGE = config.get("translation_review", {}).get("pairs_per_page", 20)
REVIEW_PAGES = _layout_files(
    _review_layout(
        REVIEW_INDEX,
        {s: [t for t, l in translation_pairs(s)] for s in TRANSLATION_SITES},
        REVIEW_PAIRS_PER_PAGE,
    )
)
for _site in TRANSLATION_SITES:

    rule:
        name:
            f"translation_check_{_site}"
        input:
            local=pair_tsvs([_site])[0],
            en=pair_tsvs([_site])[1],
        output:
            flags=f"results/translation/{_site}/site_flags.tsv",
            lengths=f"results/translation/{_site}/lengths.tsv",
            pairs=f"results/translation/{_site}/pairs.tsv",
        params:
            languages=STUDY_LANGUAGES,
            markers=site_markers(_site),
            translation=config.get("translation", {}),
            english=EN,
        priority: PRIORITY["translation"]
        log:
            f"logs/translation/{_site}.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/translation_check.py"


# A checkpoint (common.smk, "Settled copies"), for the report pages, which read its site x flag-kind
# table: an edit of one site's words re-runs this job (the review pages show the text) but rarely
# changes the table.


checkpoint translation_summary:
    input:
        # Each site's check writes pairs.tsv, site_flags.tsv and lengths.tsv together: pairs.tsv is the
        # input, the other two are named in params (the site's leak scan has all three as inputs, so
        # a missing one still re-runs the check). Snakemake's main process looks at every input for
        # every output it records, and this job has an output per transcript: 3 inputs a site were
        # 4 s of its time at 1,000 transcripts, between two jobs (issue 14).
        pairs=translation_site_files("pairs.tsv"),
        resolutions=TRANSLATION_RESOLUTIONS,
        sites=config["sites"],
    output:
        stats="results/translation/pair_stats.tsv",
        flags=translation_flag_files(),
        summary=report(
            "results/translation/summary.tsv",
            caption="../report/translation_summary.rst",
            category="Translation check",
        ),
        table=report(
            "results/translation/flags_by_site.tsv",
            caption="../report/translation_flags_by_site.rst",
            category="Translation check",
        ),
        review=report(
            REVIEW_INDEX,
            caption="../report/translation_review.rst",
            category="Translation check",
        ),
        # the index links them; each holds one site's pairs (or one pair of a large site)
        pages=REVIEW_PAGES,
    params:
        # The pairs' turn tables (for the review's text) are neither inputs nor params: each site's
        # pairs.tsv names the two its check compared (each an input of that check, whose outputs are
        # this job's inputs, so a changed table re-runs the check and then this job all the same). As
        # inputs, Snakemake's main process would stat every one of them once per output of this job
        # when recording it (about 4 M calls at 1,000 transcripts); as params, it copied the list into
        # the record of every output (183 MB of records).
        flags=translation_site_files("site_flags.tsv"),
        lengths=translation_site_files("lengths.tsv"),
        translation=config.get("translation", {}),
        markers=config["markers"],
        english=EN,
        pairs_per_page=REVIEW_PAIRS_PER_PAGE,
        title=f"Translation check — {config.get('study', '')}",
        **settling(["results/translation/flags_by_site.tsv"]),
    priority: PRIORITY["translation"]
    log:
        "logs/translation/summary.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/translation_summary.py"
