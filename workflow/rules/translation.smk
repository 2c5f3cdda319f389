# Stage 4 (translation_check): each local transcript against its English translation, turn by turn.
# translation_check_<site> (one job per site, from the site's files alone: alignment, every flag but the
# length-ratio outliers, and the lengths those need) -> translation_stats (numbers only: the study's
# per-pair length statistics, the outliers against them, the leads' decisions; writes the final
# <T>.flags.tsv) -> translation_summary (summary.tsv, review.html).
# A change at one site re-runs that site's check and the two small aggregates, never another site's check.
TRANSLATION_RESOLUTIONS = config.get("translation_resolutions", "data/translation_resolutions.tsv")
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
        log:
            f"logs/translation/{_site}.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/translation_check.py"


rule translation_stats:
    input:
        flags=translation_site_files("site_flags.tsv"),
        lengths=translation_site_files("lengths.tsv"),
        pairs=translation_site_files("pairs.tsv"),
        resolutions=TRANSLATION_RESOLUTIONS,
    output:
        stats="results/translation/pair_stats.tsv",
        flags=translation_flag_files(),
    params:
        translation=config.get("translation", {}),
        english=EN,
    log:
        "logs/translation/stats.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/translation_stats.py"


rule translation_summary:
    input:
        flags=translation_flag_files(),
        pairs=translation_site_files("pairs.tsv"),
        local=pair_tsvs(TRANSLATION_SITES)[0],
        en=pair_tsvs(TRANSLATION_SITES)[1],
        stats=rules.translation_stats.output.stats,
        sites=config["sites"],
    output:
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
            "results/translation/review.html",
            caption="../report/translation_review.rst",
            category="Translation check",
        ),
    params:
        markers=config["markers"],
        english=EN,
        title=f"Translation check — {config.get('study', '')}",
    log:
        "logs/translation/summary.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/translation_summary.py"


ALL_OUTPUTS += rules.translation_summary.output
