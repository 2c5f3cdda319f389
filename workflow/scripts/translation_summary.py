"""Stage 4 adapter: translation flags summary and review page (qualflow.translation)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.runner import run
from qualflow.translation import summarise

run(lambda: summarise(snakemake.input.flags, snakemake.input.local, snakemake.input.en,  # noqa: F821
                      snakemake.input.stats, snakemake.input.sites,  # noqa: F821
                      snakemake.params.markers, snakemake.params.english,  # noqa: F821
                      snakemake.output.summary, snakemake.output.review, snakemake.params.title,  # noqa: F821
                      snakemake.input.pairs, snakemake.output.table), snakemake.log[0])  # noqa: F821
