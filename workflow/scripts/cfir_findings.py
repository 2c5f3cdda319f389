"""Stage 10 adapter: the config's findings checked on the CFIR ratings (qualflow.cfir_findings)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.cfir_findings import findings_stage
from qualflow.runner import run

p, o = snakemake.params, snakemake.output  # noqa: F821
run(lambda: findings_stage(snakemake.input.ratings, snakemake.input.sites, p.findings, p.waves,  # noqa: F821
                           p.site_groups, p.groups, p.codes, p.title, o.md, o.tsv),
    snakemake.log[0])  # noqa: F821
