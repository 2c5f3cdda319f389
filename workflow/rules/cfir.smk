# Stage 10 (cfir), for a study whose config has a `cfir:` section (docs/cfir.md): ratings per site x
# wave x construct (Damschroder & Lowery 2013) proposed from the valenced codings, the team's consensus
# applied, two raters compared (ordinal alpha), then the change between waves (Saldana), the figures
# and the findings. The codebook, waves and groups as params come from framework.smk (included first).
# The reviewed inputs (consensus, raters' files) are checked when the workflow loads, before any job.
from qualflow.cfir_figures import heatmap_group
from qualflow.cfir_ratings import check_cfir_inputs, check_or_exit, rater_files

CFIR = config.get("cfir")

if CFIR is not None:
    CFIR_CONSENSUS = CFIR.get("consensus", "")
    CFIR_RATERS = rater_files(CFIR.get("raters_dir"))
    check_or_exit(
        lambda: check_cfir_inputs(
            CFIR_CONSENSUS,
            CFIR_RATERS,
            SITES,
            WAVE_IDS,
            {c["id"] for c in CODEBOOK_CODES},
            CFIR.get("findings", []),
            {g["id"]: g["values"] for g in GROUPS},
            CONFIG_FILE,
        )
    )

    rule cfir_ratings:
        input:
            codings="results/codes/codings.tsv",
            sites=config["sites"],
            consensus=[CFIR_CONSENSUS] if CFIR_CONSENSUS and Path(CFIR_CONSENSUS).exists() else [],
            raters=CFIR_RATERS,
        output:
            ratings=report(
                "results/cfir/ratings.tsv", caption="../report/cfir_ratings.rst", category="CFIR"
            ),
            agreement=report(
                "results/cfir/rater_agreement.tsv",
                caption="../report/cfir_rater_agreement.rst",
                category="CFIR",
            ),
        params:
            # The English turn tables, for the text this job quotes: named here, not inputs. Each is an input
            # of its site's codes_<site> job, whose part reaches this job through results/codes/, so a
            # changed table re-runs this job all the same; as inputs, a study's worth of files would be
            # stat'ed on every scheduling pass this job waits (docs/DESIGN.md, "What a job costs").
            turns=[f for site in SITES for f in pseudonymised(site, "tsv", EN)],
            codes=CODEBOOK_CODES,
            themes=CODEBOOK_THEMES,
            waves=WAVE_IDS,
            transcript_waves=TRANSCRIPT_WAVES,
            rule=CFIR.get("rating", {}),
            coders=CFIR.get("coders", []),
        priority: PRIORITY["study"]
        log:
            "logs/cfir/ratings.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/cfir_ratings.py"

    rule cfir_change:
        input:
            ratings=rules.cfir_ratings.output.ratings,
        output:
            change=report(
                "results/cfir/change.tsv", caption="../report/cfir_change.rst", category="CFIR"
            ),
        params:
            waves=WAVE_IDS,
        priority: PRIORITY["study"]
        log:
            "logs/cfir/change.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/cfir_change.py"

    CFIR_DOMAINS = [t["id"] for t in CODEBOOK_THEMES] if len(WAVE_IDS) >= 2 else []

    rule cfir_figures:
        input:
            ratings=rules.cfir_ratings.output.ratings,
            sites=config["sites"],
        output:
            heatmap_png=report(
                "results/cfir/figures/heatmap.png",
                caption="../report/cfir_heatmap.rst",
                category="CFIR",
                subcategory="Figures",
            ),
            heatmap_svg="results/cfir/figures/heatmap.svg",
            domain_pngs=[
                report(
                    f"results/cfir/figures/before_after_{d}.png",
                    caption="../report/cfir_before_after.rst",
                    category="CFIR",
                    subcategory="Figures",
                )
                for d in CFIR_DOMAINS
            ],
            domain_svgs=[f"results/cfir/figures/before_after_{d}.svg" for d in CFIR_DOMAINS],
        params:
            waves=[dict(id=w.id, label=w.label) for w in STUDY.design.waves],
            domains=CODEBOOK_THEMES,
            codes=CODEBOOK_CODES,
            group=heatmap_group(STUDY.design, CFIR.get("group")),
        priority: PRIORITY["study"]
        log:
            "logs/cfir/figures.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/cfir_figures.py"

    rule cfir_findings:
        input:
            ratings=rules.cfir_ratings.output.ratings,
            sites=config["sites"],
        output:
            md=report(
                "results/cfir/findings.md", caption="../report/cfir_findings.rst", category="CFIR"
            ),
            tsv="results/cfir/findings.tsv",
        params:
            findings=CFIR.get("findings", []),
            waves=WAVE_IDS,
            site_groups=SITE_GROUPS,
            groups=GROUPS,
            codes=CODEBOOK_CODES,
            title=f"CFIR findings — {config.get('study', '')}",
        priority: PRIORITY["study"]
        log:
            "logs/cfir/findings.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/cfir_findings.py"
