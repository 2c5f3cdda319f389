"""Stage 10 adapter: CFIR ratings and rater agreement (qualflow.cfir_ratings)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.cfir_ratings import ratings_stage
from qualflow.runner import run

p = snakemake.params  # noqa: F821
run(lambda: ratings_stage(snakemake.input.codings, list(snakemake.params.turns),  # noqa: F821
                          snakemake.input.sites,  # noqa: F821
                          snakemake.input.consensus[0] if snakemake.input.consensus else None,  # noqa: F821
                          list(snakemake.input.raters), p.codes, p.themes, p.waves,  # noqa: F821
                          p.transcript_waves, p.rule, p.coders,
                          snakemake.output.ratings, snakemake.output.agreement),  # noqa: F821
    snakemake.log[0])  # noqa: F821
