"""Stage 7 adapter: Table 2 from the roster (qualflow.participants)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.participants import write_table2
from qualflow.runner import run

run(lambda: write_table2(snakemake.input.sites, snakemake.input.roster, snakemake.input.speakers,  # noqa: F821
                         snakemake.output, snakemake.params.design),  # noqa: F821
    snakemake.log[0])  # noqa: F821
