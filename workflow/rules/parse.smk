# Stage 2 (parse): one job per site, one turn table per transcript file.
for _site in SITES:

    rule:
        name:
            f"parse_{_site}"
        input:
            sources=[s.path for s in sorted(STUDY.files(_site), key=lambda s: s.path)],
        output:
            turns=parsed(_site),
            index=parsed_index(_site),
        params:
            site=_site,
        log:
            f"logs/parse/{_site}.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/parse.py"
