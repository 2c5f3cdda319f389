"""Stage 4 adapter: per-language-pair length-ratio statistics across the study (qualflow.translation)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.runner import run
from qualflow.translation import write_pair_stats

run(lambda: write_pair_stats(snakemake.input.local, snakemake.input.en, snakemake.params.markers,  # noqa: F821
                             snakemake.params.translation, snakemake.params.english,  # noqa: F821
                             snakemake.output.stats), snakemake.log[0])  # noqa: F821
