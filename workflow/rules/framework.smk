# Stage 8b (framework_matrix), for every study: cases (site, or site x wave) x categories (themes, or
# constructs with `framework_matrix: categories: construct`), each cell its coded segments with
# attributions and valence, as a TSV, an .xlsx workbook, and HTML: an overview (counts and the first
# segment per cell) linking one self-contained page per case with every segment and filters.
from qualflow.codebook import load_codebook as _load_codebook
from qualflow.framework import case_pages as _case_pages

# checked at load already (common.smk's STUDY holds it; a job's partial check does not load it)
_BOOK = STUDY.codebook or _load_codebook(config.get("codebook", "config/codebook.yaml"))
#: The codebook as plain data for rule params: codes with their theme and parent, themes in order.
CODEBOOK_CODES = [
    dict(id=c.id, label=c.label, theme=c.theme, parent=c.parent, origin=c.origin) for c in _BOOK.codes
]
CODEBOOK_THEMES = [dict(id=t.id, label=t.label) for t in _BOOK.themes]
WAVE_IDS = [w["id"] for w in DESIGN["waves"]]
#: Each transcript's wave, the comparison groups and every site's value in each: the study design
#: that common.smk's DESIGN already holds (computed once at load).
TRANSCRIPT_WAVES = DESIGN["transcript_waves"]
GROUPS = DESIGN["groups"]
SITE_GROUPS = DESIGN["site_groups"]
FRAMEWORK_HTML = "results/framework/framework_matrix.html"
#: One page per case (site, or site x wave): the overview links them (issue 14: pages stay small).
FRAMEWORK_CASE_PAGES = list(_case_pages(FRAMEWORK_HTML, SITES, WAVE_IDS).values())


# It reads the codes stage's settled copies (common.smk, "Settled copies"): an edit of a turn no coding
# points at, with as many words, does not rebuild the matrix.
AFTER_CHECKPOINTS["framework_matrix"] = ["codes"]


rule framework_matrix:
    input:
        codings=after_checkpoints(AFTER_CHECKPOINTS["framework_matrix"], "results/codes/codings.tsv"),
        coverage=after_checkpoints(AFTER_CHECKPOINTS["framework_matrix"], "results/codes/coverage.tsv"),
        # what this job reads of the turn tables (params), for Snakemake's decision (codes.smk)
        turns_read=after_checkpoints(AFTER_CHECKPOINTS["framework_matrix"], TURNS_READ),
        assignments=[ASSIGNMENTS] if ASSIGNMENTS else [],
        sites=config["sites"],
        roster=config["roster"],
    output:
        tsv=report(
            "results/framework/framework_matrix.tsv",
            caption="../report/framework_matrix.rst",
            category="Framework matrix",
        ),
        html=report(
            FRAMEWORK_HTML,
            caption="../report/framework_matrix_html.rst",
            category="Framework matrix",
        ),
        pages=FRAMEWORK_CASE_PAGES,
        xlsx="results/framework/framework_matrix.xlsx",
    params:
        # The English turn tables, for the text this job quotes: named here, not inputs. The input
        # turns_read (written by `codes` from the codes_<site> parts, each of which reads its site's
        # tables) holds all this job reads of them, so a change it can see re-runs it; as inputs, a
        # study's worth of files would be stat'ed on every scheduling pass this job waits
        # (docs/DESIGN.md, "What a job costs" and "What re-runs").
        turns=[f for site in SITES for f in pseudonymised(site, "tsv", EN)],
        codes=CODEBOOK_CODES,
        themes=CODEBOOK_THEMES,
        categories=config.get("framework_matrix", {}).get("categories", "theme"),
        waves=[dict(id=w.id, label=w.label) for w in STUDY.design.waves],
        transcript_waves=TRANSCRIPT_WAVES,
        groups=GROUPS,
        site_groups=SITE_GROUPS,
        roles={r.id: r.short for r in STUDY.design.roles},
        title=f"Framework matrix — {config.get('study', '')}",
        count_mode=config.get("themes", {}).get("count", "primary"),
    priority: PRIORITY["study"]
    log:
        "logs/framework_matrix.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/framework_matrix.py"
