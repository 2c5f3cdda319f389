# Stage 8 (themes): theme x site x comparison group (x wave) matrix, the transcripts table (which
# transcripts count, and each one's counted coder), the summary and the quote pages (one job), then the
# figures (one job): one per declared group (config groups) and the heatmap by site.
# Inputs are the codes stage's codings, coverage and theme table (codebook order), the coding
# assignments (primary coders; optional), the sites table, the roster (for attributions) and every
# pseudonymised English turn table.
import yaml as _yaml

#: The codebook's theme ids, in order: one quote page per site and theme (results/themes/quotes/).
#: The codebook was checked at load; reading its theme list here is cheap, also in a cluster job.
with open(config.get("codebook", "config/codebook.yaml"), encoding="utf-8-sig") as _fh:
    THEME_IDS = [str(t["id"]) for t in (_yaml.safe_load(_fh) or {}).get("themes") or []]
THEMES_CFG = config.get("themes", {})
QUOTE_PAGES = [f"results/themes/quotes/{site}/{theme}.md" for site in SITES for theme in THEME_IDS]
THEMES_TABLES = ["results/themes/theme_matrix.tsv", "results/themes/transcripts.tsv",
                 "results/themes/summary.md", "results/themes/quotes/index.md"]


# A checkpoint (common.smk, "Settled copies"), and a reader of the codes stage's settled copies: an edit
# of a coded turn re-runs it for the quotes, but its matrix rarely changes, and then the figures and the
# report pages are not redrawn.
AFTER_CHECKPOINTS["themes"] = ["codes"]


checkpoint themes:
    input:
        codings=after_checkpoints(AFTER_CHECKPOINTS["themes"], "results/codes/codings.tsv"),
        coverage=after_checkpoints(AFTER_CHECKPOINTS["themes"], "results/codes/coverage.tsv"),
        themes=after_checkpoints(AFTER_CHECKPOINTS["themes"], "results/codes/themes.tsv"),
        # what this job reads of the turn tables (params), for Snakemake's decision (codes.smk)
        turns_read=after_checkpoints(AFTER_CHECKPOINTS["themes"], TURNS_READ),
        assignments=[ASSIGNMENTS] if ASSIGNMENTS else [],
        sites=config["sites"],
        roster=config["roster"],
    output:
        matrix=report("results/themes/theme_matrix.tsv", caption="../report/themes_matrix.rst", category="Themes"),
        transcripts=report("results/themes/transcripts.tsv", caption="../report/themes_transcripts.rst",
                           category="Themes"),
        summary=report("results/themes/summary.md", caption="../report/themes_summary.rst", category="Themes"),
        quotes=report("results/themes/quotes/index.md", caption="../report/themes_quotes.rst", category="Themes"),
        pages=QUOTE_PAGES,
    params:
        # The English turn tables, for the text this job quotes: named here, not inputs. The input
        # turns_read (written by `codes` from the codes_<site> parts, each of which reads its site's
        # tables) holds all this job reads of them, so a change it can see re-runs it; as inputs, a
        # study's worth of files would be stat'ed on every scheduling pass this job waits
        # (docs/DESIGN.md, "What a job costs" and "What re-runs").
        turns=[f for site in SITES for f in pseudonymised(site, "tsv", EN)],
        quote_min_chars=THEMES_CFG.get("quote_min_chars", 40),
        count_mode=THEMES_CFG.get("count", "primary"),
        design=DESIGN,
        **settling(QUOTE_PAGES + THEMES_TABLES),
    priority: PRIORITY["study"]
    log:
        "logs/themes.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/themes.py"


AFTER_CHECKPOINTS["theme_figures"] = ["codes", "themes"]


rule theme_figures:
    input:
        matrix=after_checkpoints(AFTER_CHECKPOINTS["theme_figures"], "results/themes/theme_matrix.tsv"),
    output:
        group_pngs=[
            report(f"results/figures/themes_by_{g['id']}.png", caption="../report/themes_by_group.rst",
                   category="Themes", subcategory="Figures")
            for g in DESIGN["groups"]
        ],
        group_svgs=[f"results/figures/themes_by_{g['id']}.svg" for g in DESIGN["groups"]],
        site_png=report("results/figures/themes_by_site.png", caption="../report/themes_by_site.rst",
                        category="Themes", subcategory="Figures"),
        site_svg="results/figures/themes_by_site.svg",
    params:
        design=DESIGN,
    priority: PRIORITY["study"]
    log:
        "logs/theme_figures.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/theme_figures.py"
