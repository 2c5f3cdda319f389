"""Stage 8 adapter: theme matrix and quotes by theme (qualflow.themes)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.runner import run
from qualflow.themes import write_themes

run(lambda: write_themes(snakemake.input.codings, snakemake.input.themes, snakemake.input.sites,  # noqa: F821
                         snakemake.input.roster, list(snakemake.input.turns),  # noqa: F821
                         snakemake.params.quote_min_chars, snakemake.output.matrix,  # noqa: F821
                         snakemake.output.quotes, snakemake.params.design), snakemake.log[0])  # noqa: F821
