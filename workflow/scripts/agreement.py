"""Stage 6 adapter: intercoder agreement tables, ledger and methods paragraph (qualflow.agreement)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.agreement import agreement_stage
from qualflow.runner import run

i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
run(lambda: agreement_stage(i.codings, i.codebook, i.themes, i.coverage, i.sites, list(p.turns), p.n_boot,
                            p.seed, p.cluster, o.by_code, o.by_theme, o.disagreements, o.summary,
                            p.min_present, p.design),
    snakemake.log[0], settle=(snakemake.params.settle, snakemake.params.settled))  # noqa: F821
