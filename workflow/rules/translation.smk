# Stage 4 (translation_check): each local transcript against its English translation, turn by turn.
# translation_stats (study-wide length ratios per language pair) -> translation_check_<site> (one job
# per site, one flags table per transcript) -> translation_summary (summary.tsv, review.html).
TRANSLATION_RESOLUTIONS = config.get("translation_resolutions", "data/translation_resolutions.tsv")
TRANSLATION_SITES = [s for s in SITES if translation_pairs(s)]


rule translation_stats:
    input:
        local=pair_tsvs(TRANSLATION_SITES)[0],
        en=pair_tsvs(TRANSLATION_SITES)[1],
    output:
        stats="results/translation/pair_stats.tsv",
    params:
        markers=config["markers"],
        translation=config.get("translation", {}),
        english=EN,
    log:
        "logs/translation/stats.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/translation_stats.py"


for _site in TRANSLATION_SITES:

    rule:
        name:
            f"translation_check_{_site}"
        input:
            local=pair_tsvs([_site])[0],
            en=pair_tsvs([_site])[1],
            stats=rules.translation_stats.output.stats,
            resolutions=TRANSLATION_RESOLUTIONS,
            sites=config["sites"],
        output:
            flags=[f"results/translation/{_site}/{t}.flags.tsv" for t, l in translation_pairs(_site)],
        params:
            markers=config["markers"],
            translation=config.get("translation", {}),
            english=EN,
        log:
            f"logs/translation/{_site}.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/translation_check.py"


rule translation_summary:
    input:
        flags=[f"results/translation/{s}/{t}.flags.tsv" for s in TRANSLATION_SITES for t, l in translation_pairs(s)],
        local=pair_tsvs(TRANSLATION_SITES)[0],
        en=pair_tsvs(TRANSLATION_SITES)[1],
        stats=rules.translation_stats.output.stats,
        resolutions=TRANSLATION_RESOLUTIONS,
        sites=config["sites"],
    output:
        summary=report(
            "results/translation/summary.tsv",
            caption="../report/translation_summary.rst",
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
