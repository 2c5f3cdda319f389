"""Stage 6 adapter: intercoder agreement tables and methods paragraph (rule agreement), or the
disagreement ledger (rule agreement_ledger) (qualflow.agreement)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.agreement import agreement_stage
from qualflow.runner import run

i, p = snakemake.input, snakemake.params  # noqa: F821
o = dict(snakemake.output.items())  # noqa: F821
settle = (p.settle, p.settled) if hasattr(p, "settle") else None
run(lambda: agreement_stage(i.codings, i.codebook, i.themes, i.coverage, i.sites, list(p.turns), p.n_boot,
                            p.seed, p.cluster, o.get("by_code"), o.get("by_theme"), o.get("disagreements"),
                            o.get("summary"), p.min_present, p.design),
    snakemake.log[0], settle=settle)  # noqa: F821
