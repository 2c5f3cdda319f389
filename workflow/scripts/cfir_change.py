"""Stage 10 adapter: change between waves from the CFIR ratings (qualflow.cfir_change)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.cfir_change import change_stage
from qualflow.runner import run

run(lambda: change_stage(snakemake.input.ratings, snakemake.params.waves,  # noqa: F821
                         snakemake.output.change), snakemake.log[0])  # noqa: F821
