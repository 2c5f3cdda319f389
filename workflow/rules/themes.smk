# Stage 8 (themes): theme x site x setting matrix and quotes (one job), then the two figures (one job).
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
        income_png=report("results/figures/themes_by_income.png", caption="../report/themes_by_income.rst",
                          category="Themes", subcategory="Figures"),
        income_svg="results/figures/themes_by_income.svg",
        site_png=report("results/figures/themes_by_site.png", caption="../report/themes_by_site.rst",
                        category="Themes", subcategory="Figures"),
        site_svg="results/figures/themes_by_site.svg",
    log:
        "logs/theme_figures.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/theme_figures.py"


ALL_OUTPUTS += rules.themes.output
ALL_OUTPUTS += rules.theme_figures.output
