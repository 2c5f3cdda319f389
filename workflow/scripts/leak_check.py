"""Stage 9 adapter: the leak gate over every shareable output (qualflow.leaks)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.leaks import run_gate
from qualflow.runner import run

i, o = snakemake.input, snakemake.output  # noqa: F821
p = snakemake.params  # noqa: F821
run(lambda: run_gate(i.sites, i.roster, i.identifiers, list(i.files), o.hits, o.near, p.affixes, p.english,
                     i.decisions[0] if i.decisions else None, o.decisions), snakemake.log[0])  # noqa: F821
