# Stage 8 (themes): theme x site x comparison group (x wave) matrix and quotes (one job), then the
# figures (one job): one per declared group (config groups) and the heatmap by site.
# Inputs are the codes stage's codings and theme table (codebook order), the sites table, the roster (for
# attributions) and every pseudonymised English turn table.
rule themes:
    input:
        codings="results/codes/codings.tsv",
        themes="results/codes/themes.tsv",
        sites=config["sites"],
        roster=config["roster"],
        turns=[f for site in SITES for f in pseudonymised(site, "tsv", EN)],
    output:
        matrix=report("results/themes/theme_matrix.tsv", caption="../report/themes_matrix.rst", category="Themes"),
        quotes=report("results/themes/quotes.md", caption="../report/themes_quotes.rst", category="Themes"),
    params:
        quote_min_chars=config.get("themes", {}).get("quote_min_chars", 40),
        design=DESIGN,
    log:
        "logs/themes.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/themes.py"


rule theme_figures:
    input:
        matrix=rules.themes.output.matrix,
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
    log:
        "logs/theme_figures.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/theme_figures.py"


ALL_OUTPUTS += rules.themes.output
ALL_OUTPUTS += rules.theme_figures.output
