"""Stage 4 adapter: flag one site's translations turn by turn, from its own files (qualflow.translation).

pairs.tsv names the two turn tables of each pair (changed: issue 14), which translation_summary reads
the review's text from.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.runner import run
from qualflow.translation import check_site

run(lambda: check_site(snakemake.input.local, snakemake.input.en, snakemake.params.languages,  # noqa: F821
                       snakemake.params.markers, snakemake.params.translation,  # noqa: F821
                       snakemake.params.english, snakemake.output.flags,  # noqa: F821
                       snakemake.output.lengths, snakemake.output.pairs), snakemake.log[0])  # noqa: F821
