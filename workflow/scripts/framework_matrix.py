"""Stage 8b adapter: the framework matrix as TSV, HTML and .xlsx (qualflow.framework)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.framework import framework_stage
from qualflow.runner import run

i, p, o = snakemake.input, snakemake.params, snakemake.output  # noqa: F821
run(lambda: framework_stage(i.codings, list(p.turns), i.sites, i.roster, p.codes, p.themes, p.categories,
                            p.waves, p.transcript_waves, p.groups, p.site_groups, p.roles, p.title,
                            o.tsv, o.html, o.xlsx, list(o.pages), coverage=i.coverage,
                            assignments=i.assignments[0] if i.assignments else None, count=p.count_mode),
    snakemake.log[0])  # noqa: F821
