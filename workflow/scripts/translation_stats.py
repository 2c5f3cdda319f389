"""Stage 4 adapter: the study's per-pair length statistics and the final flags (qualflow.translation)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.runner import run
from qualflow.translation import finalise_flags

run(lambda: finalise_flags(snakemake.input.flags, snakemake.input.lengths, snakemake.input.pairs,  # noqa: F821
                           snakemake.input.resolutions, snakemake.params.translation,  # noqa: F821
                           snakemake.params.english, snakemake.output.stats,  # noqa: F821
                           snakemake.output.flags), snakemake.log[0])  # noqa: F821
