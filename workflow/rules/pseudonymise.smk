# Stages 2 and 3 (parse, pseudonymise): one job per site parses the site's transcript files
# (qualflow.transcripts) and pseudonymises them; shareable transcripts to results/, the parse index,
# the key, the replacement log and the review list to restricted/ (git-ignored, never shared).
# (changed: issue 14 — parsing was a job of its own, parse_<site>, whose turn tables only this job
# read: one job per site fewer, and 2 files per transcript less written and read.)
for _site in SITES:

    rule:
        name:
            f"pseudonymise_{_site}"
        input:
            sites=SITE_INPUTS[_site]["site"],
            roster=SITE_INPUTS[_site]["roster"],
            identifiers=SITE_INPUTS[_site]["identifiers"],
            sources=[s.path for s in sorted(STUDY.files(_site), key=lambda s: s.path)],
        output:
            index=parsed_index(_site),
            tsv=pseudonymised(_site, "tsv"),
            txt=pseudonymised(_site, "txt"),
            counts=f"results/pseudonymised/{_site}/counts.tsv",
            key=f"{RESTRICTED}/pseudonymise/{_site}/pseudonym_key.tsv",
            replacements=f"{RESTRICTED}/pseudonymise/{_site}/replacement_log.tsv",
            review=f"{RESTRICTED}/pseudonymise/{_site}/review_candidates.tsv",
        params:
            site=_site,
            english=EN,
            affixes=config.get("affixes", {}),
        log:
            f"logs/pseudonymise/{_site}.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/pseudonymise.py"


rule pseudonymise_summary:
    input:
        counts=expand("results/pseudonymised/{site}/counts.tsv", site=SITES),
        key=expand(f"{RESTRICTED}/pseudonymise/{{site}}/pseudonym_key.tsv", site=SITES),
        replacements=expand(
            f"{RESTRICTED}/pseudonymise/{{site}}/replacement_log.tsv", site=SITES
        ),
        review=expand(f"{RESTRICTED}/pseudonymise/{{site}}/review_candidates.tsv", site=SITES),
    output:
        summary=report(
            "results/pseudonymised/summary.tsv",
            caption="../report/pseudonymised_summary.rst",
            category="Pseudonymisation",
        ),
        key=f"{RESTRICTED}/pseudonym_key.tsv",
        replacements=f"{RESTRICTED}/replacement_log.tsv",
        review=f"{RESTRICTED}/review_candidates.tsv",
    priority: PRIORITY["study"]
    log:
        "logs/pseudonymise/summary.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/pseudonymise_summary.py"
